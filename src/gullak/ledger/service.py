"""Ledger commands and queries, the domain's public face: assets and accounts, transfers,
holds and reads live in their own modules and are re-exported here. Services never commit:
the caller's unit of work does.

A ledger command that fails leaves the caller's transaction aborted (it is a database error
underneath); a caller that wants to carry on after a refusal wraps the call in
`session.begin_nested()`.
"""

from __future__ import annotations

from gullak.ledger.accounts import (
    PLATFORM_SHARDS,
    create_asset,
    freeze,
    get_account,
    get_asset,
    list_assets,
    open_account,
    platform_account,
    set_limits,
    unfreeze,
    user_account,
    user_accounts,
)
from gullak.ledger.common import RESERVED_KINDS, check_amount, request_hash, validate
from gullak.ledger.holds import capture, expire_holds, get_hold, place_hold, release
from gullak.ledger.posting import Poster
from gullak.ledger.queries import (
    EXPIRING_SOON,
    balance,
    balance_at,
    find_account,
    history,
    holdings,
)
from gullak.ledger.transfers import expire_lots, get_transfer, post, reverse, transfer

__all__ = [
    "EXPIRING_SOON", "PLATFORM_SHARDS", "Poster", "RESERVED_KINDS",
    "balance", "balance_at", "capture", "check_amount", "create_asset", "expire_holds",
    "expire_lots", "find_account", "freeze", "get_account", "get_asset", "get_hold",
    "get_transfer", "history", "holdings", "list_assets", "open_account", "place_hold",
    "platform_account", "post", "release", "request_hash", "reverse", "set_limits", "transfer",
    "unfreeze", "user_account", "user_accounts", "validate",
]
