"""What every ledger service shares: input checks, request hashes, and running statements
either through SQLAlchemy or straight on the driver, with the database's refusals turned into
the ledger's errors."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import driver_rows
from gullak.ledger import errors
from gullak.ledger.schemas import MAX_AMOUNT, TransferIn

if TYPE_CHECKING:
    from gullak.kit.security import Subject

RESERVED_KINDS = frozenset({"reversal", "expire"})


def check_amount(amount: object, field: str = "amount") -> int:
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise errors.InvalidAmount(field=field)
    return amount


def validate(t: TransferIn, *, internal: bool = False) -> None:
    check_amount(t.amount)
    if t.debit_account_id == t.credit_account_id:
        raise errors.SameAccount(field="credit_account_id")
    if not internal and t.kind in RESERVED_KINDS:
        raise errors.ReservedKind(f"Use the ledger's own command for {t.kind}.", field="kind")


def request_hash(command: str, request: Any) -> str:
    payload = json.dumps([command, request], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def keyed(key: str | None, command: str, request: Any) -> tuple[str | None, str | None]:
    """The key and the hash of its request, as the command functions take them (0014)."""
    return (None, None) if key is None else (key, request_hash(command, request))


def actor_of(actor: Subject | None) -> tuple[str | None, Any]:
    return (None, None) if actor is None else (str(actor.kind), actor.id)


# -- statements ---------------------------------------------------------------------------

def _translated(exc: DBAPIError) -> Exception:
    """The domain error for a database refusal raised by the ledger's triggers and checks."""
    diag = getattr(exc.orig, "diag", None)
    message = getattr(diag, "message_primary", None) or str(exc.orig)
    known = errors.from_database(getattr(exc.orig, "sqlstate", None),
                                 getattr(diag, "constraint_name", None), message)
    return known or exc


async def run(session: AsyncSession, statement: Any, params: Any = None) -> Any:
    """A statement through SQLAlchemy, for the ledger's less travelled paths."""
    try:
        return await session.execute(statement, params)
    except DBAPIError as exc:
        raise _translated(exc) from exc


async def call(session: AsyncSession, query: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    """One row of a ledger function, called on the driver: SQLAlchemy's statement machinery
    costs more client CPU than the whole round trip (bench/README.md)."""
    found = await rows(session, query, params)
    assert found
    return found[0]


async def rows(session: AsyncSession, query: str, params: Any) -> list[tuple[Any, ...]]:
    """Every row of a hot statement (psycopg placeholders), run on the driver; a refusal of
    the ledger's triggers and checks as its domain error."""
    try:
        return await driver_rows(session, query, params)
    except DBAPIError as exc:
        raise _translated(exc) from exc
