"""Alembic, driven from code: the CLI, `gullak run`, `/ready` and the tests call these."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from gullak.db.engine import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"
# Tables that another library owns and creates through our migrations (the job queue).
FOREIGN_PREFIXES = ("procrastinate_",)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate compares only our own tables."""
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_PREFIXES))


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is an INI file underneath: '%' must be doubled.
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    command.downgrade(config(url), revision)


def heads() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS)).get_heads())


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current(url: str) -> set[str]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


SQL = Path(__file__).resolve().parent / "migrations" / "sql"


def function_of(file: str, name: str) -> str:
    """A SQL function as an earlier migration's file defines it, to put back on downgrade:
    applied migrations do not change, so their text is the previous definition."""
    found = re.search(rf"^CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?^END \$\$;",
                      (SQL / file).read_text(), re.DOTALL | re.MULTILINE)
    assert found is not None, f"{name} not found in {file}"
    return re.sub(r"^CREATE (?:OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION",
                  found.group(0), count=1)
