"""Payouts jobs: an approved withdrawal is paid by one job, enqueued in the transaction that
approved it; each stored provider callback is processed by one job; and a periodic check asks
providers about attempts left waiting (and pays approved withdrawals whose job was lost)."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit.errors import GullakError
from gullak.payouts import flows, service, settlements
from gullak.settings import Settings, get_settings
from gullak.worker import queue, worker_db


@queue.task(name="payouts.disburse", retry=5)
async def disburse(withdrawal_id: str) -> str:
    """One attempt at a time: an attempt already live makes a second run pay nothing."""
    return await flows.disburse(worker_db(), get_settings(), uuid.UUID(withdrawal_id))


@queue.task(name="payouts.process_event", retry=5)
async def process_event(event_id: str) -> str:
    """Exactly once per event: the event row is locked and marked processed in the same
    transaction as what it changed."""
    async with unit_of_work(worker_db()) as session:
        return await service.process_event(session, uuid.UUID(event_id))


@queue.periodic(cron="*/5 * * * *", periodic_id="payouts_check_waiting")
@queue.task(name="payouts.check_waiting", queueing_lock="payouts.check_waiting")
async def check_waiting(timestamp: int) -> int:
    settings = get_settings()
    return await flows.check_waiting(worker_db(), settings, dt.timedelta(
        minutes=settings.payout_pending_minutes))


# -- merchant settlements ---------------------------------------------------------------------

settle_log = structlog.get_logger("gullak.payouts.settlements")


async def settle_due(db: Database, settings: Settings, today: dt.date) -> int:
    """The settlements the merchants' schedules want today, each merchant in a unit of work of
    its own, so that one merchant's failure leaves the others settled; how many ran. A second
    run the same day settles nothing again (a period is settled once, a line once)."""
    async with unit_of_work(db) as session:
        runs = await settlements.due_runs(session, today)
    done = 0
    for merchant_id, first, last in runs:
        try:
            async with unit_of_work(db) as session:
                await settlements.run_settlement(session, settings, merchant_id, first, last,
                                                 settlements.SETTLEMENT_ACTOR)
            done += 1
        except GullakError as exc:
            settle_log.warning("settlement_refused", merchant_id=str(merchant_id),
                               period_start=str(first), code=exc.code, detail=exc.detail)
        except Exception:  # one merchant's failure must not hold up the others' money
            settle_log.exception("settlement_failed", merchant_id=str(merchant_id),
                                 period_start=str(first))
    return done


@queue.periodic(cron="0 2 * * *", periodic_id="payouts_settle")
@queue.task(name="payouts.settle", queueing_lock="payouts.settle")
async def settle(timestamp: int) -> int:
    """Daily at 02:00 UTC: each live merchant's period that closed, by its settlement
    frequency (daily: yesterday; weekly and biweekly on Mondays; monthly on the 1st);
    unpaid settlements are asked for again."""
    today = dt.datetime.fromtimestamp(timestamp, dt.UTC).date()
    return await settle_due(worker_db(), get_settings(), today)
