"""Partners commands and queries: partner companies, their API keys and signing secrets, and
users' links to them. Orders placed by partners are in flows.py, the outbox and its events
in outbox.py, delivery in delivery.py. Services never commit."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.kit import clock, tokens
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.partners import errors, webhooks
from gullak.partners.models import Partner, PartnerLink
from gullak.partners.schemas import (
    LinkOut,
    PartnerCreatedOut,
    PartnerIn,
    PartnerKeyOut,
    PartnerOut,
    PartnerUpdateIn,
    SigningSecretOut,
)
from gullak.settings import Settings

HOLDER_PREFIX = "gp_"
SECRET_PREFIX = "whsec_"
SEAL_CONTEXT = "partners.signing_secret"
ACTIVE = "partner.active"  # held by the subject of an active partner's key


def partner_id_of(subject: Subject) -> uuid.UUID | None:
    """The partner a subject acts for (its key's permission `partner:<id>`), if any."""
    for permission in subject.permissions:
        if permission.startswith("partner:"):
            return uuid.UUID(permission.removeprefix("partner:"))
    return None


async def get(session: AsyncSession, partner_id: uuid.UUID, *, lock: bool = False) -> Partner:
    partner = await session.get(Partner, partner_id, with_for_update=lock or None)
    if partner is None:
        raise errors.PartnerNotFound()
    return partner


def _new_key() -> tuple[str, str]:
    return f"{HOLDER_PREFIX}{secrets.token_hex(8)}", secrets.token_urlsafe(32)


def _seal(settings: Settings, secret: str) -> str:
    return identity.keyring(settings).seal(secret, context=SEAL_CONTEXT)


def signing_secrets(settings: Settings, partner: Partner) -> list[str]:
    """The secrets that sign now: the current one, and the previous one in its grace."""
    ring = identity.keyring(settings)
    found = [ring.open(partner.signing_secret, context=SEAL_CONTEXT)]
    if partner.previous_secret and partner.previous_secret_until and \
            partner.previous_secret_until > clock.now():
        found.append(ring.open(partner.previous_secret, context=SEAL_CONTEXT))
    return found


async def _check(settings: Settings, url: str | None, merchant_ids: list[uuid.UUID] | None,
                 events: list[str] | None) -> None:
    if url is not None:
        await webhooks.check_destination(url, settings.partners_webhook_allow_private)
    if events is not None and len(set(events)) != len(events):
        raise InvalidInput("An event type is listed twice.", field="events")
    if merchant_ids is not None and len(set(merchant_ids)) != len(merchant_ids):
        raise InvalidInput("A merchant is listed twice.", field="merchant_ids")


async def _flush_name(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise errors.PartnerNameTaken(field="name") from None


async def create(session: AsyncSession, settings: Settings, data: PartnerIn,
                 actor: Subject | None) -> PartnerCreatedOut:
    """A partner with a new API key and signing secret, both shown in this answer only."""
    events = [str(e) for e in data.events]
    await _check(settings, data.webhook_url, data.merchant_ids, events)
    holder, key = _new_key()
    secret = f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"
    partner = Partner(name=data.name, webhook_url=data.webhook_url, events=events,
                      merchant_ids=data.merchant_ids, key_holder=holder,
                      key_hash=tokens.digest(key), signing_secret=_seal(settings, secret),
                      created_by=actor.id if actor else None)
    session.add(partner)
    await _flush_name(session)
    await session.refresh(partner)
    return PartnerCreatedOut(**PartnerOut.model_validate(partner).model_dump(), api_key=key,
                             signing_secret=secret)


async def update(session: AsyncSession, settings: Settings, partner_id: uuid.UUID,
                 data: PartnerUpdateIn) -> tuple[PartnerOut, PartnerOut]:
    """(before, after). Suspending refuses the partner's key at once and pauses delivery."""
    partner = await get(session, partner_id, lock=True)
    before = PartnerOut.model_validate(partner)
    sent = data.model_fields_set
    if "webhook_url" in sent or "merchant_ids" in sent or "events" in sent:
        await _check(settings, data.webhook_url, data.merchant_ids,
                     [str(e) for e in data.events] if data.events is not None else None)
    for field in ("name", "status", "webhook_url", "merchant_ids"):
        if field in sent and (field in ("webhook_url", "merchant_ids")
                              or getattr(data, field) is not None):
            value = getattr(data, field)
            setattr(partner, field, str(value) if field == "status" else value)
    if data.events is not None:
        partner.events = [str(e) for e in data.events]
    partner.updated_at = clock.now()
    await _flush_name(session)
    await session.refresh(partner)
    return before, PartnerOut.model_validate(partner)


async def rotate_key(session: AsyncSession, partner_id: uuid.UUID) -> PartnerKeyOut:
    """A new key; the old one stops working at once."""
    partner = await get(session, partner_id, lock=True)
    holder, key = _new_key()
    partner.key_holder, partner.key_hash, partner.updated_at = holder, tokens.digest(key), \
        clock.now()
    await session.flush()
    return PartnerKeyOut(partner_id=partner.id, key_holder=holder, api_key=key)


async def rotate_secret(session: AsyncSession, settings: Settings,
                        partner_id: uuid.UUID) -> SigningSecretOut:
    """A new signing secret; the current one keeps signing too for the grace period, so the
    partner can switch its receiver without refusing a single delivery."""
    partner = await get(session, partner_id, lock=True)
    secret = f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"
    grace = dt.timedelta(hours=settings.partners_secret_grace_hours)
    partner.previous_secret = partner.signing_secret if grace else None
    partner.previous_secret_until = clock.now() + grace if grace else None
    partner.signing_secret = _seal(settings, secret)
    partner.updated_at = clock.now()
    await session.flush()
    return SigningSecretOut(partner_id=partner.id, signing_secret=secret,
                            previous_secret_until=partner.previous_secret_until)


async def list_partners(session: AsyncSession) -> list[PartnerOut]:
    rows = await session.scalars(select(Partner).order_by(Partner.name))
    return [PartnerOut.model_validate(p) for p in rows]


async def get_partner(session: AsyncSession, partner_id: uuid.UUID) -> PartnerOut:
    return PartnerOut.model_validate(await get(session, partner_id))


# -- authentication ---------------------------------------------------------------------------

async def authenticate(session: AsyncSession, holder: str, key: str) -> Subject | None:
    """The subject of a partner's key: kind service, permission `partner:<id>`, and
    `partner.active` unless the partner is suspended (its routes then answer 403)."""
    if not holder.startswith(HOLDER_PREFIX):
        return None
    presented = tokens.digest(key)
    row = (await session.execute(select(Partner.id, Partner.key_hash, Partner.status)
                                 .where(Partner.key_holder == holder))).first()
    # Compare even when there is no such holder, so timing does not tell holders apart.
    expected = row.key_hash if row is not None else tokens.digest("")
    if not hmac.compare_digest(expected, presented) or row is None:
        return None
    granted = {f"partner:{row.id}"} | ({ACTIVE} if row.status == "active" else set())
    return Subject("service", row.id, frozenset(granted))


# -- users' links -----------------------------------------------------------------------------

def _link_out(link: PartnerLink, partner: Partner) -> LinkOut:
    return LinkOut(id=link.id, partner_id=link.partner_id, partner_name=partner.name,
                   status=link.status, created_at=link.created_at, revoked_at=link.revoked_at)


async def link(session: AsyncSession, user_id: uuid.UUID,
               partner_id: uuid.UUID) -> tuple[LinkOut, bool]:
    """The user allows the partner to place orders paid from the user's coins and wallet.
    (link, whether it is new or renewed); linking again while linked changes nothing."""
    partner = await session.get(Partner, partner_id)
    if partner is None or partner.status != "active":
        raise errors.PartnerNotFound()
    row = await session.scalar(select(PartnerLink).where(
        PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id)
        .with_for_update())
    changed = row is None or row.status != "active"
    if row is None:
        row = PartnerLink(partner_id=partner_id, user_id=user_id, status="active",
                          created_at=clock.now())
        session.add(row)
    elif row.status != "active":
        row.status, row.revoked_at = "active", None
    await session.flush()
    return _link_out(row, partner), changed


async def unlink(session: AsyncSession, user_id: uuid.UUID, partner_id: uuid.UUID) -> None:
    """The user withdraws consent: the partner's new orders for this user are refused."""
    row = await session.scalar(select(PartnerLink).where(
        PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id,
        PartnerLink.status == "active").with_for_update())
    if row is None:
        raise errors.LinkNotFound()
    row.status, row.revoked_at = "revoked", clock.now()
    await session.flush()


async def my_links(session: AsyncSession, user_id: uuid.UUID) -> list[LinkOut]:
    rows = await session.execute(select(PartnerLink, Partner).join(
        Partner, Partner.id == PartnerLink.partner_id).where(PartnerLink.user_id == user_id)
        .order_by(PartnerLink.id.desc()))
    return [_link_out(link, partner) for link, partner in rows.all()]


async def active_link(session: AsyncSession, partner_id: uuid.UUID,
                      link_id: uuid.UUID) -> PartnerLink:
    """The partner's link, if the user still consents; refused the same way otherwise (an
    unknown id, another partner's link, a revoked one)."""
    row = await session.scalar(select(PartnerLink).where(
        PartnerLink.id == link_id, PartnerLink.partner_id == partner_id)
        .with_for_update(read=True))
    if row is None or row.status != "active":
        raise errors.UserNotLinked(field="link_id")
    return row
