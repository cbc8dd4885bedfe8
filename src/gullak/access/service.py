"""Access commands and queries: admins, roles, API keys, the audit log, settings and flags."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import errors
from gullak.access.models import (
    AdminDepartment,
    AdminRole,
    AdminUser,
    ApiKey,
    AppSetting,
    AuditEntry,
    Department,
    FeatureFlag,
    Permission,
    Role,
    RolePermission,
)
from gullak.access.schemas import (
    AdminCreatedOut,
    AdminIn,
    AdminOut,
    AdminUpdateIn,
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditOut,
    AuditPage,
    FlagIn,
    FlagOut,
    PermissionOut,
    RoleIn,
    RoleOut,
    SettingIn,
    SettingOut,
)
from gullak.identity import service as identity
from gullak.identity.schemas import DeviceIn, TokensOut
from gullak.kit import audit, clock, notify, tokens
from gullak.kit import browse as browsing
from gullak.kit.audit import RequestMeta
from gullak.kit.cache import auth as auth_cache
from gullak.kit.errors import Conflict, InvalidInput
from gullak.kit.passwords import check_policy, hash_password
from gullak.kit.security import Subject
from gullak.settings import Settings

# Made by the first migration; the back office depends on them, so no request changes them.
BUILTIN_ROLES = frozenset({"super_admin"})
LAST_USED_EVERY = dt.timedelta(minutes=1)  # how stale an API key's last_used_at may get
CACHE_SECONDS = 5.0  # other processes see a changed setting or flag within this
_MISSING = object()


# -- admins -------------------------------------------------------------------------------------

async def _check_grant(session: AsyncSession, actor: Subject | None, granted: set[str],
                       what: str, entity_id: str | None) -> None:
    """An actor may hand out only permissions it holds itself (a super admin holds all). The
    command line (no actor) bootstraps the first admin."""
    if actor is None or actor.can("*") or granted <= set(actor.permissions):
        return
    missing = sorted(granted - set(actor.permissions))
    await audit.record(session, actor, f"denied:grant:{what}", what, entity_id,
                       after={"permissions": missing}, outcome="denied")
    raise errors.CannotGrant(f"You do not hold {missing[0]}.", permission=missing[0])


async def _role_permissions(session: AsyncSession, role_names: list[str]) -> set[str]:
    rows = await session.scalars(
        select(RolePermission.permission).join(Role, Role.id == RolePermission.role_id)
        .where(Role.name.in_(role_names)))
    return set(rows)


async def create_admin(session: AsyncSession, settings: Settings, data: AdminIn,
                       actor: Subject | None = None) -> AdminCreatedOut:
    email = identity.normalize_email(data.email)
    await _check_grant(session, actor, await _role_permissions(session, data.roles), "admin", None)
    if await session.scalar(select(AdminUser.id).where(func.lower(AdminUser.email) == email.lower())):
        raise errors.AlreadyExists("An admin with this email exists.", field="email")
    password = secrets.token_urlsafe(12)
    totp = pyotp.random_base32()
    admin = AdminUser(email=email, name=data.name, city=data.city,
                      password_hash=hash_password(password),
                      totp_secret=identity.keyring(settings).seal(totp, context="admin.totp"))
    session.add(admin)
    await session.flush()
    await _set_roles(session, admin.id, data.roles)
    await _set_departments(session, admin.id, data.departments)
    out = await get_admin(session, admin.id)
    uri = pyotp.TOTP(totp).provisioning_uri(name=email, issuer_name="Gullak admin")
    return AdminCreatedOut(**out.model_dump(), password=password, totp_secret=totp, totp_uri=uri)


async def _set_roles(session: AsyncSession, admin_id: uuid.UUID, names: list[str]) -> None:
    roles = {r.name: r.id for r in await session.scalars(select(Role).where(Role.name.in_(names)))}
    missing = set(names) - set(roles)
    if missing:
        raise errors.RoleNotFound(f"No role named {sorted(missing)[0]}.", field="roles")
    await session.execute(delete(AdminRole).where(AdminRole.admin_id == admin_id))
    session.add_all(AdminRole(admin_id=admin_id, role_id=rid) for rid in roles.values())
    await session.flush()


async def _set_departments(session: AsyncSession, admin_id: uuid.UUID, names: list[str]) -> None:
    await session.execute(delete(AdminDepartment).where(AdminDepartment.admin_id == admin_id))
    for name in set(names):
        dept = await session.scalar(select(Department).where(Department.name == name))
        if dept is None:
            dept = Department(name=name)
            session.add(dept)
            await session.flush()
        session.add(AdminDepartment(admin_id=admin_id, department_id=dept.id))
    await session.flush()


async def get_admin(session: AsyncSession, admin_id: uuid.UUID) -> AdminOut:
    admin = await session.get(AdminUser, admin_id, populate_existing=True)
    if admin is None:
        raise errors.AdminNotFound()
    roles = list(await session.scalars(
        select(Role.name).join(AdminRole, AdminRole.role_id == Role.id)
        .where(AdminRole.admin_id == admin_id).order_by(Role.name)))
    depts = list(await session.scalars(
        select(Department.name).join(AdminDepartment, AdminDepartment.department_id == Department.id)
        .where(AdminDepartment.admin_id == admin_id).order_by(Department.name)))
    perms = sorted(await _admin_permissions(session, admin_id) or [])
    return AdminOut.model_validate(admin).model_copy(
        update={"roles": roles, "departments": depts, "permissions": perms})


async def list_admins(session: AsyncSession) -> list[AdminOut]:
    ids = await session.scalars(select(AdminUser.id).order_by(AdminUser.email))
    return [await get_admin(session, i) for i in ids]


async def update_admin(session: AsyncSession, admin_id: uuid.UUID, data: AdminUpdateIn,
                       actor: Subject | None = None) -> AdminOut:
    admin = await session.get(AdminUser, admin_id)
    if admin is None:
        raise errors.AdminNotFound()
    if data.roles is not None:
        await _check_grant(session, actor, await _role_permissions(session, data.roles), "admin",
                           str(admin_id))
    for name in ("name", "city", "status"):
        value = getattr(data, name)
        if value is not None:
            setattr(admin, name, value)
    if data.roles is not None:
        await _set_roles(session, admin_id, data.roles)
    if data.departments is not None:
        await _set_departments(session, admin_id, data.departments)
    if data.status == "disabled":
        await identity.revoke_all(session, "admin", admin_id, reason="admin disabled")
    if data.roles is not None or data.status is not None:
        await notify.publish(session, f"admin:{admin_id}")
    await session.flush()
    return await get_admin(session, admin_id)


async def permissions_of(session: AsyncSession, admin_id: uuid.UUID) -> set[str] | None:
    """The permissions of an active admin through its roles; None if the admin cannot act.
    Cached for authentication; dropped when the admin or any role changes."""
    since = auth_cache.generation
    cached = auth_cache.get(("admin", admin_id))
    if cached is not None:
        return set(cached)
    permissions = await _admin_permissions(session, admin_id)
    if permissions is not None:
        auth_cache.put(("admin", admin_id), frozenset(permissions),
                       (f"admin:{admin_id}", "roles"), since)
    return permissions


async def _admin_permissions(session: AsyncSession, admin_id: uuid.UUID) -> set[str] | None:
    # Uncached: also read inside the transaction that changes them (get_admin after an update).
    status = await session.scalar(select(AdminUser.status).where(AdminUser.id == admin_id))
    if status != "active":
        return None
    rows = await session.scalars(
        select(RolePermission.permission).join(AdminRole, AdminRole.role_id == RolePermission.role_id)
        .where(AdminRole.admin_id == admin_id))
    return set(rows)


async def admin_login(session: AsyncSession, settings: Settings, email: str, password: str,
                      totp_code: str | None, device: DeviceIn,
                      client: identity.Client) -> TokensOut:
    """Password and authenticator code, both required; one vague refusal for any mistake."""

    async def find(key: str) -> AdminUser | None:
        # Locked: two sign-ins with one authenticator code must not both see it unused.
        return await session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == key)
                                    .with_for_update())

    def confirm(admin: AdminUser) -> None:
        if not totp_code or not totp_code.isdigit():
            raise errors.AdminLoginFailed()
        secret = identity.keyring(settings).open(admin.totp_secret, context="admin.totp")
        # A code signs in once: a used one (or an older one) is a wrong one.
        step = identity.totp_step(secret, totp_code, admin.totp_last_step)
        if step is None:
            raise errors.AdminLoginFailed()
        if admin.status != "active":
            raise errors.AdminLoginFailed("This admin is disabled.", keep_changes=False)
        admin.totp_last_step = step

    admin = await identity.sign_in(session, "admin", email, password, client, find,
                                   errors.AdminLoginFailed, confirm)
    admin.last_login_at = clock.now()
    return await identity.start_session(session, settings, "admin", admin.id, device, client)


async def set_admin_password(session: AsyncSession, admin_id: uuid.UUID, password: str) -> None:
    admin = await session.get(AdminUser, admin_id)
    if admin is None:
        raise errors.AdminNotFound()
    check_policy(password, logins=(admin.email,))
    admin.password_hash = hash_password(password)


# -- roles and permissions ----------------------------------------------------------------------

async def list_permissions(session: AsyncSession) -> list[PermissionOut]:
    rows = await session.scalars(select(Permission).order_by(Permission.code))
    return [PermissionOut.model_validate(p) for p in rows]


async def _check_permissions(session: AsyncSession, codes: list[str], field: str) -> None:
    known = set(await session.scalars(select(Permission.code).where(Permission.code.in_(codes))))
    unknown = sorted(set(codes) - known)
    if unknown:
        raise errors.UnknownPermission(f"No permission {unknown[0]}.", field=field)


async def role_out(session: AsyncSession, role: Role) -> RoleOut:
    perms = sorted(await session.scalars(select(RolePermission.permission)
                                         .where(RolePermission.role_id == role.id)))
    return RoleOut(id=role.id, name=role.name, description=role.description, permissions=perms)


async def list_roles(session: AsyncSession) -> list[RoleOut]:
    return [await role_out(session, r) for r in await session.scalars(select(Role).order_by(Role.name))]


async def put_role(session: AsyncSession, data: RoleIn, actor: Subject | None = None) -> RoleOut:
    """Create the role, or replace its description and permissions; built-in roles stay as
    they are (an attempt is audited as denied)."""
    if data.name in BUILTIN_ROLES:
        await audit.record(session, actor, "denied:role.put", "role", data.name,
                           after=data.model_dump(mode="json"), outcome="denied")
        raise errors.BuiltinRole(f"The role {data.name} is built in and cannot change.",
                                 field="name")
    await _check_permissions(session, data.permissions, "permissions")
    await _check_grant(session, actor, set(data.permissions), "role", data.name)
    role = await session.scalar(select(Role).where(Role.name == data.name))
    if role is None:
        role = Role(name=data.name)
        session.add(role)
    role.description = data.description
    await session.flush()
    await session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
    session.add_all(RolePermission(role_id=role.id, permission=p) for p in set(data.permissions))
    await session.flush()
    await notify.publish(session, "roles")
    return await role_out(session, role)


async def get_role(session: AsyncSession, name: str) -> RoleOut:
    role = await session.scalar(select(Role).where(Role.name == name))
    if role is None:
        raise errors.RoleNotFound()
    return await role_out(session, role)


# -- API keys -----------------------------------------------------------------------------------

async def create_api_key(session: AsyncSession, data: ApiKeyIn,
                         created_by: uuid.UUID | None,
                         actor: Subject | None = None) -> ApiKeyCreatedOut:
    await _check_permissions(session, data.permissions, "permissions")
    await _check_grant(session, actor, set(data.permissions), "api_key", None)
    holder, key = f"gk_{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    row = ApiKey(name=data.name, holder=holder, key_hash=tokens.digest(key),
                 permissions=sorted(set(data.permissions)), created_by=created_by)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return ApiKeyCreatedOut(**ApiKeyOut.model_validate(row).model_dump(), key=key)


async def list_api_keys(session: AsyncSession) -> list[ApiKeyOut]:
    rows = await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))
    return [ApiKeyOut.model_validate(k) for k in rows]


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID) -> tuple[ApiKeyOut, ApiKeyOut]:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise errors.ApiKeyNotFound()
    before = ApiKeyOut.model_validate(row)
    row.revoked_at = row.revoked_at or clock.now()
    await session.flush()
    await notify.publish(session, f"key:{row.id}")
    return before, ApiKeyOut.model_validate(row)


# Keys used since the last `record_key_uses`, with when: last use is written in batches, out
# of the request path, so an authenticated read writes nothing.
_used: dict[uuid.UUID, dt.datetime] = {}


async def authenticate_api_key(session: AsyncSession, holder: str, key: str) -> Subject | None:
    presented = tokens.digest(key)
    since = auth_cache.generation
    cached = auth_cache.get(("key", holder))
    if cached is not None and hmac.compare_digest(cached[0], presented):
        subject: Subject = cached[1]
        _used[subject.id] = clock.now()
        return subject
    row = (await session.execute(
        select(ApiKey.id, ApiKey.key_hash, ApiKey.permissions, ApiKey.revoked_at)
        .where(ApiKey.holder == holder))).first()
    # Compare even when there is no such holder, so timing does not tell holders apart.
    expected = row.key_hash if row is not None else tokens.digest("")
    if not hmac.compare_digest(expected, presented) or row is None:
        return None
    if row.revoked_at is not None:
        return None
    subject = Subject("service", row.id, frozenset(row.permissions))
    auth_cache.put(("key", holder), (presented, subject), (f"key:{row.id}",), since)
    _used[row.id] = clock.now()
    return subject


async def record_key_uses(session: AsyncSession) -> int:
    """Write the last use of the keys used since the previous call, one statement for all,
    each row at most once per LAST_USED_EVERY. Returns how many keys were pending."""
    if not _used:
        return 0
    pending = [{"key_id": k, "at": at, "every": LAST_USED_EVERY} for k, at in _used.items()]
    _used.clear()
    await session.execute(text(
        "UPDATE api_keys SET last_used_at = :at WHERE id = :key_id"
        " AND (last_used_at IS NULL OR last_used_at <= :at - :every)"), pending)
    return len(pending)


# -- audit log ----------------------------------------------------------------------------------

async def write_audit(session: AsyncSession, *, actor: Subject | None, action: str,
                      entity_type: str, entity_id: str | None, before: Any, after: Any,
                      outcome: str, meta: RequestMeta) -> None:
    session.add(AuditEntry(
        at=clock.now(), actor_type=actor.kind if actor else "system",
        actor_id=actor.id if actor else None, action=action, entity_type=entity_type,
        entity_id=entity_id, before=before, after=after, outcome=outcome, ip=meta.ip,
        user_agent=meta.user_agent, request_id=meta.request_id))
    await session.flush()


async def search_audit(session: AsyncSession, *, entity_type: str | None = None,
                       entity_id: str | None = None, actor_type: str | None = None,
                       actor_id: uuid.UUID | None = None, action: str | None = None,
                       outcome: str | None = None, cursor: str | None = None,
                       limit: int = 50) -> AuditPage:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    for column, value in ((AuditEntry.entity_type, entity_type), (AuditEntry.entity_id, entity_id),
                          (AuditEntry.actor_type, actor_type), (AuditEntry.actor_id, actor_id),
                          (AuditEntry.action, action), (AuditEntry.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if cursor is not None:
        try:
            query = query.where(AuditEntry.id < uuid.UUID(cursor))
        except ValueError as exc:
            raise InvalidInput("Malformed cursor.", field="cursor") from exc
    rows = [AuditOut.model_validate(r) for r in await session.scalars(query)]
    return AuditPage(entries=rows, next_cursor=str(rows[-1].id) if len(rows) == limit else None)


# -- settings and flags -------------------------------------------------------------------------

_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "int": (int,), "float": (int, float),
                                       "bool": (bool,), "json": (dict, list)}


def finite(value: Any) -> bool:
    """JSON numbers only: NaN and infinities parse in Python but PostgreSQL refuses them."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def _typed(value: Any, value_type: str) -> None:
    if not finite(value):
        raise errors.InvalidSettingValue("Numbers must be finite.", field="value")
    ok = isinstance(value, _TYPES[value_type])
    if value_type in ("int", "float") and isinstance(value, bool):
        ok = False
    if not ok:
        raise errors.InvalidSettingValue(f"Expected a {value_type}.", field="value")


