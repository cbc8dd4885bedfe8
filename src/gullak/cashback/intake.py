"""What networks send: postbacks (verified, stored as received, applied) and report files (each
line stored and applied on its own, with a report row for each). Every report a network
proved it sent is kept in `cashback_events`, the refused ones (a decimal amount, an unknown
status word) included, with what came of it."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import conversions, errors, networks
from gullak.cashback.conversions import Refused
from gullak.cashback.models import Event, Network
from gullak.cashback.schemas import CashbackStatus, PostbackOut, ReportOut, ReportRowOut
from gullak.kit import audit, clock
from gullak.kit.errors import GullakError
from gullak.kit.ids import uuid7
from gullak.kit.schemas import read_json
from gullak.kit.security import Subject

MAX_ROWS = 10_000
COLUMNS = set(conversions.FIELDS)


async def store(session: AsyncSession, network: Network, source: str, raw: bytes,
                fields: dict[str, Any], outcome: str, *, reason: str | None = None,
                transaction_id: str | None = None, said: str | None = None,
                cashback_id: uuid.UUID | None = None) -> None:
    await session.execute(insert(Event).values(
        id=uuid7(), network_id=network.id, source=source, raw=raw,
        fields=conversions.clean(fields), transaction_id=transaction_id, network_status=said,
        outcome=outcome, reason=reason, cashback_id=cashback_id, received_at=clock.now()))


def _fields(network: Network, query: Sequence[tuple[str, str]],
            body: bytes) -> tuple[dict[str, Any], bytes, Refused | None]:
    """The postback's fields (query parameters, then a JSON object body over them), what is
    stored as received (the body, or the query without the token), and why it is unreadable."""
    params = {k: v for k, v in query if k != network.token_param}
    raw = body or urlencode(list(params.items())).encode()
    if not body:
        return dict(params), raw, None
    try:
        parsed = read_json(body, parse_constant=lambda _: None)
    except ValueError:
        return dict(params), raw, Refused("malformed_body")
    if not isinstance(parsed, dict):
        return dict(params), raw, Refused("malformed_body")
    return {**params, **parsed}, raw, None


async def receive_postback(session: AsyncSession, code: str, headers: Mapping[str, str],
                           query: Sequence[tuple[str, str]], body: bytes) -> PostbackOut:
    """Verify, store, apply. A refused postback is kept with its reason and answered 422."""
    network = await networks.verify(session, code, headers, dict(query), body)
    fields, raw, unreadable = _fields(network, query, body)
    try:
        if unreadable is not None:
            raise unreadable
        report = conversions.read(network, fields)
    except Refused as exc:
        await store(session, network, "postback", raw, fields, "invalid", reason=exc.reason)
        raise errors.InvalidPostback(f"The postback cannot be applied ({exc.reason}).",
                                     field=exc.field, reason=exc.reason) from None
    applied = await conversions.apply(session, network, report)
    await store(session, network, "postback", raw, fields, applied.outcome,
                reason=applied.reason, transaction_id=report.transaction_id, said=report.said,
                cashback_id=applied.cashback.id)
    return PostbackOut(outcome=applied.outcome,  # type: ignore[arg-type]
                       reason=applied.reason, cashback_id=applied.cashback.id,
                       status=CashbackStatus(applied.cashback.status))


# -- report files -----------------------------------------------------------------------------

def _rows(body: bytes) -> list[tuple[dict[str, str], bytes]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.InvalidReport("The file is not UTF-8 text.") from exc
    if "\x00" in text:
        raise errors.InvalidReport("The file holds NUL characters.")
    reader = csv.reader(io.StringIO(text))
    try:
        lines = list(reader)
    except csv.Error as exc:
        raise errors.InvalidReport("The file is not valid CSV.") from exc
    if not lines:
        raise errors.InvalidReport("The file is empty.")
    header = [h.strip().lower() for h in lines[0]]
    missing = {"transaction_id", "amount", "status"} - set(header)
    if missing:
        raise errors.InvalidReport(f"Missing columns: {', '.join(sorted(missing))}.")
    unknown = set(header) - COLUMNS
    if unknown:
        raise errors.InvalidReport(f"Unknown columns: {', '.join(sorted(unknown))}.")
    rows = lines[1:]
    if not rows:
        raise errors.InvalidReport("The file has no rows.")
    if len(rows) > MAX_ROWS:
        raise errors.InvalidReport(f"At most {MAX_ROWS} rows per report.")
    out = []
    for line in rows:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(line)
        out.append(({h: (v or "").strip() for h, v in zip(header, line)},
                    buffer.getvalue().encode("utf-8", "replace")))
    return out


async def import_report(session: AsyncSession, code: str, body: bytes,
                        actor: Subject | None) -> ReportOut:
    """A network's report file, each line applied as a postback would be, each in its own
    savepoint: a line the ledger refuses is reported and the others go on."""
    network = await networks.by_code(session, code)
    report: list[ReportRowOut] = []
    for line, (fields, raw) in enumerate(_rows(body), start=2):
        try:
            found = conversions.read(network, dict(fields), own_names=True)
        except Refused as exc:
            await store(session, network, "report", raw, dict(fields), "invalid",
                        reason=exc.reason)
            report.append(ReportRowOut(row=line, outcome="invalid", reason=exc.reason,
                                       field=exc.field,
                                       transaction_id=fields.get("transaction_id") or None))
            continue
        try:
            async with session.begin_nested():
                applied = await conversions.apply(session, network, found)
        except (GullakError, IntegrityError) as exc:
            reason = exc.code if isinstance(exc, GullakError) else "conflict"
            await store(session, network, "report", raw, dict(fields), "invalid",
                        reason=reason, transaction_id=found.transaction_id, said=found.said)
            report.append(ReportRowOut(row=line, outcome="invalid", reason=reason,
                                       transaction_id=found.transaction_id))
            continue
        await store(session, network, "report", raw, dict(fields), applied.outcome,
                    reason=applied.reason, transaction_id=found.transaction_id,
                    said=found.said, cashback_id=applied.cashback.id)
        report.append(ReportRowOut(row=line, outcome=applied.outcome,  # type: ignore[arg-type]
                                   reason=applied.reason, transaction_id=found.transaction_id,
                                   cashback_id=applied.cashback.id))
    counts: Counter[str] = Counter(r.outcome for r in report)
    await audit.record(session, actor, "cashback_report.import", "cashback_network",
                       str(network.id), after=dict(counts))
    return ReportOut(network=network.code, counts=dict(counts), rows=report)
