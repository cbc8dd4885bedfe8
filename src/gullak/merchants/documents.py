"""Merchant documents (GSTIN, PAN, licences) and their review, which onboarding waits on."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.errors import InvalidInput
from gullak.kit.security import Subject
from gullak.merchants import errors, rules
from gullak.merchants.common import as_json, merchant_row
from gullak.merchants.models import Document
from gullak.merchants.schemas import DocumentIn, DocumentOut

DOCUMENT_TYPES = frozenset({"gstin", "pan", "fssai", "shop_license", "cancelled_cheque",
                            "incorporation", "address_proof", "other"})


def document_out(document: Document) -> DocumentOut:
    return DocumentOut.model_validate(document)


async def add_document(session: AsyncSession, merchant_id: uuid.UUID, data: DocumentIn,
                       actor: Subject | None) -> DocumentOut:
    kind = data.document_type.strip().lower()
    if kind not in DOCUMENT_TYPES:
        raise InvalidInput(f"Document types: {', '.join(sorted(DOCUMENT_TYPES))}.",
                           code="invalid_document_type", field="document_type")
    number = data.number.strip() if data.number else None
    checks = {"gstin": rules.normalize_gstin, "pan": rules.normalize_pan,
              "fssai": rules.normalize_fssai}
    if kind in checks:
        if not number:
            raise InvalidInput("This document needs its number.", field="number")
        try:
            number = checks[kind](number)
        except InvalidInput as exc:
            exc.field = "number"
            raise
    await merchant_row(session, merchant_id)
    document = Document(merchant_id=merchant_id, document_type=kind, number=number,
                        file_url=data.file_url.strip())
    session.add(document)
    await session.flush()
    await session.refresh(document)
    out = document_out(document)
    await audit.record(session, actor, "merchant_document.create", "merchant_document",
                       str(document.id), after=as_json(out))
    return out


async def list_documents(session: AsyncSession, merchant_id: uuid.UUID) -> list[DocumentOut]:
    await merchant_row(session, merchant_id)
    rows = await session.scalars(select(Document).where(Document.merchant_id == merchant_id)
                                 .order_by(Document.id))
    return [document_out(d) for d in rows]


async def review_document(session: AsyncSession, merchant_id: uuid.UUID,
                          document_id: uuid.UUID, verified: bool, reason: str | None,
                          actor: Subject | None) -> DocumentOut:
    """pending -> verified, or rejected with a reason."""
    document = await session.get(Document, document_id, with_for_update=True)
    if document is None or document.merchant_id != merchant_id:
        raise errors.DocumentNotFound()
    if document.status != "pending":
        raise errors.AlreadyReviewed(f"This document is already {document.status}.")
    reason = reason.strip() if reason else None
    if not verified and not reason:
        raise InvalidInput("A rejection needs a reason.", code="reason_required",
                           field="reason")
    before = document_out(document)
    document.status = "verified" if verified else "rejected"
    document.reason = reason
    document.reviewed_by = actor.id if actor else None
    document.reviewed_at = clock.now()
    await session.flush()
    await session.refresh(document)
    after = document_out(document)
    await audit.record(session, actor, f"merchant_document.{document.status}",
                       "merchant_document", str(document_id), before=as_json(before),
                       after=as_json(after))
    return after


async def has_documents(session: AsyncSession, merchant_id: uuid.UUID) -> bool:
    found = await session.scalar(select(Document.id).where(
        Document.merchant_id == merchant_id, Document.status != "rejected").limit(1))
    return found is not None


async def check_documents_verified(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    rows = (await session.execute(select(Document.status, func.count()).where(
        Document.merchant_id == merchant_id).group_by(Document.status))).all()
    counts = {status: int(n) for status, n in rows}
    if counts.get("pending"):
        raise errors.IllegalTransition("Review every pending document first.",
                                       code="documents_pending")
    if not counts.get("verified"):
        raise errors.IllegalTransition("No document of this merchant is verified.",
                                       code="documents_missing")
