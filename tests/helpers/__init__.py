"""What tests share: checks, clients and factories, one module per subject.

Fixtures stay in conftest files and call these. Tests import from here, never from a
conftest: a conftest is where pytest finds one folder's fixtures, and code imported from it
ties every other folder to that folder's layout."""
