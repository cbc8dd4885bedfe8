"""Merchant users: a merchant's staff, their roles and permissions, and their sign-in."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import service as identity
from gullak.identity.schemas import DeviceIn, TokensOut
from gullak.kit import audit, clock
from gullak.kit.passwords import check_policy, hash_password
from gullak.kit.security import Subject
from gullak.merchants import errors
from gullak.merchants.common import as_json, merchant_row
from gullak.merchants.models import Merchant, MerchantUser
from gullak.merchants.schemas import MerchantUserIn, MerchantUserOut, Role
from gullak.settings import Settings

# What each merchant role may do; every merchant user also holds `merchant:<id>`.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "staff": frozenset({"merchant.read", "merchant.reviews.respond",
                        "merchant.redemptions.manage", "merchant.orders.read",
                        "merchant.orders.fulfil"}),
}
ROLE_PERMISSIONS["manager"] = ROLE_PERMISSIONS["staff"] | {
    "merchant.orders.refund", "merchant.profile.manage", "merchant.outlets.manage", "merchant.documents.manage",
    "merchant.offers.manage", "merchant.catalog.manage"}
ROLE_PERMISSIONS["owner"] = ROLE_PERMISSIONS["manager"] | {
    "merchant.users.manage", "merchant.bank.manage"}
# While the back office has a merchant suspended, its staff still read the portal and hand
# over the orders already paid for, and change nothing else: no refunds, offers, products,
# staff or bank accounts (where its settlements would go).
SUSPENDED_PERMISSIONS = frozenset({"merchant.read", "merchant.orders.read",
                                   "merchant.orders.fulfil"})


def merchant_of(subject: Subject) -> uuid.UUID | None:
    """The merchant a merchant user acts for (from its `merchant:<uuid>` permission)."""
    if subject.kind != "merchant_user":
        return None
    for permission in subject.permissions:
        if permission.startswith("merchant:"):
            try:
                return uuid.UUID(permission.removeprefix("merchant:"))
            except ValueError:
                return None
    return None


async def merchant_user_permissions(session: AsyncSession,
                                    merchant_user_id: uuid.UUID) -> set[str] | None:
    """The permissions of an active merchant user (None if it cannot act): its merchant as
    `merchant:<id>`, its role as `merchant.role:<role>`, and what the role allows (of a
    suspended merchant, what `SUSPENDED_PERMISSIONS` leaves of it)."""
    row = (await session.execute(
        select(MerchantUser.merchant_id, MerchantUser.role, Merchant.status)
        .join(Merchant, Merchant.id == MerchantUser.merchant_id)
        .where(MerchantUser.id == merchant_user_id, MerchantUser.status == "active"))).first()
    if row is None:
        return None
    merchant_id, role, status = row
    allowed = ROLE_PERMISSIONS[role]
    if status == "suspended":
        allowed = allowed & SUSPENDED_PERMISSIONS
    return {f"merchant:{merchant_id}", f"merchant.role:{role}", *allowed}


def user_out(user: MerchantUser) -> MerchantUserOut:
    return MerchantUserOut.model_validate(user)


async def create_merchant_user(session: AsyncSession, merchant_id: uuid.UUID,
                               data: MerchantUserIn, actor: Subject | None) -> MerchantUserOut:
    email = identity.normalize_email(str(data.email))
    check_policy(data.password, logins=(email,))
    await merchant_row(session, merchant_id)
    taken = await session.scalar(select(MerchantUser.id).where(
        func.lower(MerchantUser.email) == email.lower()))
    if taken is not None:
        raise errors.EmailTaken(field="email")
    user = MerchantUser(merchant_id=merchant_id, email=email, name=data.name.strip(),
                        role=data.role.value, password_hash=hash_password(data.password))
    session.add(user)
    await session.flush()
    await session.refresh(user)
    out = user_out(user)
    await audit.record(session, actor, "merchant_user.create", "merchant_user", str(user.id),
                       after=as_json(out))
    return out


async def list_merchant_users(session: AsyncSession,
                              merchant_id: uuid.UUID) -> list[MerchantUserOut]:
    await merchant_row(session, merchant_id)
    rows = await session.scalars(select(MerchantUser).where(
        MerchantUser.merchant_id == merchant_id).order_by(MerchantUser.id))
    return [user_out(u) for u in rows]


async def get_merchant_user(session: AsyncSession, user_id: uuid.UUID) -> MerchantUserOut:
    user = await session.get(MerchantUser, user_id)
    if user is None:
        raise errors.MerchantUserNotFound()
    return user_out(user)


async def update_merchant_user(session: AsyncSession, merchant_id: uuid.UUID,
                               user_id: uuid.UUID, *, role: Role | None, status: str | None,
                               actor: Subject | None) -> MerchantUserOut:
    """Change a user's role or status; a merchant keeps at least one active owner, and a
    disabled user's sessions end."""
    await merchant_row(session, merchant_id, lock=True)  # one change of owners at a time
    user = await session.get(MerchantUser, user_id, with_for_update=True)
    if user is None or user.merchant_id != merchant_id:
        raise errors.MerchantUserNotFound()
    before = user_out(user)
    new_role = role.value if role else user.role
    new_status = status or user.status
    if user.role == "owner" and user.status == "active" and (
            new_role != "owner" or new_status != "active"):
        owners = await session.scalar(select(func.count()).where(
            MerchantUser.merchant_id == merchant_id, MerchantUser.role == "owner",
            MerchantUser.status == "active"))
        if (owners or 0) <= 1:
            raise errors.LastOwner()
    user.role, user.status = new_role, new_status
    if new_status != "active" and before.status == "active":
        await identity.revoke_all(session, "merchant_user", user_id, reason="disabled")
    await session.flush()
    await session.refresh(user)
    after = user_out(user)
    await audit.record(session, actor, "merchant_user.update", "merchant_user", str(user_id),
                       before=as_json(before), after=as_json(after))
    return after


async def merchant_login(session: AsyncSession, settings: Settings, email: str, password: str,
                         device: DeviceIn, client: identity.Client) -> TokensOut:
    """Email and password; one vague refusal for any mistake, and attempts are throttled."""

    async def find(key: str) -> MerchantUser | None:
        return await session.scalar(select(MerchantUser).where(
            func.lower(MerchantUser.email) == key))

    def confirm(user: MerchantUser) -> None:
        if user.status != "active":
            raise errors.LoginFailed("This account is disabled.", keep_changes=False)

    user = await identity.sign_in(session, "merchant_user", email, password, client, find,
                                  errors.LoginFailed, confirm)
    user.last_login_at = clock.now()
    return await identity.start_session(session, settings, "merchant_user", user.id, device,
                                        client)
