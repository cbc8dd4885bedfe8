"""Demo data: an affiliate network in token mode, whose token is printed once when the demo
loads, and the way to send it a postback."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import service
from gullak.cashback.schemas import NetworkIn
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject

NETWORK = "demo-network"
TOKEN = "demo-postback-token-0001"
PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000c8"),
                   frozenset({"cashback.manage"}))


async def load(session: AsyncSession) -> None:
    await service.create_network(session, NetworkIn(
        code=NETWORK, name="Demo affiliate network", auth_mode="token", secret=TOKEN,
        status_map={"approved": "confirmed", "declined": "rejected", "pending": "pending",
                    "on_hold": "pending"}), PLATFORM)


DATA_SETS = (DataSet(
    "cashback", load, needs=("ledger",),
    notes=(f"Cashback   network {NETWORK}, token {TOKEN}: POST /v1/cashback/postbacks/"
           f"{NETWORK}?token={TOKEN} {{transaction_id, click_id, amount, status}}",)),)