async def put_setting(session: AsyncSession, key: str, data: SettingIn,
                      actor: uuid.UUID | None) -> tuple[SettingOut | None, SettingOut]:
    row = await session.get(AppSetting, key, with_for_update=True)
    before = SettingOut.model_validate(row) if row is not None else None
    value_type = data.value_type or (row.value_type if row is not None else None)
    if value_type is None:
        raise InvalidInput("A new setting needs its value_type.", field="value_type")
    _typed(data.value, value_type)
    if row is None:
        row = AppSetting(key=key, value=data.value, value_type=value_type, version=1)
        session.add(row)
    else:
        row.value, row.value_type, row.version = data.value, value_type, row.version + 1
    row.description = data.description if data.description is not None else row.description
    row.updated_by, row.updated_at = actor, clock.now()
    await session.flush()
    _cache.pop(("setting", key), None)
    return before, SettingOut.model_validate(row)


async def list_settings(session: AsyncSession) -> list[SettingOut]:
    return [SettingOut.model_validate(r)
            for r in await session.scalars(select(AppSetting).order_by(AppSetting.key))]


async def setting(session: AsyncSession, key: str, default: Any = None) -> Any:
    """A setting's value for the code that reads it, cached for a few seconds."""
    hit = _cache.get(("setting", key))
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return default if hit[1] is _MISSING else hit[1]
    row = await session.get(AppSetting, key)
    value = row.value if row is not None else _MISSING
    _cache[("setting", key)] = (time.monotonic(), value)
    return default if value is _MISSING else value


