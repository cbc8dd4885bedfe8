"""The UserState profile: the wallet and points API's own seed rows (user_login, user_info,
user_balance; api_key, payment_types, bank_channel), through the services.

Users sign up through the OTP flow, as the app's users do; `user_balance.balance` becomes their
INR wallet (credited as a top-up from gateway clearing), `onapps_point` their POINTS and
`in_transaction` a ledger hold. The seed's password and API key hashes are placeholders, so
the demo password below is hashed by the identity service and the service client's key is made
(and hashed) by the access service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.access.schemas import ApiKeyIn
from gullak.identity import service as identity
from gullak.kit import clock
from gullak.kit.demo import DataSet, FailedRows
from gullak.ledger import service as ledger
from gullak.ledger.schemas import HoldIn
from gullak.payments import methods as payment_methods
from gullak.payments import service as payments
from gullak.payments.schemas import MethodPatch
from gullak.payouts import methods
from gullak.payouts.providers.base import Verification
from gullak.payouts.schemas import MethodIn, MethodKind
from gullak.profiles import Profile
from gullak.profiles.people import credit, sign_up
from gullak.settings import get_settings

DEMO_PASSWORD = "userstate-demo-password"  # a local demo database's only; hashed when set


@dataclass(frozen=True)
class Account:
    """One user as the seed's user_login, user_info and user_balance rows give it."""

    username: str
    email: str
    first_name: str
    last_name: str
    phone: str
    balance: int  # INR paise
    points: int
    in_transaction: int  # paise held for a pending transaction


# john_doe is the seed's own row; the others follow its shape.
ACCOUNTS = [
    Account("john_doe", "john@example.com", "John", "Doe", "+919900040001", 100_000, 50, 0),
    Account("jane_smith", "jane.smith@example.com", "Jane", "Smith", "+919900040002",
            250_000, 120, 50_000),
    Account("agus_santoso", "agus.santoso@example.com", "Agus", "Santoso", "+919900040003",
            75_000, 10, 0),
]
PAYMENT_TYPES = ("CREDIT_CARD", "BANK_TRANSFER", "E_WALLET", "RETAIL_OUTLET")
BANK_CHANNELS = ("ID_BCA", "ID_MANDIRI", "ID_BNI")  # the seed's BCA, MANDIRI and BNI
KEY_HOLDER = "internal-service"
INVOICE = 50_000  # a Xendit invoice john_doe has not paid yet


async def load_users(session: AsyncSession) -> None:
    settings = get_settings()
    for i, row in enumerate(ACCOUNTS):
        user = await sign_up(session, row.phone, name=f"{row.first_name} {row.last_name}",
                             email=row.email, username=row.username)
        await identity.set_password(session, user.id, DEMO_PASSWORD, None)
        await credit(session, user.id, "INR", row.balance, source="gateway_clearing",
                     kind="topup", reference="userstate:user_balance")
        await credit(session, user.id, "POINTS", row.points, source="issuance", kind="earn",
                     reference="userstate:onapps_point")
        if row.in_transaction:
            wallet = await ledger.user_account(session, user.id, "INR")
            await ledger.place_hold(session, HoldIn(
                account_id=wallet.id, asset_code="INR", amount=row.in_transaction,
                expires_at=clock.now() + dt.timedelta(days=7), reference_type="profile",
                reference_id="userstate:in_transaction"),
                idempotency_key=f"profile:userstate:in_transaction:{user.id}")
        # A Xendit bank channel account to pay out to, verified (the sandbox's answer).
        method = await methods.add_method(session, settings, "user", user.id, MethodIn(
            kind=MethodKind.bank_channel, holder_name=f"{row.first_name} {row.last_name}",
            channel_code=BANK_CHANNELS[i % len(BANK_CHANNELS)],
            account_number=f"88{row.phone[-8:]}"))
        await methods.record_verification(session, settings, method.id, "sandbox", Verification(
            True, f"{row.first_name} {row.last_name}".upper(), f"sandbox_{row.username}"))
        if i == 0:
            await payments.create_topup(session, settings, user_id=user.id, amount=INVOICE,
                                        key="profile:userstate:invoice")


async def load_platform(session: AsyncSession) -> None:
    for code in PAYMENT_TYPES:
        await payment_methods.change_method(session, code, MethodPatch(enabled=True))
    channels = {c.code for c in await methods.list_channels(session)}
    missing = [c for c in BANK_CHANNELS if c not in channels]
    if missing:
        raise FailedRows(f"bank channels {', '.join(missing)} are not enabled")
    await access.create_api_key(session, ApiKeyIn(
        name=KEY_HOLDER, permissions=["ledger.read", "ledger.write"]), None)


PROFILE = Profile(name="userstate", title="UserState: wallet balances, points, Xendit"
                  " invoices and bank-channel payouts", data_sets=(
    DataSet("userstate:platform", load_platform, needs=("access", "ledger"),
            notes=(f"UserState  payment types {', '.join(PAYMENT_TYPES)}:"
                   " GET /v1/payment-methods; bank channels: GET /v1/payout-channels;"
                   f" service client {KEY_HOLDER!r}: its key is shown once, so make a new one"
                   " at POST /v1/admin/api-keys",)),
    DataSet("userstate:users", load_users, needs=("userstate:platform", "identity"),
            notes=(f"UserState  users {', '.join(a.username for a in ACCOUNTS)} (phones"
                   f" {ACCOUNTS[0].phone}..), password {DEMO_PASSWORD}:"
                   " POST /v1/auth/login; GET /v1/me/wallet",)),
))
