"""Database: engine, unit of work, embedded server, base model and migrations."""