async def put_flag(session: AsyncSession, key: str, data: FlagIn,
                   actor: uuid.UUID | None) -> tuple[FlagOut | None, FlagOut]:
    if not finite(data.rules):
        raise errors.InvalidSettingValue("Numbers must be finite.", field="rules")
    row = await session.get(FeatureFlag, key, with_for_update=True)
    before = FlagOut.model_validate(row) if row is not None else None
    if row is None:
        row = FeatureFlag(key=key, version=1)
        session.add(row)
    else:
        row.version += 1
    row.enabled, row.rollout_percent, row.rules = data.enabled, data.rollout_percent, data.rules
    row.description = data.description if data.description is not None else row.description
    row.updated_by, row.updated_at = actor, clock.now()
    await session.flush()
    _cache.pop(("flag", key), None)
    return before, FlagOut.model_validate(row)


async def list_flags(session: AsyncSession) -> list[FlagOut]:
    return [FlagOut.model_validate(r)
            for r in await session.scalars(select(FeatureFlag).order_by(FeatureFlag.key))]


async def flag_enabled(session: AsyncSession, key: str, subject_id: uuid.UUID | None = None) -> bool:
    """On for this subject? A rollout below 100 % picks a stable slice of subjects."""
    hit = _cache.get(("flag", key))
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        flag = hit[1]
    else:
        row = await session.get(FeatureFlag, key)
        flag = (row.enabled, row.rollout_percent) if row is not None else (False, 0)
        _cache[("flag", key)] = (time.monotonic(), flag)
    enabled, percent = flag
    if not enabled:
        return False
    if percent >= 100:
        return True
    if subject_id is None:
        return False
    bucket = int(hashlib.sha256(f"{key}:{subject_id}".encode()).hexdigest()[:8], 16) % 100
    return bucket < percent


