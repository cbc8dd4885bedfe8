"""Bulk issues from a CSV file, with a report row for every line.

Columns: `amount` (INR paise, required), and optionally `code` and `pin` (a partner's own
cards: required when the batch names a partner) and `validity_days`. Each line is checked and
issued on its own, in a savepoint: a bad line is refused with its reason (a duplicate in the
file, a code that exists already, an amount out of range...) and the good ones are issued.
Generated codes and PINs are in this answer, once; nowhere else shows them in clear.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import common, errors
from gullak.giftcards.issuing import funding_account, issue
from gullak.giftcards.models import GiftCard, GiftCardBatch
from gullak.giftcards.schemas import BatchOut, BatchRowOut
from gullak.kit import audit, clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.schemas import BIGINT
from gullak.kit.security import Subject

MAX_ROWS = 10_000
MAX_VALIDITY_DAYS = 3650
_PIN = re.compile(r"^[0-9]{4,12}$")


class Refused(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _rows(body: bytes) -> list[dict[str, str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.InvalidBatch("The file is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip().lower() for f in reader.fieldnames or []]
    except csv.Error as exc:  # the header line is as unreadable as any other can be
        raise errors.InvalidBatch("The file is not valid CSV.") from exc
    if "amount" not in fields:
        raise errors.InvalidBatch("The file needs a header line with an `amount` column.")
    unknown = set(fields) - {"amount", "code", "pin", "validity_days"}
    if unknown:
        raise errors.InvalidBatch(f"Unknown columns: {', '.join(sorted(unknown))}.")
    reader.fieldnames = fields
    try:
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None}
                for row in reader]
    except csv.Error as exc:
        raise errors.InvalidBatch("The file is not valid CSV.") from exc
    if not rows:
        raise errors.InvalidBatch("The file has no rows.")
    if len(rows) > MAX_ROWS:
        raise errors.InvalidBatch(f"At most {MAX_ROWS} rows per batch.")
    return rows


def _whole(value: str, field: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,19}", value):
        raise Refused("not_a_whole_number", field)
    number = int(value)
    if not low <= number <= high:
        raise Refused("out_of_range", field)
    return number


def _parse(row: dict[str, str], partner: str | None,
           validity_days: int) -> tuple[int, int, str | None, str | None]:
    amount = _whole(row.get("amount", ""), "amount", 1, BIGINT)
    days = _whole(row["validity_days"], "validity_days", 1, MAX_VALIDITY_DAYS) \
        if row.get("validity_days") else validity_days
    code = common.normalise(row.get("code", "")) or None
    pin = row.get("pin") or None
    if partner is not None and code is None:
        raise Refused("code_required", "code")
    if code is not None and not common.valid_code(code):
        raise Refused("invalid_code", "code")
    if pin is not None and not _PIN.match(pin):
        raise Refused("invalid_pin", "pin")
    return amount, days, code, pin


async def import_batch(session: AsyncSession, body: bytes, actor: Subject, *, name: str,
                       partner: str | None = None, validity_days: int = 365) -> BatchOut:
    rows = _rows(body)
    now = clock.now()
    batch = GiftCardBatch(id=uuid7(), name=name, source="partner" if partner else "admin",
                          partner=partner, created_by=actor.id, issued=0, refused=0,
                          errors=[], created_at=now)
    session.add(batch)
    await session.flush()
    funding = await funding_account(session)
    report: list[BatchRowOut] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        try:
            amount, days, code, pin = _parse(row, partner, validity_days)
            if code is not None:
                digest = common.code_hash(code)
                if digest in seen:
                    raise Refused("duplicate_in_file", "code")
                seen.add(digest)
                if await session.scalar(select(GiftCard.id).where(
                        GiftCard.code_hash == digest)) is not None:
                    raise Refused("code_exists", "code")
            async with session.begin_nested():
                card, clear_code, clear_pin = await issue(
                    session, amount=amount, expires_at=now + dt.timedelta(days=days),
                    funding_account_id=funding, source=batch.source, code=code, pin=pin,
                    batch_id=batch.id)
        except Refused as exc:
            report.append(BatchRowOut(row=line, status="refused", reason=exc.reason,
                                      field=exc.field))
            continue
        except GullakError as exc:  # the ledger's refusal of this row
            report.append(BatchRowOut(row=line, status="refused", reason=exc.code))
            continue
        except IntegrityError:  # the same code issued meanwhile by another batch
            report.append(BatchRowOut(row=line, status="refused", reason="code_exists",
                                      field="code"))
            continue
        generated = code is None
        report.append(BatchRowOut(
            row=line, status="issued", card_id=card.id, amount=amount,
            code=clear_code if generated else card.code_hint,
            pin=clear_pin if generated or pin is None else None))
    refused = [r for r in report if r.status == "refused"]
    batch.issued, batch.refused = len(report) - len(refused), len(refused)
    batch.errors = [r.model_dump(include={"row", "reason", "field"}) for r in refused]
    await audit.record(session, actor, "gift_card_batch.create", "gift_card_batch",
                       str(batch.id), after={"name": name, "partner": partner,
                                             "issued": batch.issued, "refused": batch.refused})
    return BatchOut(id=batch.id, name=name, source=batch.source, partner=partner,
                    issued=batch.issued, refused=batch.refused, rows=report, created_at=now)
