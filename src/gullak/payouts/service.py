"""Payouts commands and queries, the domain's public face: methods, withdrawals and
disbursements live in their own modules and are re-exported here. Services never commit:
the caller's unit of work does; calls to providers are in flows.py, between units of work."""

from __future__ import annotations

from gullak.payouts.disbursements import (
    approved_unpaid,
    open_attempt,
    poll_result,
    process_event,
    receive_callback,
    record_result,
    waiting,
)
from gullak.payouts.methods import (
    add_method,
    get_method,
    list_channels,
    list_methods,
    method_out,
    owned,
    put_channel,
    record_verification,
    remove_method,
)
from gullak.payouts.withdrawals import (
    cancel,
    decide,
    edit,
    get_withdrawal,
    list_withdrawals,
    quote,
    request,
)

__all__ = [
    "add_method", "approved_unpaid", "cancel", "decide", "edit", "get_method",
    "get_withdrawal", "list_channels", "list_methods", "list_withdrawals", "method_out", "owned",
    "open_attempt", "poll_result", "process_event", "put_channel", "quote",
    "receive_callback", "record_result", "record_verification", "remove_method", "request",
    "waiting",
]
