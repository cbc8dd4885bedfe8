"""What the gift card services share: codes and PINs (made with `secrets`, sealed, found by a
keyed hash), the card's ledger account and balance, and the shapes cards are shown in.

The keys come from the process's settings (`GULLAK_SECRET_KEY` for the lookup hash,
`GULLAK_ENCRYPTION_KEY` for sealing), read here rather than passed in: a card is issued from
an order's payment event and checked from an HTTP request, and both must use the same keys.
Changing the secret key makes every code unfindable, as it signs every token out.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.giftcards import errors
from gullak.giftcards.models import GiftCard
from gullak.giftcards.schemas import CardStatus, GiftCardOut, MyGiftCardOut
from gullak.kit.crypto import Keyring, mask
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AccountIn, BalanceOut, OwnerType
from gullak.settings import Settings, get_settings

REFERENCE = "gift_card"
INR = "INR"
FUNDING = "gift_card_funding"  # platform account that funds cards issued in bulk
BREAKAGE = "breakage"
# No 0/O, 1/I/L: codes are read off paper and typed on phones.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
PIN_LENGTH = 6
_CODE = re.compile(r"^[A-Z0-9]{6,40}$")


@dataclass(frozen=True)
class Rules:
    pin_attempts: int
    lock: dt.timedelta
    checks_per_hour: int
    claims_per_hour: int

    @classmethod
    def of(cls, s: Settings) -> Rules:
        return cls(s.giftcards_pin_attempts, dt.timedelta(minutes=s.giftcards_lock_minutes),
                   s.giftcards_checks_per_hour, s.giftcards_claims_per_hour)


def rules() -> Rules:
    return Rules.of(get_settings())


def normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def valid_code(code: str) -> bool:
    return bool(_CODE.match(code))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_LENGTH):0{PIN_LENGTH}d}"


def _key() -> bytes:
    return get_settings().secret("secret_key").encode()


def code_hash(code: str) -> str:
    # Keyed: a leaked table cannot be matched against guessed codes without the key.
    return hmac.new(_key(), f"gift_card:{normalise(code)}".encode(), "sha256").hexdigest()


def pin_hash(card_id: uuid.UUID, pin: str) -> str:
    return hmac.new(_key(), f"gift_card_pin:{card_id}:{pin}".encode(), "sha256").hexdigest()


def pin_matches(card: GiftCard, pin: str) -> bool:
    return hmac.compare_digest(card.pin_hash, pin_hash(card.id, pin))


def keyring() -> Keyring:
    # Older keys may follow the current one, comma-separated, while values are re-sealed.
    return Keyring([k for k in get_settings().secret("encryption_key").split(",") if k])


def seal_code(code: str) -> str:
    return keyring().seal(code, context="gift_cards.code")


def seal_pin(pin: str) -> str:
    return keyring().seal(pin, context="gift_cards.pin")


def opened(card: GiftCard) -> tuple[str, str]:
    ring = keyring()
    return (ring.open(card.code_sealed, context="gift_cards.code"),
            ring.open(card.pin_sealed, context="gift_cards.pin"))


def hint(code: str) -> str:
    return mask(normalise(code))


async def open_account(session: AsyncSession, card_id: uuid.UUID) -> uuid.UUID:
    account = await ledger.open_account(session, AccountIn(
        asset_code=INR, owner_type=OwnerType.gift_card, owner_id=card_id))
    return account.id


async def balance(session: AsyncSession, card: GiftCard) -> BalanceOut:
    return await ledger.balance(session, card.account_id)


async def by_code(session: AsyncSession, code: str) -> GiftCard | None:
    """The card with this code, its row locked for the rest of the unit: every move of one
    card (a hold, a claim, the expiry sweep, a void) queues here."""
    return await session.scalar(select(GiftCard).where(GiftCard.code_hash == code_hash(code))
                                .with_for_update().execution_options(populate_existing=True))


async def locked(session: AsyncSession, card_id: uuid.UUID) -> GiftCard:
    card = await session.get(GiftCard, card_id, with_for_update=True, populate_existing=True)
    if card is None:
        raise errors.GiftCardNotFound()
    return card


async def admin_out(session: AsyncSession, card: GiftCard) -> GiftCardOut:
    await session.flush()
    b = await balance(session, card)
    return GiftCardOut(
        id=card.id, code=card.code_hint, status=CardStatus(card.status), source=card.source,
        face_value=card.face_value, balance=b.posted, held=b.held, asset_code=card.asset_code,
        account_id=card.account_id, merchant_id=card.merchant_id, owner_id=card.owner_id,
        order_id=card.order_id, batch_id=card.batch_id, design_id=card.design_id,
        expires_at=card.expires_at, failed_attempts=card.failed_attempts,
        locked_until=card.locked_until, claimed_at=card.claimed_at, closed_at=card.closed_at,
        closed_reason=card.closed_reason, created_at=card.created_at)


async def my_out(session: AsyncSession, card: GiftCard) -> MyGiftCardOut:
    """A bought card still to be given away, or one a withdrawal issued, shows in clear to
    its owner; any other masked."""
    await session.flush()
    b = await balance(session, card)
    code, pin = card.code_hint, None
    if card.source in ("order", "withdrawal") and card.status == "active":
        code, pin = opened(card)
    return MyGiftCardOut(
        id=card.id, code=code, pin=pin, status=CardStatus(card.status),
        face_value=card.face_value, balance=b.available, asset_code=card.asset_code,
        merchant_id=card.merchant_id, order_id=card.order_id, expires_at=card.expires_at,
        created_at=card.created_at)
