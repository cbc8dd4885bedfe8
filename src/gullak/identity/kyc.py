"""KYC: documents checked for format, numbers sealed and shown masked, reviewed by admins."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.common import keyring
from gullak.identity.models import KycRecord, User
from gullak.identity.schemas import KycIn, KycOut
from gullak.kit import clock
from gullak.kit.crypto import mask
from gullak.kit.errors import InvalidInput
from gullak.settings import Settings

_DOCUMENT_FORMATS = {
    "aadhaar": re.compile(r"^[2-9]\d{11}$"),
    "pan": re.compile(r"^[A-Z]{5}\d{4}[A-Z]$"),
    "passport": re.compile(r"^[A-Z]\d{7}$"),
    "driving_licence": re.compile(r"^[A-Z]{2}\d{2}[ -]?\d{11}$"),
    "voter_id": re.compile(r"^[A-Z]{3}\d{7}$"),
}
_PAN = _DOCUMENT_FORMATS["pan"]


async def submit_kyc(session: AsyncSession, settings: Settings, user_id: uuid.UUID,
                     data: KycIn) -> KycOut:
    number = data.document_number.replace(" ", "").upper()
    if not _DOCUMENT_FORMATS[data.document_type.value].match(number):
        raise InvalidInput(f"Not a valid {data.document_type.value} number.",
                           code="invalid_document_number", field="document_number")
    pan = data.pan.upper() if data.pan else None
    if pan is not None and not _PAN.match(pan):
        raise InvalidInput("Not a valid PAN.", code="invalid_pan", field="pan")
    if (data.bank_account is None) != (data.ifsc is None):
        raise InvalidInput("A bank account needs its IFSC, and an IFSC its account.",
                           code="invalid_bank_account", field="ifsc")
    pending = await session.scalar(select(KycRecord.id).where(
        KycRecord.user_id == user_id, KycRecord.status.in_(("pending", "verified"))))
    if pending is not None:
        raise errors.Taken("A KYC record is already pending or verified.", code="kyc_exists")
    ring = keyring(settings)
    record = KycRecord(
        user_id=user_id, document_type=data.document_type.value, name=data.name,
        document_number=ring.seal(number, context="kyc.document_number"),
        document_last4=number[-4:],
        pan=ring.seal(pan, context="kyc.pan") if pan else None,
        pan_last4=pan[-4:] if pan else None,
        bank_account=(ring.seal(data.bank_account, context="kyc.bank_account")
                      if data.bank_account else None),
        bank_account_last4=data.bank_account[-4:] if data.bank_account else None,
        ifsc=data.ifsc, upi_id=data.upi_id)
    session.add(record)
    await session.flush()
    await session.refresh(record)
    return kyc_out(record)


def kyc_out(record: KycRecord) -> KycOut:
    """Numbers are shown masked; only the last four characters are kept in clear."""
    return KycOut(
        id=record.id, user_id=record.user_id, document_type=record.document_type,
        name=record.name,
        document_number=mask("X" * 8 + record.document_last4),
        pan=mask("X" * 6 + record.pan_last4) if record.pan_last4 else None,
        bank_account=(mask("X" * 8 + record.bank_account_last4)
                      if record.bank_account_last4 else None),
        ifsc=record.ifsc, upi_id=record.upi_id, status=record.status, reason=record.reason,
        reviewed_at=record.reviewed_at, created_at=record.created_at)


async def my_kyc(session: AsyncSession, user_id: uuid.UUID) -> list[KycOut]:
    rows = await session.scalars(select(KycRecord).where(KycRecord.user_id == user_id)
                                 .order_by(KycRecord.created_at.desc()))
    return [kyc_out(r) for r in rows]


async def review_kyc(session: AsyncSession, record_id: uuid.UUID, reviewer: uuid.UUID,
                     verified: bool, reason: str | None) -> tuple[KycOut, KycOut]:
    """pending -> verified or rejected (with a reason); returns (before, after)."""
    record = await session.get(KycRecord, record_id, with_for_update=True)
    if record is None:
        raise errors.ItemNotFound("No such KYC record.")
    if record.status != "pending":
        raise errors.Taken(f"This record is already {record.status}.", code="kyc_reviewed")
    if not verified and not reason:
        raise InvalidInput("A rejection needs a reason.", field="reason")
    before = kyc_out(record)
    record.status = "verified" if verified else "rejected"
    record.reason, record.reviewed_by, record.reviewed_at = reason, reviewer, clock.now()
    await session.flush()
    return before, kyc_out(record)


async def list_kyc(session: AsyncSession, status: str | None, limit: int = 50) -> list[KycOut]:
    query = select(KycRecord).order_by(KycRecord.created_at).limit(limit)
    if status:
        query = query.where(KycRecord.status == status)
    return [kyc_out(r) for r in await session.scalars(query)]


@dataclass(frozen=True)
class KycState:
    """What payouts need to know of a user's KYC: whether it is verified, with a PAN, and
    the name to match bank account names against (the document's, else the profile's)."""

    verified: bool
    has_pan: bool
    name: str | None


async def kyc_state(session: AsyncSession, user_id: uuid.UUID) -> KycState:
    record = await session.scalar(select(KycRecord).where(
        KycRecord.user_id == user_id, KycRecord.status == "verified")
        .order_by(KycRecord.created_at.desc()).limit(1))
    profile = await session.scalar(select(User.name).where(User.id == user_id))
    if record is None:
        return KycState(False, False, profile)
    return KycState(True, record.pan_last4 is not None or record.document_type == "pan",
                    record.name or profile)
