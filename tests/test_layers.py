"""The layering, checked on every run from the imports in src/ (DESIGN §3):

- `kit` and `db` import no domain;
- a domain reaches another domain only through its `service` (and the `schemas` its service
  takes and returns, and the `errors` it raises), or its `flows`, the workflows that span
  units of work around an outside system (a payment's refund at its gateway); never its
  tables, router, jobs or demo data;
- only the ledger touches the ledger's tables, so balances are written by `gullak.ledger.service`
  alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from gullak.domains import DOMAINS

SRC = Path(__file__).resolve().parent.parent / "src" / "gullak"
DOMAIN_NAMES = {d.name for d in DOMAINS}
PUBLIC = {"service", "schemas", "errors", "flows"}
LEDGER_TABLES = re.compile(r"\bledger_(accounts|entries|transfers|holds|lots|assets|balances)\b")


def modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ".".join(("gullak", *path.relative_to(SRC).with_suffix("").parts))


def imported(path: Path) -> Iterator[str]:
    """Every module a file imports, as dotted names (`from a import b` gives `a.b`)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gullak" and parts[1] in DOMAIN_NAMES else None


def test_kit_and_db_import_no_domain() -> None:
    wrong = [(name, target) for path, name in modules()
             if name.split(".")[1] in ("kit", "db") for target in imported(path)
             if domain_of(target)]
    assert wrong == []


def test_domains_meet_only_through_services() -> None:
    wrong = []
    for path, name in modules():
        own = domain_of(name)
        if own is None:
            continue
        for target in imported(path):
            other = domain_of(target)
            if other is None or other == own:
                continue
            part = target.split(".")[2] if target.count(".") >= 2 else None
            if part not in PUBLIC:
                wrong.append((name, target))
    assert wrong == []


def test_only_the_ledger_touches_its_tables() -> None:
    wrong = [name for path, name in modules()
             if domain_of(name) not in ("ledger", None) and LEDGER_TABLES.search(path.read_text())]
    assert wrong == []


def test_the_checks_see_a_violation() -> None:
    # The checks above would pass on an empty tree: make sure they read real imports.
    catalog_seed = SRC / "catalog" / "seed.py"
    assert "gullak.merchants.service" in set(imported(catalog_seed))
    assert domain_of("gullak.merchants.models") == "merchants"
    assert LEDGER_TABLES.search("SELECT * FROM ledger_accounts")