def clear_cache() -> None:
    _cache.clear()



def bucket_of(key: str, subject_id: uuid.UUID) -> int:
    """The stable slice (0-99) of a subject under `key`, the one `flag_enabled` rolls a flag
    out by: for other domains that split subjects the same way (A/B variants)."""
    return int(hashlib.sha256(f"{key}:{subject_id}".encode()).hexdigest()[:8], 16) % 100


async def department_exists(session: AsyncSession, name: str) -> bool:
    """Whether a department of this name exists (support assigns tickets to one)."""
    found = await session.scalar(select(Department.id).where(Department.name == name))
    return found is not None


# -- changes made from a form that showed a version -------------------------------------------

async def _at(session: AsyncSession, model: type[AppSetting] | type[FeatureFlag], key: str,
              version: int | None) -> None:
    """Refuses (409) a change made from a form that showed `version` (None: no such key yet)
    when another change came first: the form would silently undo it."""
    current = await session.scalar(select(model.version).where(model.key == key)
                                   .with_for_update())
    if current != version:
        raise Conflict("Someone changed this since the page was loaded; reload it and try"
                       " again.", code="stale_version", field="version")


async def put_setting_at(session: AsyncSession, key: str, data: SettingIn, actor: uuid.UUID | None,
                         version: int | None) -> tuple[SettingOut | None, SettingOut]:
    """`put_setting`, if the setting is still at `version`."""
    await _at(session, AppSetting, key, version)
    return await put_setting(session, key, data, actor)


