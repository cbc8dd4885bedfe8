"""What the offers' service modules share."""

from __future__ import annotations

import uuid
from typing import Any

from gullak.kit.errors import Forbidden
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.offers import errors

UNIVERSAL_ASSET = "REZ"  # the coins every merchant's offers are unlocked with and earn


def merchant_scope(subject: Subject, permission: str | None = None) -> uuid.UUID:
    """The merchant a merchant user acts for, if it holds `permission`."""
    merchant_id = merchants.merchant_of(subject)
    if merchant_id is None:
        raise errors.NotMerchantUser()
    if permission is not None and not subject.can(permission):
        raise Forbidden(f"Needs the permission {permission}.", permission=permission)
    return merchant_id


def as_json(value: Any) -> Any:
    return value.model_dump(mode="json") if value is not None else None


def parse_cursor(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError as exc:
        raise errors.InvalidTerms("Malformed cursor.", code="invalid_cursor",
                                  field="cursor") from exc
