"""Merchants jobs: bank account verification, after the account's creation committed, and a
periodic retry of verifications the provider left pending."""

from __future__ import annotations

import datetime as dt
import uuid

from gullak.db.uow import unit_of_work
from gullak.merchants import banking, errors, service
from gullak.settings import get_settings
from gullak.worker import queue, worker_db

RETRY_AFTER = dt.timedelta(minutes=10)


@queue.task(name="merchants.verify_bank_account", retry=5, pass_context=False)
async def verify_bank_account(account_id: str) -> str | None:
    """Retried with backoff when the provider is unavailable (the error propagates)."""
    out = await service.verify_bank_account(worker_db(), get_settings(), uuid.UUID(account_id),
                                            banking.configured())
    return out.status if out else None


@queue.periodic(cron="*/15 * * * *", periodic_id="retry_bank_verifications")
@queue.task(name="merchants.retry_bank_verifications",
            queueing_lock="merchants.retry_bank_verifications")
async def retry_bank_verifications(timestamp: int) -> int:
    async with unit_of_work(worker_db()) as session:
        pending = await service.pending_bank_accounts(session, older_than=RETRY_AFTER)
    verifier = banking.configured()
    for account_id in pending:
        try:
            await service.verify_bank_account(worker_db(), get_settings(), account_id, verifier)
        except errors.BankVerificationUnavailable:
            break  # the provider is down: the next run tries again
    return len(pending)