async def put_flag_at(session: AsyncSession, key: str, data: FlagIn, actor: uuid.UUID | None,
                      version: int | None) -> tuple[FlagOut | None, FlagOut]:
    """`put_flag`, if the flag is still at `version`."""
    await _at(session, FeatureFlag, key, version)
    return await put_flag(session, key, data, actor)


# -- the console: the audit log browsed, departments listed and created -----------------------

async def browse_audit(session: AsyncSession, browse: browsing.Browse, *,
                       actor_type: str | None = None, actor_id: uuid.UUID | None = None,
                       action: str | None = None, entity_type: str | None = None,
                       entity_id: str | None = None, outcome: str | None = None,
                       since: dt.datetime | None = None,
                       until: dt.datetime | None = None) -> browsing.Page:
    """A page of audit entries (rows: `AuditOut`), each filter an exact match, `since` and
    `until` a half-open range of `at`; sortable by `at` (the id is time-ordered too)."""
    query = select(AuditEntry)
    for column, value in ((AuditEntry.actor_type, actor_type), (AuditEntry.actor_id, actor_id),
                          (AuditEntry.action, action), (AuditEntry.entity_type, entity_type),
                          (AuditEntry.entity_id, entity_id), (AuditEntry.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    found = await browsing.page(session, query, browse, AuditEntry.id, {"at": AuditEntry.at})
    return browsing.Page([AuditOut.model_validate(r) for r in found.rows], found.next_cursor)


async def get_audit_entry(session: AsyncSession, entry_id: uuid.UUID) -> AuditOut | None:
    row = await session.scalar(select(AuditEntry).where(AuditEntry.id == entry_id))
    return None if row is None else AuditOut.model_validate(row)


@dataclass(frozen=True)
class DepartmentView:
    """A department and its members: (admin id, email, name) each, by email."""

    id: uuid.UUID
    name: str
    created_at: dt.datetime
    members: list[tuple[uuid.UUID, str, str]]


async def list_departments(session: AsyncSession) -> list[DepartmentView]:
    """Every department, by name, with its members (two queries, whatever their number)."""
    rows = list(await session.scalars(select(Department).order_by(Department.name)))
    members: dict[uuid.UUID, list[tuple[uuid.UUID, str, str]]] = {r.id: [] for r in rows}
    found = await session.execute(
        select(AdminDepartment.department_id, AdminUser.id, AdminUser.email, AdminUser.name)
        .join(AdminUser, AdminUser.id == AdminDepartment.admin_id).order_by(AdminUser.email))
    for department_id, admin_id, email, name in found:
        members.setdefault(department_id, []).append((admin_id, email, name))
    return [DepartmentView(r.id, r.name, r.created_at, members[r.id]) for r in rows]


async def create_department(session: AsyncSession, name: str) -> DepartmentView:
    """A new, empty department; a name taken already is refused (409)."""
    if await department_exists(session, name):
        raise errors.AlreadyExists("A department with this name exists.", field="name")
    row = Department(name=name)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return DepartmentView(row.id, row.name, row.created_at, [])
