"""Orders background work: the sweep of unpaid orders, and gateway refunds, which call the
provider outside any transaction after the refund they belong to has committed."""

from __future__ import annotations

import uuid

from gullak.orders import flows
from gullak.worker import drain, queue, worker_db

BATCH = 100


@queue.periodic(cron="* * * * *", periodic_id="orders_expire_unpaid")
@queue.task(name="orders.expire_unpaid", queueing_lock="orders.expire_unpaid")
async def expire_unpaid(timestamp: int) -> int:
    """Every minute: orders past `GULLAK_ORDERS_UNPAID_MINUTES` unpaid are cancelled."""
    return await drain(flows.expire_unpaid, BATCH)


@queue.task(name="orders.refund_gateway", retry=5)
async def refund_gateway(payment_id: str, amount: int, key: str) -> None:
    # The key makes a retried job one refund at the provider.
    await flows.refund_gateway(worker_db(), uuid.UUID(payment_id), amount, key)
