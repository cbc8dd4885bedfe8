"""What the platform's events notify users of. Each runs in the publisher's unit of work;
`key`s make an event delivered twice notify once."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from procrastinate.tasks import Task
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import events
from gullak.kit.events import Event
from gullak.ledger import service as ledger
from gullak.notifications.service import notify

EXPIRY_WARNING = dt.timedelta(days=7)
PER_JOB = 500  # one job argument stays a small document
# The fields of each line a job of notifications carries (`_enqueue_lines`); the last may hold
# spaces.
UNLOCK_FIELDS = ("user_id", "id", "code")
CASHBACK_FIELDS = ("cashback_id", "user_id", "amount", "currency")


def money(amount: int, asset: str) -> str:
    """Minor units as people read them: rupees with paise, coins as a count."""
    if asset == "INR":
        sign = "-" if amount < 0 else ""
        return f"{sign}₹{abs(amount) // 100:,}.{abs(amount) % 100:02d}"
    return f"{amount:,} {asset}"


def _words(code: str) -> str:
    return code.replace("_", " ").replace("-", " ")


def _user(data: dict[str, Any], name: str = "user_id") -> uuid.UUID | None:
    value = data.get(name)
    return uuid.UUID(str(value)) if value else None


async def user_signed_in(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id = _user(data)
    if user_id is None or not data.get("new_device"):
        return
    place = data.get("city") or (f"IP {data['ip']}" if data.get("ip") else "an unknown place")
    await notify(session, user_id, "security.new_sign_in", {"place": place})


async def reward_confirmed(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id, amount = _user(data), int(data.get("amount") or 0)
    if user_id is None or amount <= 0:
        return
    await notify(session, user_id, "rewards.coins_earned",
                 {"amount": money(amount, str(data["asset_code"]))},
                 key=f"reward.confirmed:{data['reward_id']}")


async def cashbacks_confirmed(session: AsyncSession, found: list[Event]) -> None:
    """A bulk confirmation's chunk: its messages are sent by a job, later, so that settling
    thousands does not wait on a notification each (five to seven statements, most of the
    settling when they ran here)."""
    from gullak.notifications import jobs  # jobs import this module

    await _enqueue_lines(session, jobs.cashbacks, [
        (e.data["cashback_id"], e.data["user_id"], int(e.data["amount"]),
         e.data.get("currency") or "INR")
        for e in found
        if _user(dict(e.data)) is not None and int(e.data.get("amount") or 0) > 0])


def unpack_cashbacks(packed: str) -> list[dict[str, Any]]:
    return [{**c, "amount": int(c["amount"])} for c in _unpack(packed, CASHBACK_FIELDS)]


async def notify_cashbacks(session: AsyncSession, confirmed: list[dict[str, Any]]) -> int:
    """One notification per confirmed cashback, each once (keyed by the cashback): a retried
    job sends nothing twice. Returns how many have their notification, made now or before."""
    sent = 0
    for item in confirmed:
        sent += await _cashback(session, uuid.UUID(str(item["user_id"])), item) is not None
    return sent


async def _cashback(session: AsyncSession, user_id: uuid.UUID,
                    data: dict[str, Any]) -> uuid.UUID | None:
    return await notify(session, user_id, "cashback.confirmed",
                        {"amount": money(int(data["amount"]), str(data.get("currency") or "INR"))},
                        key=f"cashback.confirmed:{data['cashback_id']}")


@events.many(cashbacks_confirmed)
async def cashback_confirmed(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id, amount = _user(data), int(data.get("amount") or 0)
    if user_id is None or amount <= 0:
        return
    await _cashback(session, user_id, data)


# The user's own moves (placing, paying, cancelling) need no message; these do.
ORDER_NEWS = {"confirmed", "ready", "shipped", "delivered", "cancelled"}


async def order_status_changed(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id, status = _user(data), str(data.get("to_status"))
    if user_id is None or status not in ORDER_NEWS or data.get("actor_type") == "user":
        return
    await notify(session, user_id, "orders.status_changed",
                 {"number": data.get("number"), "status": _words(status)},
                 key=f"order:{data['order_id']}:{status}")


async def order_refunded(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id, amount = _user(data), int(data.get("amount") or 0)
    if user_id is None or amount <= 0:
        return
    await notify(session, user_id, "orders.refunded",
                 {"amount": money(amount, str(data.get("currency") or "INR"))})


async def _withdrawal(session: AsyncSession, event: Event, template: str) -> None:
    data = dict(event.data)
    if data.get("owner_type") != "user":
        return  # merchants' settlements: merchant users are not notified through here
    user_id = _user(data, "owner_id")
    if user_id is None:
        return
    await notify(session, user_id, template, {
        "code": data.get("code"), "amount": money(int(data["amount"]), str(data["asset_code"]))})


async def withdrawal_paid(session: AsyncSession, event: Event) -> None:
    await _withdrawal(session, event, "payouts.withdrawal_paid")


async def withdrawal_failed(session: AsyncSession, event: Event) -> None:
    await _withdrawal(session, event, "payouts.withdrawal_failed")


async def withdrawal_reversed(session: AsyncSession, event: Event) -> None:
    await _withdrawal(session, event, "payouts.withdrawal_reversed")


async def tier_changed(session: AsyncSession, event: Event) -> None:
    data = dict(event.data)
    user_id = _user(data)
    if user_id is None or not data.get("to_tier"):
        return
    await notify(session, user_id, "loyalty.tier_changed",
                 {"tier": _words(str(data["to_tier"])).title()})


async def achievements_unlocked(session: AsyncSession, found: list[Event]) -> None:
    """A daily conversion's batch: its unlocks are notified by a job, later, so that the
    conversion does not wait on a notification per unlock (a few ms each, most of a day's
    conversion when they ran here)."""
    from gullak.notifications import jobs  # jobs import this module

    await _enqueue_lines(session, jobs.achievements, [
        (e.data["user_id"], e.data["user_achievement_id"], e.data["achievement_code"])
        for e in found if _user(dict(e.data)) is not None])


def unpack_unlocks(packed: str) -> list[dict[str, str]]:
    return _unpack(packed, UNLOCK_FIELDS)


async def _enqueue_lines(session: AsyncSession, task: Task[Any, Any, Any],
                         rows: list[tuple[object, ...]]) -> None:
    """Rows for `task`, PER_JOB a job, as lines of fields split by spaces (`_unpack`), not as
    JSON objects: a job's arguments reach PostgreSQL inside a composite in an array, and
    quoting their every quote there cost the client 21 ms for 500 unlocks as objects, 0.6 ms
    as lines (bench/README.md, "The daily conversion")."""
    from gullak.worker import enqueue

    lines = [" ".join(map(str, row)) for row in rows]
    for start in range(0, len(lines), PER_JOB):
        await enqueue(session, task, packed="\n".join(lines[start:start + PER_JOB]))


def _unpack(packed: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    return [dict(zip(fields, line.split(" ", len(fields) - 1), strict=True))
            for line in packed.split("\n") if line]


async def notify_achievements(session: AsyncSession, unlocks: list[dict[str, str]]) -> int:
    """One notification per unlock, each once (keyed by the unlock): a retried job sends
    nothing twice. Returns how many unlocks have their notification, made now or before."""
    sent = 0
    for unlock in unlocks:
        found = await notify(session, uuid.UUID(unlock["user_id"]),
                             "loyalty.achievement_unlocked",
                             {"achievement": _words(unlock["code"]).title()},
                             key=f"achievement:{unlock['id']}")
        sent += found is not None
    return sent


@events.many(achievements_unlocked)
async def achievement_unlocked(session: AsyncSession, event: Event) -> None:
    await achievements_unlocked(session, [event])


async def coins_expiring(session: AsyncSession, today: dt.date) -> int:
    """Warn each user of coins expiring within a week, once per user, asset and day."""
    since = dt.datetime.combine(today, dt.time(), dt.UTC)
    done = 0
    for user_id, asset, amount, first in await ledger.lots_expiring(
            session, since, since + EXPIRY_WARNING):
        sent = await notify(session, user_id, "rewards.coins_expiring",
                            {"amount": money(amount, asset), "date": first.date().isoformat()},
                            key=f"coins.expiring:{asset}:{today.isoformat()}")
        done += sent is not None
    return done
