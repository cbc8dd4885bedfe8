"""Demo data: back-office roles, a demo super admin and a demo service client.

The demo credentials are fixed so that they can be printed on every start; they are for a
local demo database only and are refused in production (seeding is off there by default).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access.models import AdminRole, AdminUser, ApiKey, Role, RolePermission
from gullak.identity.service import keyring
from gullak.kit import tokens
from gullak.kit.demo import DataSet
from gullak.kit.passwords import hash_password
from gullak.settings import get_settings

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-password"
DEMO_ADMIN_TOTP = "GULLAKDEMOADMINTOTPSECRETKEY2345"
DEMO_KEY_HOLDER = "gk_demo"
DEMO_KEY = "demo-service-key"
SUPER_ADMIN_ROLE = "01900000-0000-7000-8000-000000000001"
ROLES = {
    "support": ["users.read", "kyc.review", "audit.read"],
    "finance": ["ledger.read", "wallet.adjust", "audit.read"],
    "operations": ["users.read", "users.manage", "ledger.read", "settings.manage",
                   "system.read"],
}


async def load(session: AsyncSession) -> None:
    for name, perms in ROLES.items():
        role = Role(name=name, description=f"Demo {name} role")
        session.add(role)
        await session.flush()
        session.add_all(RolePermission(role_id=role.id, permission=p) for p in perms)
    admin = AdminUser(email=DEMO_ADMIN_EMAIL, name="Demo Admin",
                      password_hash=hash_password(DEMO_ADMIN_PASSWORD),
                      totp_secret=keyring(get_settings()).seal(DEMO_ADMIN_TOTP,
                                                               context="admin.totp"))
    session.add(admin)
    await session.flush()
    session.add(AdminRole(admin_id=admin.id, role_id=SUPER_ADMIN_ROLE))
    session.add(ApiKey(name="Demo service client", holder=DEMO_KEY_HOLDER,
                       key_hash=tokens.digest(DEMO_KEY),
                       permissions=["ledger.read", "ledger.write"]))
    await session.flush()


DATA_SETS = (DataSet(
    "access", load, needs=("identity",),
    notes=(f"Admin      {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}, TOTP secret {DEMO_ADMIN_TOTP}"
           " (`gullak admin code` prints its code; /console, or POST /v1/admin/auth/login)",
           f"API key    {DEMO_KEY_HOLDER}:{DEMO_KEY} (HTTP Basic; ledger.read, ledger.write)")),)
