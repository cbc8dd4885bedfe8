"""The query cookbook (docs/queries.md) read as data: its parameter block and, per query id, an
API call and an SQL statement, with what the demo data should give for each."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"

FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
PSQL_VARIABLE = re.compile(r":'(\w+)'")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Block:
    lang: str
    attrs: dict[str, str]
    body: str

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")

    @property
    def some_rows(self) -> bool:
        """The block says the demo data gives at least one row."""
        return self.attrs.get("rows") == "1+"


@dataclass
class Query:
    id: str
    http: list[Block] = field(default_factory=list)
    sql: list[Block] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        lang = words[0] if words else ""
        attrs = {}
        for word in words[1:]:
            key, _, value = word.partition("=")
            attrs[key] = value
        found.append(Block(lang, attrs, match["body"]))
    return found


def queries(found: list[Block]) -> dict[str, Query]:
    out: dict[str, Query] = {}
    for block in found:
        if block.lang in ("http", "sql") and block.id:
            query = out.setdefault(block.id, Query(block.id))
            (query.http if block.lang == "http" else query.sql).append(block)
    return out


def params_statements(found: list[Block]) -> list[str]:
    """The SELECTs of the `sql params` block, one per psql `\\gset`."""
    [block] = [b for b in found if b.lang == "sql" and "params" in b.attrs]
    parts = [p.strip() for p in block.body.split("\\gset")]
    return [p for p in parts if p]


def bindable(sql: str) -> str:
    """psql's `:'name'` as a bind parameter `:name` (both send the value as an untyped
    literal, so the server casts it the same way)."""
    return PSQL_VARIABLE.sub(r":\1", sql)


def variables(sql: str) -> set[str]:
    return set(PSQL_VARIABLE.findall(sql))


def http_call(block: Block, params: dict[str, str]) -> tuple[str, str]:
    """The block's one line `METHOD /path`, its placeholders filled."""
    lines = [line for line in block.body.splitlines() if line.strip()]
    assert len(lines) == 1, f"{block.id}: an API block is one line, not {lines}"
    method, _, path = lines[0].partition(" ")
    return method, PLACEHOLDER.sub(lambda m: params[m[1]], path.strip())
