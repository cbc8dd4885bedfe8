"""The suite's own layout: shared code lives in tests/helpers, never in a conftest (see
tests/helpers/__init__.py)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CONFTEST_IMPORT = re.compile(r"^\s*(from\s+[\w.]*conftest\s+import|import\s+[\w.]*conftest)\b",
                             re.MULTILINE)


def test_no_module_imports_a_conftest() -> None:
    offenders = [f"{path.relative_to(TESTS)}: {match.group(0).strip()}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for match in CONFTEST_IMPORT.finditer(path.read_text())]
    assert not offenders, "import from tests/helpers instead:\n" + "\n".join(offenders)


def test_the_check_sees_both_forms() -> None:
    assert CONFTEST_IMPORT.search("from tests.identity.conftest import sign_in")
    assert CONFTEST_IMPORT.search("import conftest")
    assert not CONFTEST_IMPORT.search("from tests.helpers.users import sign_in")
