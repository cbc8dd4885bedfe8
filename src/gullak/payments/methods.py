"""Payment methods checkout offers: listed in their order, turned on and off by admins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.payments import errors
from gullak.payments.models import PaymentMethod
from gullak.payments.schemas import MethodOut, MethodPatch


async def list_methods(session: AsyncSession, *, enabled_only: bool = True) -> list[MethodOut]:
    query = select(PaymentMethod).order_by(PaymentMethod.position, PaymentMethod.code)
    if enabled_only:
        query = query.where(PaymentMethod.enabled)
    return [MethodOut.model_validate(m) for m in await session.scalars(query)]


async def change_method(session: AsyncSession, code: str,
                        data: MethodPatch) -> tuple[MethodOut, MethodOut]:
    """The method before and after the change (for the audit log)."""
    method = await session.get(PaymentMethod, code, with_for_update=True)
    if method is None:
        raise errors.MethodNotFound(field="code")
    before = MethodOut.model_validate(method)
    for name, value in data.model_dump(exclude_none=True).items():
        setattr(method, name, value)
    method.updated_at = clock.now()
    await session.flush()
    return before, MethodOut.model_validate(method)
