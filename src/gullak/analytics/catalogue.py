"""The event catalogue: every event name the platform records, who may send it, and the
properties it may carry with their types. A client's event outside it is refused, item by
item, with a stable code; the server's events are written by the domain event handlers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

# Property types: what a JSON value must be to pass.
STRING, INTEGER, NUMBER, BOOLEAN, UUID = "string", "integer", "number", "boolean", "uuid"
MAX_STRING = 500
MAX_INTEGER = 2**53  # what every JSON client carries exactly
# PostgreSQL's jsonb refuses NUL; UTF-8 has no lone surrogates; controls corrupt exports.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


@dataclass(frozen=True)
class EventType:
    name: str
    source: str  # "client": sent by apps to POST /v1/events; "server": written by handlers
    description: str
    properties: dict[str, str] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


def _client(name: str, description: str, required: tuple[str, ...] = (),
            **properties: str) -> EventType:
    return EventType(name, "client", description, properties, frozenset(required))


def _server(name: str, description: str, **properties: str) -> EventType:
    return EventType(name, "server", description, properties)


_OFFER = {"offer_id": UUID, "merchant_id": UUID, "source": STRING, "position": INTEGER}

CATALOGUE: dict[str, EventType] = {e.name: e for e in (
    _client("app.opened", "The app came to the foreground: a session of use",
            screen=STRING, app_version=STRING, platform=STRING, city=STRING),
    _client("screen.viewed", "A screen was shown", ("screen",), screen=STRING,
            referrer=STRING),
    _client("search.performed", "A search was run", ("query",), query=STRING,
            results=INTEGER, category=STRING),
    _client("offer.viewed", "An offer's details were shown", ("offer_id",), **_OFFER),
    _client("offer.clicked", "An offer was clicked through", ("offer_id",), **_OFFER),
    _client("offer.shared", "An offer was shared", ("offer_id",), channel=STRING,
            **_OFFER),
    _client("merchant.viewed", "A merchant's page was shown", ("merchant_id",),
            merchant_id=UUID, source=STRING),
    _client("product.viewed", "A product's page was shown", ("product_id",),
            product_id=UUID, merchant_id=UUID, price=INTEGER, source=STRING),
    _client("cart.item_added", "A product was put in the cart", ("product_id",),
            product_id=UUID, merchant_id=UUID, quantity=INTEGER, price=INTEGER),
    _client("notification.opened", "A notification was opened", (),
            notification_id=STRING, campaign=STRING),
    _client("referral.shared", "The referral code was shared", (), channel=STRING),
    _client("wallet.viewed", "The wallet was shown", ()),
    _server("user.signed_up", "A user signed up", channel=STRING, device_id=STRING,
            referred=BOOLEAN),
    _server("user.signed_in", "A user signed in", device_id=STRING, new_device=BOOLEAN,
            city=STRING),
    _server("order.status_changed", "An order moved to another status",
            order_id=UUID, merchant_id=UUID, from_status=STRING, to_status=STRING,
            total=INTEGER, currency=STRING),
    _server("payment.succeeded", "A gateway payment succeeded", payment_id=UUID,
            purpose=STRING, amount=INTEGER, currency=STRING),
    _server("cashback.confirmed", "A cashback was confirmed", cashback_id=UUID,
            amount=INTEGER, currency=STRING),
    _server("reward.confirmed", "A reward was confirmed", reward_id=UUID,
            asset_code=STRING, amount=INTEGER),
    _server("withdrawal.paid", "A withdrawal was paid out", withdrawal_id=UUID,
            asset_code=STRING, amount=INTEGER, net=INTEGER),
    _server("achievement.unlocked", "An achievement was unlocked",
            achievement_code=STRING),
    _server("activity.steps_verified", "A day's steps were verified", day=STRING,
            steps=INTEGER, coins=INTEGER),
    _server("loyalty.tier_changed", "A user's tier changed", from_tier=STRING,
            to_tier=STRING),
    _server("review.written", "A review of a merchant was written", review_id=UUID,
            merchant_id=UUID, rating=INTEGER),
    _server("offer.redeemed", "An offer was redeemed", offer_id=UUID, merchant_id=UUID,
            redemption_id=UUID),
)}


class Refusal(Exception):
    """One event of a batch refused: its stable code, why, and the field at fault."""

    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.field = code, detail, field


def fits(kind: str, value: Any) -> bool:
    if kind == STRING:
        return (isinstance(value, str) and len(value) <= MAX_STRING
                and _BAD_TEXT.search(value) is None)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == INTEGER:
        return (isinstance(value, int) and not isinstance(value, bool)
                and -MAX_INTEGER <= value <= MAX_INTEGER)
    if kind == NUMBER:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and abs(value) <= MAX_INTEGER)
    if kind == UUID:
        if not isinstance(value, str) or len(value) > 36:
            return False
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    return False


def check_client(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A client's event's properties as stored (nulls left out, UUIDs in their canonical
    form), or the refusal of the event. Properties must be the catalogue entry's own, of their
    types (null stands for absent), with the required ones."""
    found = CATALOGUE.get(name)
    if found is None or found.source != "client":
        raise Refusal("unknown_event", f"No client event is named {name[:80]!r}.", "name")
    kept: dict[str, Any] = {}
    for key, value in properties.items():
        kind = found.properties.get(key)
        if kind is None:
            raise Refusal("unknown_property", f"{name} has no property {key[:80]!r}.",
                          f"properties.{key[:80]}")
        if value is None:
            continue
        if not fits(kind, value):
            raise Refusal("invalid_property", f"{key} must be a {kind}.", f"properties.{key}")
        kept[key] = str(uuid.UUID(value)) if kind == UUID else value
    for key in sorted(found.required):
        if key not in kept:
            raise Refusal("missing_property", f"{name} needs the property {key}.",
                          f"properties.{key}")
    return kept


def uuid_or_none(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
