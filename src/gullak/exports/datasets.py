"""The datasets an export can hold: each is a domain's stream of a period's rows (the domain's
own service reads its tables) and the columns, with their types, that the files carry. The
column names are part of the warehouse's contract: add columns at the end, never rename."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.analytics import service as analytics
from gullak.cashback import service as cashback
from gullak.ledger import service as ledger
from gullak.orders import service as orders
from gullak.payouts import service as payouts

# uuid and text are strings in a file; time is UTC, microseconds; int is 64-bit.
Kind = Literal["uuid", "text", "int", "bool", "time", "date"]
Rows = Callable[[AsyncSession, dt.datetime, dt.datetime], AsyncIterator[dict[str, Any]]]


@dataclass(frozen=True)
class Dataset:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    rows: Rows
    description: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _cols(spec: str) -> tuple[tuple[str, Kind], ...]:
    """`"id:uuid amount:int ..."` as (name, kind) pairs: a dataset's columns on a few lines."""
    pairs = (item.split(":") for item in spec.split())
    return tuple((name, kind) for name, kind in pairs)  # type: ignore[misc]


TRANSFERS = Dataset("transfers", _cols("""
    id:uuid seq:int transaction_id:uuid asset_code:text amount:int kind:text
    debit_account_id:uuid debit_owner_type:text debit_owner_id:uuid
    credit_account_id:uuid credit_owner_type:text credit_owner_id:uuid
    reference_type:text reference_id:text reverses_id:uuid hold_id:uuid
    actor_type:text actor_id:uuid created_at:time"""), ledger.stream_transfers,
    "Ledger transfers posted in the period, in posting order, with each side's owner")

ORDERS = Dataset("orders", _cols("""
    id:uuid number:text user_id:uuid merchant_id:uuid outlet_id:uuid kind:text status:text
    fulfilment:text currency:text subtotal:int discount:int delivery_fee:int tax:int
    total:int refunded:int coupon_code:text offer_id:uuid redemption_id:uuid
    created_at:time updated_at:time"""), orders.stream_orders,
    "Orders created in the period, with their current status and amounts")

CASHBACKS = Dataset("cashbacks", _cols("""
    id:uuid network_id:uuid transaction_id:text click_id:uuid user_id:uuid offer_id:uuid
    merchant_id:uuid currency:text order_amount:int commission:int amount:int credited:int
    revision:int status:text network_status:text reason:text confirmed_at:time
    rejected_at:time settled_at:time created_at:time updated_at:time"""),
    cashback.stream_cashbacks,
    "Cashbacks reported in the period, with their current status and amounts")

WITHDRAWALS = Dataset("withdrawals", _cols("""
    id:uuid code:text owner_type:text owner_id:uuid purpose:text kind:text asset_code:text
    amount:int fee:int tax:int net:int method_id:uuid status:text round:int
    auto_approved:bool reason:text reference_type:text reference_id:text paid_at:time
    resolved_at:time created_at:time updated_at:time"""), payouts.stream_withdrawals,
    "Withdrawals and settlement payouts requested in the period, with their current status")



def _summaries(kind: str) -> Rows:
    """The analytics domain's daily summaries of `kind`: its days run through `until`, ours
    stop before it."""

    def rows(session: AsyncSession, since: dt.datetime,
             until: dt.datetime) -> AsyncIterator[dict[str, Any]]:
        last = (until - dt.timedelta(microseconds=1)).date()
        return analytics.stream_summaries(session, kind, since.date(), last)

    return rows


COUNTS = "events:int views:int clicks:int redemptions:int"
SUMMARIES = (
    Dataset("user_summaries", _cols(f"""
        user_id:uuid day:date {COUNTS} sessions:int searches:int orders:int spent:int
        paid:int rewards:int cashback:int withdrawn:int steps:int first_at:time last_at:time
        computed_at:time"""), _summaries("user"),
        "Each user's daily summary (analytics), by day then user"),
    Dataset("merchant_summaries", _cols(f"""
        merchant_id:uuid day:date {COUNTS} visitors:int orders:int gmv:int reviews:int
        computed_at:time"""), _summaries("merchant"),
        "Each merchant's daily summary (analytics), by day then merchant"),
    Dataset("offer_summaries", _cols(f"""
        offer_id:uuid day:date merchant_id:uuid {COUNTS} viewers:int clickers:int
        redeemers:int computed_at:time"""), _summaries("offer"),
        "Each offer's daily funnel (analytics), by day then offer"),
    Dataset("platform_summaries", _cols("""
        day:date events:int active_users:int sign_ups:int coins_issued:int coins_spent:int
        coins_expired:int cashback_pending:int cashback_confirmed:int orders:int gmv:int
        refunds:int withdrawals:int withdrawn:int steps:int computed_at:time"""),
        _summaries("platform"), "The platform's daily summary (analytics), by day"),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (TRANSFERS, ORDERS, CASHBACKS, WITHDRAWALS,
                                                    *SUMMARIES)}
