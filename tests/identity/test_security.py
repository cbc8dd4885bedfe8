"""Identity security: nobody reaches another user's things, OTP codes resist guessing, tokens
resist reuse and forgery, and secrets and PII stay out of logs and error responses."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pyotp
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.identity import service as identity
from gullak.identity.service import OTP_MAX_ATTEMPTS, OTP_PER_IP, OTP_PER_PHONE
from gullak.kit import clock
from gullak.kit import logging as app_logging
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.models import Asset
from gullak.ledger.schemas import AssetIn, TransferIn
from gullak.offers import service as offers
from gullak.payouts import methods as payout_methods
from gullak.payouts import withdrawals
from gullak.payouts.providers.base import Verification
from gullak.payouts.schemas import MethodIn, MethodKind, WithdrawalIn
from gullak.settings import Settings
from tests.helpers.http import guarded_client
from tests.helpers.identity import IdentityProvider, rewind_clock, session_id
from tests.helpers.offers import live_merchant, make_coins, make_offer
from tests.helpers.problems import assert_problem
from tests.helpers.state import count, snapshot
from tests.helpers.users import SignedIn, bearer, last_code, new_phone, sign_in

pytestmark = pytest.mark.usefixtures("quick_argon2")

# -- routes -----------------------------------------------------------------------------------

# The one back-office route open to anyone: how an admin gets a token.
ADMIN_SIGN_IN = ("POST", "/v1/admin/auth/login")
# Routes that act on the signed-in subject's own things, besides /v1/me/...
SUBJECT_AUTH_ROUTES = {("POST", "/v1/auth/logout"), ("POST", "/v1/auth/logout-all")}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves.

    Routers included with `include_router` appear in `app.routes` as one entry per router;
    their own routes are listed by `effective_route_contexts()`."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            pairs = [(c.original_route, c.path) for c in route.effective_route_contexts()]
        else:
            pairs = [(route, getattr(route, "path", ""))]
        for original, path in pairs:
            for method in getattr(original, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))
    assert found, "no routes found: the app's routing changed shape"
    return found


def is_subject_route(method: str, path: str) -> bool:
    return path == "/v1/me" or path.startswith("/v1/me/") or (method, path) in SUBJECT_AUTH_ROUTES


def is_back_office_route(method: str, path: str) -> bool:
    return path.startswith("/v1/admin/") and (method, path) != ADMIN_SIGN_IN


# -- a world where Bob owns things ----------------------------------------------------------

BOB_DEVICE = "bob-pixel-7"
BOB_PUSH_TOKEN = "fcm:bob-push-token-0123456789"
BOB_GOOGLE_SUBJECT = "google-subject-bob"
BOB_BANK_ACCOUNT = "50100012345678"
# Bob's identity things and wallet; his offers are built only for the offers routes (slow).
EVERYTHING = frozenset({"device", "address", "social", "kyc", "totp", "step_up", "wallet"})


@dataclass
class World:
    client: httpx.AsyncClient
    connection: AsyncConnection
    google: IdentityProvider
    alice: SignedIn
    bob: SignedIn
    bob_session: str
    bob_address: str = ""
    bob_social: str = ""
    bob_kyc: str = ""
    bob_account: str = ""
    bob_transfer: str = ""
    bob_totp: str = ""
    bob_step_up_code: str = ""
    bob_offer: str = ""
    bob_redemption: str = ""
    bob_partner: str = ""
    bob_method: str = ""
    bob_withdrawal: str = ""
    bob_cash: str = ""
    bob_verification_token: str = ""
    bob_notification: str = ""
    bob_ticket: str = ""
    bob_attachment: str = ""

    @property
    def bob_id(self) -> str:
        return str(self.bob.user["id"])

    @property
    def alice_id(self) -> str:
        return str(self.alice.user["id"])

    def needles(self) -> tuple[str, ...]:
        """What identifies Bob's rows in any table (his withdrawal names his hold)."""
        return tuple(n for n in (self.bob_id, self.bob.phone, self.bob_account,
                                 self.bob_withdrawal, self.bob_cash) if n)

    async def bob_rows(self) -> dict[str, list[str]]:
        return await snapshot(self.connection, mentioning=self.needles())

    async def bob_still_signed_in(self) -> None:
        r = await self.client.get("/v1/me", headers=self.bob.headers)
        assert r.status_code == 200 and r.json()["id"] == self.bob_id, r.text


async def fund(session: AsyncSession, user_id: str, amounts: list[int]) -> tuple[str, str]:
    """A COIN wallet for `user_id` credited with `amounts`; (account id, last transfer id)."""
    if await session.get(Asset, "COIN") is None:
        await ledger.create_asset(session, AssetIn(code="COIN", name="Coins", kind="coin",
                                                   scale=0))
    issuance = await ledger.platform_account(session, "COIN", "issuance")
    account = await ledger.user_account(session, uuid.UUID(user_id), "COIN")
    last = None
    for amount in amounts:
        last = await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=account.id, asset_code="COIN",
            amount=amount, kind="earn"))
    await session.flush()
    assert last is not None
    return str(account.id), str(last.id)


async def payouts_of(session: AsyncSession, user_id: str) -> tuple[str, str, str]:
    """A verified bank account and an INR withdrawal in review for `user_id`, made through
    the payouts services in the test's transaction (the API's flows commit on their own):
    (method id, withdrawal id, cash account id)."""
    settings = Settings(env="test", secret_key="s" * 32, encryption_key="k" * 32,
                        payout_cooling_off_hours=0)
    owner = uuid.UUID(user_id)
    if await session.get(Asset, "INR") is None:
        await ledger.create_asset(session, AssetIn(code="INR", name="Rupees", kind="cash",
                                                   scale=2))
    issuance = await ledger.platform_account(session, "INR", "issuance")
    cash = await ledger.user_account(session, owner, "INR")
    await ledger.transfer(session, TransferIn(
        debit_account_id=issuance.id, credit_account_id=cash.id, asset_code="INR",
        amount=100_000, kind="cashback"))
    method = await payout_methods.add_method(session, settings, "user", owner, MethodIn(
        kind=MethodKind.bank, holder_name="Bob Builder", account_number=BOB_BANK_ACCOUNT,
        ifsc="HDFC0001234"))
    verified = await payout_methods.record_verification(
        session, settings, method.id, "sandbox", Verification(True, "BOB BUILDER", "ref"))
    assert verified.usable, verified
    withdrawal, due = await withdrawals.request(
        session, settings, "user", owner, WithdrawalIn(amount=40_000, method_id=method.id),
        "bob-withdrawal", Subject("user", owner))
    assert withdrawal.status == "review" and not due
    await session.flush()
    return str(method.id), str(withdrawal.id), str(cash.id)


async def build_world(client: httpx.AsyncClient, connection: AsyncConnection,
                      session: AsyncSession, google: IdentityProvider, alice: SignedIn,
                      bob: SignedIn, needs: frozenset[str]) -> World:
    """Alice, and Bob with the things in `needs` (each case asks only for what it aims at)."""
    w = World(client, connection, google, alice, bob, session_id(bob))
    h = bob.headers
    if "device" in needs:
        r = await client.put(f"/v1/me/devices/{BOB_DEVICE}", headers=h, json={
            "platform": "android", "name": "Bob's phone", "push_token": BOB_PUSH_TOKEN})
        assert r.status_code == 200, r.text
    if "address" in needs:
        r = await client.post("/v1/me/addresses", headers=h, json={
            "line1": "12 MG Road", "city": "Bengaluru", "postal_code": "560001"})
        assert r.status_code == 201, r.text
        w.bob_address = r.json()["id"]
    if "social" in needs:
        r = await client.post("/v1/me/social-accounts", headers=h, json={
            "provider": "google",
            "token": google.token(BOB_GOOGLE_SUBJECT, email="bob@gmail.com")})
        assert r.status_code == 201, r.text
        w.bob_social = r.json()["id"]
    if "kyc" in needs:
        r = await client.post("/v1/me/kyc", headers=h, json={
            "document_type": "aadhaar", "document_number": "234567890123", "pan": "ABCDE1234F"})
        assert r.status_code == 201, r.text
        w.bob_kyc = r.json()["id"]
    if "totp" in needs:
        r = await client.post("/v1/me/totp", headers=h)
        assert r.status_code == 200, r.text
        w.bob_totp = r.json()["secret"]
        r = await client.post("/v1/me/totp/confirm", headers=h,
                              json={"code": pyotp.TOTP(w.bob_totp).at(clock.now())})
        assert r.status_code == 204, r.text
    if "step_up" in needs:
        r = await client.post("/v1/auth/otp", json={"phone": bob.phone, "purpose": "transaction"})
        assert r.status_code == 202, r.text
        w.bob_step_up_code = await last_code(connection, bob.phone)
    if "wallet" in needs:
        w.bob_account, w.bob_transfer = await fund(session, bob.user["id"], [700, 300])
    if "offers" in needs:
        # A live merchant's offer that Bob saved and redeemed (the offers domain's own helpers).
        await make_coins(session)
        merchant_id, _ = await live_merchant(session)
        w.bob_offer = str((await make_offer(session, merchant_id)).id)
        await session.flush()
        r = await client.put(f"/v1/me/saved-offers/{w.bob_offer}", headers=h)
        assert r.status_code == 200, r.text
        r = await client.post(f"/v1/offers/{w.bob_offer}/redeem", headers=h,
                              json={"amount": 50000})
        assert r.status_code == 201, r.text
        w.bob_redemption = r.json()["id"]
    if "partner" in needs:
        # A partner company that Bob allowed to place orders for him.
        from gullak.partners import service as partners
        from gullak.partners.schemas import PartnerIn

        partner = await partners.create(session, Settings(env="test", encryption_key="k" * 32),
                                        PartnerIn(name=f"Partner of {bob.phone}"), None)
        w.bob_partner = str(partner.id)
        r = await client.post(f"/v1/me/partners/{w.bob_partner}/link", headers=h)
        assert r.status_code == 201, r.text
    if "notifications" in needs:
        from gullak.notifications import service as notifications

        notification = await notifications.notify(
            session, uuid.UUID(bob.user["id"]), "rewards.coins_earned", {"amount": "100"})
        assert notification is not None
        w.bob_notification = str(notification)
    if "tickets" in needs:
        r = await client.post("/v1/me/tickets", headers=h, json={
            "title": "Where is my cashback", "body": "It has been a week."})
        assert r.status_code == 201, r.text
        w.bob_ticket = r.json()["id"]
        r = await client.post(f"/v1/me/tickets/{w.bob_ticket}/attachments", headers=h, json={
            "filename": "receipt.png", "content_type": "image/png",
            "content_base64": base64.b64encode(b"\x89PNG bob's receipt").decode()})
        assert r.status_code == 201, r.text
        w.bob_attachment = r.json()["id"]
    if "payouts" in needs:
        # Bob's bank account and a withdrawal in review, and a step-up proof of his own.
        w.bob_method, w.bob_withdrawal, w.bob_cash = await payouts_of(session, bob.user["id"])
        r = await client.post("/v1/auth/otp", json={"phone": bob.phone, "purpose": "transaction"})
        assert r.status_code == 202, r.text
        r = await client.post("/v1/me/otp/verify", headers=h, json={
            "purpose": "transaction", "code": await last_code(connection, bob.phone)})
        assert r.status_code == 200, r.text
        w.bob_verification_token = r.json()["verification_token"]
    return w


@pytest.fixture(autouse=True)
def _fresh_offers_cache() -> Iterator[None]:
    # The offers cache outlives each test's rolled-back transaction: start and end empty.
    offers.CACHE.invalidate_soon(None)
    yield
    offers.CACHE.invalidate_soon(None)


@pytest.fixture
async def world(client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
                google: IdentityProvider, alice: SignedIn, bob: SignedIn) -> World:
    return await build_world(client, connection, session, google, alice, bob, EVERYTHING)


# -- (1) nobody reaches another user's things -------------------------------------------------

async def not_found_like_a_missing_id(w: World, method: str, path: str, bob_thing: str,
                                      body: dict[str, Any] | None = None,
                                      code: str = "not_found") -> None:
    """Alice naming Bob's thing gets the same 404 as naming nothing, and nothing changes.
    `{}` in `path` (or a "{}" value in `body`) is where the thing is named."""
    def named(thing: str) -> dict[str, Any] | None:
        return None if body is None else {k: thing if v == "{}" else v for k, v in body.items()}

    before = await snapshot(w.connection)
    r = await w.client.request(method, path.format(bob_thing), headers=w.alice.headers,
                               json=named(bob_thing))
    problem = assert_problem(r, 404, code)
    missing = str(uuid.uuid4()) if _is_uuid(bob_thing) else "no-such-thing"
    r2 = await w.client.request(method, path.format(missing), headers=w.alice.headers,
                                json=named(missing))
    other = assert_problem(r2, 404, code)
    assert {k: v for k, v in problem.items() if k not in ("instance", "request_id")} == \
        {k: v for k, v in other.items() if k not in ("instance", "request_id")}
    assert await snapshot(w.connection) == before


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


ADDRESS = {"line1": "1 Park Street", "city": "Kolkata", "is_default": True}


async def get_me(w: World) -> None:
    r = await w.client.get("/v1/me", headers=w.alice.headers, params={"user_id": w.bob_id})
    assert r.status_code == 200 and r.json()["id"] == w.alice_id
    assert w.bob.phone not in r.text


async def patch_me(w: World) -> None:
    r = await w.client.patch("/v1/me", headers=w.alice.headers, json={"name": "Alice"})
    assert r.status_code == 200 and r.json()["id"] == w.alice_id and r.json()["name"] == "Alice"
    r = await w.client.patch("/v1/me", headers=w.alice.headers, json={"id": w.bob_id})
    assert_problem(r, 422, "validation_error", "id")


async def delete_me(w: World) -> None:
    r = await w.client.delete("/v1/me", headers=w.alice.headers)
    assert r.status_code == 204
    await w.bob_still_signed_in()


async def deactivate_me(w: World) -> None:
    r = await w.client.post("/v1/me/deactivate", headers=w.alice.headers,
                            json={"reason": "moving away"})
    assert r.status_code == 200 and r.json()["id"] == w.alice_id
    await w.bob_still_signed_in()


async def set_my_password(w: World) -> None:
    r = await w.client.put("/v1/me/password", headers=w.alice.headers,
                           json={"new_password": "alice-long-password"})
    assert r.status_code == 204


async def start_my_totp(w: World) -> None:
    r = await w.client.post("/v1/me/totp", headers=w.alice.headers)
    assert r.status_code == 200 and r.json()["secret"] != w.bob_totp


async def confirm_my_totp(w: World) -> None:
    # Bob's current code means nothing for Alice, who has no authenticator.
    r = await w.client.post("/v1/me/totp/confirm", headers=w.alice.headers,
                            json={"code": pyotp.TOTP(w.bob_totp).at(clock.now())})
    assert_problem(r, 422, "invalid_totp", "code")


async def disable_my_totp(w: World) -> None:
    r = await w.client.post("/v1/me/totp/disable", headers=w.alice.headers,
                            json={"code": pyotp.TOTP(w.bob_totp).at(clock.now())})
    assert r.status_code == 204
    r = await w.client.get("/v1/me", headers=w.bob.headers)
    assert r.json()["totp_enabled"] is True


async def step_up(w: World) -> None:
    # The code sent to Bob's phone proves nothing for Alice; Bob's code is neither spent nor
    # counted (his rows are compared around every case).
    r = await w.client.post("/v1/me/otp/verify", headers=w.alice.headers,
                            json={"purpose": "transaction", "code": w.bob_step_up_code})
    assert_problem(r, 401, "otp_invalid", "code")


async def list_my_sessions(w: World) -> None:
    r = await w.client.get("/v1/me/sessions", headers=w.alice.headers)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()] == [session_id(w.alice)]


async def revoke_my_session(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/sessions/{}", w.bob_session)
    await w.bob_still_signed_in()


async def list_my_devices(w: World) -> None:
    r = await w.client.get("/v1/me/devices", headers=w.alice.headers)
    assert r.status_code == 200 and r.json() == []


async def put_my_device(w: World) -> None:
    # Device ids are chosen by the app on the phone: the same id names Alice's own device.
    r = await w.client.put(f"/v1/me/devices/{BOB_DEVICE}", headers=w.alice.headers,
                           json={"platform": "ios", "name": "Alice's phone"})
    assert r.status_code == 200
    assert r.json()["name"] == "Alice's phone" and r.json()["has_push_token"] is False
    r = await w.client.get("/v1/me/devices", headers=w.bob.headers)
    assert [(d["name"], d["has_push_token"]) for d in r.json()] == [("Bob's phone", True)]


async def delete_my_device(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/devices/{}", BOB_DEVICE)


async def list_my_addresses(w: World) -> None:
    r = await w.client.get("/v1/me/addresses", headers=w.alice.headers)
    assert r.status_code == 200 and r.json() == []


async def add_my_address(w: World) -> None:
    r = await w.client.post("/v1/me/addresses", headers=w.alice.headers, json=ADDRESS)
    assert r.status_code == 201 and r.json()["is_default"] is True
    r = await w.client.get("/v1/me/addresses", headers=w.bob.headers)
    assert [(a["id"], a["is_default"]) for a in r.json()] == [(w.bob_address, True)]


async def update_my_address(w: World) -> None:
    await not_found_like_a_missing_id(w, "PUT", "/v1/me/addresses/{}", w.bob_address, ADDRESS)


async def delete_my_address(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/addresses/{}", w.bob_address)


async def list_my_social(w: World) -> None:
    r = await w.client.get("/v1/me/social-accounts", headers=w.alice.headers)
    assert r.status_code == 200 and r.json() == []


async def link_my_social(w: World) -> None:
    before = await snapshot(w.connection)
    r = await w.client.post("/v1/me/social-accounts", headers=w.alice.headers, json={
        "provider": "google", "token": w.google.token(BOB_GOOGLE_SUBJECT)})
    assert_problem(r, 409, "already_taken", "token")
    assert await snapshot(w.connection) == before


async def unlink_my_social(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/social-accounts/{}", w.bob_social)


async def list_my_kyc(w: World) -> None:
    r = await w.client.get("/v1/me/kyc", headers=w.alice.headers)
    assert r.status_code == 200 and r.json() == []


async def submit_my_kyc(w: World) -> None:
    r = await w.client.post("/v1/me/kyc", headers=w.alice.headers, json={
        "document_type": "passport", "document_number": "K1234567"})
    assert r.status_code == 201 and r.json()["user_id"] == w.alice_id
    assert r.json()["id"] != w.bob_kyc


async def my_wallet(w: World) -> None:
    r = await w.client.get("/v1/me/wallet", headers=w.alice.headers,
                           params={"account_id": w.bob_account})
    assert r.status_code == 200
    assert [(b["asset_code"], b["account_id"], b["posted"]) for b in r.json()] == [
        ("COIN", None, 0)]
    assert w.bob_account not in r.text


async def wallet_assets(w: World) -> None:
    r = await w.client.get("/v1/me/wallet/assets", headers=w.alice.headers)
    assert r.status_code == 200 and [a["code"] for a in r.json()] == ["COIN"]


async def my_wallet_history(w: World) -> None:
    before = await snapshot(w.connection)
    r = await w.client.get("/v1/me/wallet/history", headers=w.alice.headers,
                           params={"asset": "COIN", "account_id": w.bob_account})
    assert (r.status_code, r.json()) == (200, {"entries": [], "next_cursor": None})
    assert w.bob_transfer not in r.text
    assert await snapshot(w.connection) == before


async def my_topups(w: World) -> None:
    r = await w.client.get("/v1/me/topups", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and w.bob_id not in r.text
    assert all(p["user_id"] == w.alice_id for p in r.json()["items"])


async def top_up(w: World) -> None:
    r = await w.client.post("/v1/me/topups", headers=w.alice.headers,
                            json={"amount": 10_000, "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")  # nobody tops up another's wallet by naming it
    r = await w.client.post("/v1/me/topups", headers=w.alice.headers, json={"amount": 10_000})
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == w.alice_id and w.bob_id not in r.text


async def my_gift_cards(w: World) -> None:
    r = await w.client.get("/v1/me/gift-cards", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()["items"]) == (200, [])


async def claim_a_gift_card(w: World) -> None:
    # A card is claimed by its code and PIN alone: nothing names a user to claim for.
    r = await w.client.post("/v1/me/gift-cards/claim", headers=w.alice.headers,
                            json={"code": "NOSUCHCARD42", "pin": "123456", "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")
    r = await w.client.post("/v1/me/gift-cards/claim", headers=w.alice.headers,
                            json={"code": "NOSUCHCARD42", "pin": "123456"})
    assert_problem(r, 422, "gift_card_invalid", "code")


async def redeem_a_voucher(w: World) -> None:
    r = await w.client.post("/v1/me/vouchers/redeem", headers=w.alice.headers,
                            json={"code": "NOSUCHVOUCHER", "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")
    r = await w.client.post("/v1/me/vouchers/redeem", headers=w.alice.headers,
                            json={"code": "NOSUCHVOUCHER"})
    assert_problem(r, 404, "voucher_not_found", "code")


async def my_rewards(w: World) -> None:
    r = await w.client.get("/v1/me/rewards", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and w.bob_id not in r.text


async def my_order_rewards(w: World) -> None:
    # Another's order is as missing as one that does not exist.
    r = await w.client.get(f"/v1/me/orders/{uuid.uuid4()}/rewards", headers=w.alice.headers)
    assert_problem(r, 404, "order_not_found")


async def my_tier(w: World) -> None:
    r = await w.client.get("/v1/me/tier", headers=w.alice.headers, params={"user_id": w.bob_id})
    assert r.status_code == 200 and w.bob_id not in r.text


async def my_achievements(w: World) -> None:
    r = await w.client.get("/v1/me/achievements", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and w.bob_id not in r.text


async def my_prive(w: World) -> None:
    r = await w.client.get("/v1/me/prive", headers=w.alice.headers, params={"user_id": w.bob_id})
    assert (r.status_code, r.json()) == (200, {"subscription": None})


async def subscribe_to_prive(w: World) -> None:
    r = await w.client.post("/v1/me/prive/subscriptions", headers=w.alice.headers,
                            json={"plan_code": "prive_monthly", "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")
    r = await w.client.post("/v1/me/prive/subscriptions", headers=w.alice.headers,
                            json={"plan_code": "no_such_plan"})
    assert_problem(r, 404, "prive_plan_not_found", "plan_code")


async def cancel_prive(w: World) -> None:
    # Another user's subscription is as unknown as one that does not exist.
    r = await w.client.post(f"/v1/me/prive/subscriptions/{uuid.uuid4()}/cancel",
                            headers=w.alice.headers)
    assert_problem(r, 404, "prive_subscription_not_found", "subscription_id")


async def my_standing(w: World) -> None:
    r = await w.client.get("/v1/me/leaderboards/steps/weekly", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200, r.text
    assert r.json()["me"] is None and w.bob_id not in r.text


async def my_follows(w: World) -> None:
    r = await w.client.get("/v1/me/follows", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and r.json()["following_count"] == 0
    assert w.bob_id not in r.text


async def follow_a_user(w: World) -> None:
    # Following Bob is Alice's own row; it never makes Bob follow anyone.
    r = await w.client.put(f"/v1/me/follows/{w.bob_id}", headers=w.alice.headers)
    assert r.status_code == 204, r.text
    r = await w.client.get("/v1/me/follows", headers=w.bob.headers)
    assert (r.json()["following_count"], r.json()["followers_count"]) == (0, 1)
    r = await w.client.delete(f"/v1/me/follows/{w.bob_id}", headers=w.alice.headers)
    assert r.status_code == 204


async def unfollow_a_user(w: World) -> None:
    r = await w.client.put(f"/v1/me/follows/{w.alice_id}", headers=w.bob.headers)
    assert r.status_code == 204
    # Alice cannot undo Bob's follow of her: only her own follows are hers to remove.
    r = await w.client.delete(f"/v1/me/follows/{w.alice_id}", headers=w.alice.headers)
    assert r.status_code == 204
    r = await w.client.get("/v1/me/follows", headers=w.bob.headers)
    assert r.json()["following_count"] == 1
    r = await w.client.delete(f"/v1/me/follows/{w.alice_id}", headers=w.bob.headers)
    assert r.status_code == 204


async def sync_my_steps(w: World) -> None:
    r = await w.client.post("/v1/me/steps", headers=w.alice.headers, json={
        "user_id": w.bob_id, "samples": [{"day": dt.date.today().isoformat(), "count": 10,
                                          "source": "manual", "device_id": "d"}]})
    assert_problem(r, 422, "validation_error")


async def my_steps(w: World) -> None:
    today = dt.date.today().isoformat()
    r = await w.client.get("/v1/me/steps", headers=w.alice.headers,
                           params={"from": today, "to": today, "user_id": w.bob_id})
    assert (r.status_code, r.json()["items"]) == (200, [])


async def my_activity_summary(w: World) -> None:
    r = await w.client.get("/v1/me/activity/summary", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and r.json()["steps"] == 0 and w.bob_id not in r.text


async def my_challenges(w: World) -> None:
    r = await w.client.get("/v1/me/challenges", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()["items"]) == (200, [])


async def my_cashback(w: World) -> None:
    r = await w.client.get("/v1/me/cashback", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()["items"]) == (200, [])


async def my_cashback_summary(w: World) -> None:
    r = await w.client.get("/v1/me/cashback/summary", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and w.bob_id not in r.text
    assert r.json()["pending"] == r.json()["confirmed"] == 0


async def my_referrals(w: World) -> None:
    r = await w.client.get("/v1/me/referrals", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200, r.text
    assert w.bob_id not in r.text and r.json()["items"] == []


async def claim_a_college(w: World) -> None:
    r = await w.client.post("/v1/me/college", headers=w.alice.headers, json={
        "college_id": str(uuid.uuid4()), "student_id_number": "S1", "document_ref": "doc-1",
        "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")
    r = await w.client.post("/v1/me/college", headers=w.alice.headers, json={
        "college_id": str(uuid.uuid4()), "student_id_number": "S1", "document_ref": "doc-1"})
    assert_problem(r, 404, "college_not_found", "college_id")


async def my_college(w: World) -> None:
    r = await w.client.get("/v1/me/college", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()) == (200, [])


async def apply_as_ambassador(w: World) -> None:
    r = await w.client.post("/v1/me/ambassador", headers=w.alice.headers,
                            params={"user_id": w.bob_id})
    assert_problem(r, 422, "not_a_verified_student")


async def my_ambassador(w: World) -> None:
    r = await w.client.get("/v1/me/ambassador", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert_problem(r, 404, "ambassador_not_found")


async def my_saved_offers(w: World) -> None:
    r = await w.client.get("/v1/me/saved-offers", headers=w.alice.headers)
    assert r.status_code == 200 and r.json() == []


async def save_an_offer(w: World) -> None:
    # Offers are public: saving the one Bob saved makes Alice's own save.
    r = await w.client.put(f"/v1/me/saved-offers/{w.bob_offer}", headers=w.alice.headers)
    assert r.status_code == 200, r.text
    r = await w.client.get("/v1/me/saved-offers", headers=w.alice.headers)
    assert [s["offer"]["id"] for s in r.json()] == [w.bob_offer]


async def unsave_an_offer(w: World) -> None:
    r = await w.client.delete(f"/v1/me/saved-offers/{w.bob_offer}", headers=w.alice.headers)
    assert r.status_code == 204
    r = await w.client.get("/v1/me/saved-offers", headers=w.bob.headers)
    assert [s["offer"]["id"] for s in r.json()] == [w.bob_offer]


async def my_redemptions(w: World) -> None:
    r = await w.client.get("/v1/me/redemptions", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and r.json()["items"] == []
    assert w.bob_redemption not in r.text


async def logout(w: World) -> None:
    r = await w.client.post("/v1/auth/logout", headers=w.alice.headers)
    assert r.status_code == 204
    await w.bob_still_signed_in()


async def logout_all(w: World) -> None:
    r = await w.client.post("/v1/auth/logout-all", headers=w.alice.headers)
    assert r.status_code == 204
    await w.bob_still_signed_in()


async def my_partners(w: World) -> None:
    r = await w.client.get("/v1/me/partners", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()) == (200, [])


async def link_a_partner(w: World) -> None:
    # Partners are shared: linking Bob's partner makes Alice's own link, Bob's untouched.
    r = await w.client.post(f"/v1/me/partners/{w.bob_partner}/link", headers=w.alice.headers)
    assert r.status_code == 201, r.text
    r = await w.client.get("/v1/me/partners", headers=w.alice.headers)
    assert [link["partner_id"] for link in r.json()] == [w.bob_partner]


async def unlink_a_partner(w: World) -> None:
    r = await w.client.delete(f"/v1/me/partners/{w.bob_partner}/link", headers=w.alice.headers)
    assert_problem(r, 404, "partner_link_not_found")
    r = await w.client.get("/v1/me/partners", headers=w.bob.headers)
    assert [(link["partner_id"], link["status"]) for link in r.json()] == \
        [(w.bob_partner, "active")]


async def my_payout_methods(w: World) -> None:
    r = await w.client.get("/v1/me/payout-methods", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()) == (200, [])


async def add_a_payout_method(w: World) -> None:
    # Bob's step-up proof does not let Alice add a method, whatever account it names.
    before = await snapshot(w.connection)
    r = await w.client.post("/v1/me/payout-methods", headers=w.alice.headers, json={
        "kind": "bank", "holder_name": "Alice", "account_number": BOB_BANK_ACCOUNT,
        "ifsc": "HDFC0001234", "verification_token": w.bob_verification_token})
    assert_problem(r, 403, "step_up_required", "verification_token")
    assert BOB_BANK_ACCOUNT not in r.text
    assert await snapshot(w.connection) == before


async def verify_a_payout_method(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/payout-methods/{}/verify",
                                      w.bob_method, code="payout_method_not_found")


async def remove_a_payout_method(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/payout-methods/{}", w.bob_method,
                                      code="payout_method_not_found")


async def quote_a_withdrawal(w: World) -> None:
    r = await w.client.post("/v1/me/withdrawals/quote", headers=w.alice.headers,
                            json={"amount": 20_000, "user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")
    # Alice's own: she has no cash, whatever Bob has.
    r = await w.client.post("/v1/me/withdrawals/quote", headers=w.alice.headers,
                            json={"amount": 20_000})
    assert_problem(r, 422, "insufficient_funds", "amount")


async def request_a_withdrawal(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/withdrawals", w.bob_method,
                                      {"amount": 20_000, "method_id": "{}"},
                                      code="payout_method_not_found")


async def my_withdrawals(w: World) -> None:
    r = await w.client.get("/v1/me/withdrawals", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert (r.status_code, r.json()) == (200, {"items": [], "next_cursor": None})


async def my_withdrawal(w: World) -> None:
    await not_found_like_a_missing_id(w, "GET", "/v1/me/withdrawals/{}", w.bob_withdrawal,
                                      code="withdrawal_not_found")


async def cancel_a_withdrawal(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/withdrawals/{}/cancel",
                                      w.bob_withdrawal, code="withdrawal_not_found")


async def my_notifications(w: World) -> None:
    r = await w.client.get("/v1/me/notifications", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200, r.text
    assert w.bob_notification not in r.text


async def my_unread_count(w: World) -> None:
    r = await w.client.get("/v1/me/notifications/unread-count", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200 and r.json()["unread"] == 0, r.text


async def read_all_notifications(w: World) -> None:
    before = await snapshot(w.connection)
    r = await w.client.post("/v1/me/notifications/read-all", headers=w.alice.headers,
                            params={"user_id": w.bob_id})
    assert r.status_code in (200, 204), r.text
    assert await snapshot(w.connection) == before


async def my_notification(w: World) -> None:
    await not_found_like_a_missing_id(w, "GET", "/v1/me/notifications/{}", w.bob_notification,
                                      code="notification_not_found")


async def read_a_notification(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/notifications/{}/read",
                                      w.bob_notification, code="notification_not_found")


async def delete_a_notification(w: World) -> None:
    await not_found_like_a_missing_id(w, "DELETE", "/v1/me/notifications/{}",
                                      w.bob_notification, code="notification_not_found")


async def my_notification_preferences(w: World) -> None:
    r = await w.client.get("/v1/me/notification-preferences", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200, r.text


async def set_my_notification_preferences(w: World) -> None:
    r = await w.client.put("/v1/me/notification-preferences", headers=w.alice.headers,
                           json={"user_id": w.bob_id})
    assert_problem(r, 422, "validation_error")


async def open_a_ticket(w: World) -> None:
    # A ticket is the opener's own, whatever it names: Bob's withdrawal is not Alice's subject.
    before = await snapshot(w.connection)
    r = await w.client.post("/v1/me/tickets", headers=w.alice.headers, json={
        "title": "About a payout", "body": "Please check.", "category": "withdrawal",
        "subject_type": "withdrawal", "subject_id": str(uuid.uuid4())})
    assert r.status_code == 422, r.text
    assert await snapshot(w.connection) == before


async def my_tickets(w: World) -> None:
    r = await w.client.get("/v1/me/tickets", headers=w.alice.headers,
                           params={"user_id": w.bob_id})
    assert r.status_code == 200, r.text
    assert w.bob_ticket not in r.text


async def my_ticket(w: World) -> None:
    await not_found_like_a_missing_id(w, "GET", "/v1/me/tickets/{}", w.bob_ticket,
                                      code="ticket_not_found")


async def write_in_a_ticket(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/tickets/{}/messages", w.bob_ticket,
                                      {"body": "Any news?"}, code="ticket_not_found")


async def attach_to_a_ticket(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/tickets/{}/attachments", w.bob_ticket,
                                      {"filename": "a.png", "content_type": "image/png",
                                       "content_base64": "iVBORw0K"}, code="ticket_not_found")


async def a_tickets_attachment(w: World) -> None:
    await not_found_like_a_missing_id(w, "GET", f"/v1/me/tickets/{w.bob_ticket}/attachments/{{}}",
                                      w.bob_attachment, code="ticket_not_found")


async def rate_a_ticket(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/tickets/{}/rate", w.bob_ticket,
                                      {"rating": 1}, code="ticket_not_found")


async def reopen_a_ticket(w: World) -> None:
    await not_found_like_a_missing_id(w, "POST", "/v1/me/tickets/{}/reopen", w.bob_ticket,
                                      {}, code="ticket_not_found")


# One case per route that acts on the signed-in subject: Alice uses it, aiming at Bob where
# the route takes an id, with what Bob must own for the case to mean something. A new such
# route fails `test_every_subject_route_has_a_case`.
Case = Callable[[World], Awaitable[None]]
PAYOUTS = frozenset({"payouts"})
NOTIFICATIONS = frozenset({"notifications"})
TICKETS = frozenset({"tickets"})
CASES: dict[tuple[str, str], tuple[Case, frozenset[str]]] = {
    ("GET", "/v1/me"): (get_me, frozenset()),
    ("PATCH", "/v1/me"): (patch_me, frozenset()),
    ("DELETE", "/v1/me"): (delete_me, EVERYTHING),
    ("POST", "/v1/me/deactivate"): (deactivate_me, frozenset()),
    ("PUT", "/v1/me/password"): (set_my_password, frozenset()),
    ("POST", "/v1/me/totp"): (start_my_totp, frozenset({"totp"})),
    ("POST", "/v1/me/totp/confirm"): (confirm_my_totp, frozenset({"totp"})),
    ("POST", "/v1/me/totp/disable"): (disable_my_totp, frozenset({"totp"})),
    ("POST", "/v1/me/otp/verify"): (step_up, frozenset({"step_up"})),
    ("GET", "/v1/me/sessions"): (list_my_sessions, frozenset()),
    ("DELETE", "/v1/me/sessions/{session_id}"): (revoke_my_session, frozenset()),
    ("GET", "/v1/me/devices"): (list_my_devices, frozenset({"device"})),
    ("PUT", "/v1/me/devices/{device_id}"): (put_my_device, frozenset({"device"})),
    ("DELETE", "/v1/me/devices/{device_id}"): (delete_my_device, frozenset({"device"})),
    ("GET", "/v1/me/addresses"): (list_my_addresses, frozenset({"address"})),
    ("POST", "/v1/me/addresses"): (add_my_address, frozenset({"address"})),
    ("PUT", "/v1/me/addresses/{address_id}"): (update_my_address, frozenset({"address"})),
    ("DELETE", "/v1/me/addresses/{address_id}"): (delete_my_address, frozenset({"address"})),
    ("GET", "/v1/me/social-accounts"): (list_my_social, frozenset({"social"})),
    ("POST", "/v1/me/social-accounts"): (link_my_social, frozenset({"social"})),
    ("DELETE", "/v1/me/social-accounts/{account_id}"): (unlink_my_social, frozenset({"social"})),
    ("GET", "/v1/me/kyc"): (list_my_kyc, frozenset({"kyc"})),
    ("POST", "/v1/me/kyc"): (submit_my_kyc, frozenset({"kyc"})),
    ("GET", "/v1/me/wallet"): (my_wallet, frozenset({"wallet"})),
    ("GET", "/v1/me/topups"): (my_topups, frozenset()),
    ("POST", "/v1/me/topups"): (top_up, frozenset()),
    ("GET", "/v1/me/wallet/assets"): (wallet_assets, frozenset({"wallet"})),
    ("GET", "/v1/me/wallet/history"): (my_wallet_history, frozenset({"wallet"})),
    ("GET", "/v1/me/gift-cards"): (my_gift_cards, frozenset()),
    ("POST", "/v1/me/gift-cards/claim"): (claim_a_gift_card, frozenset()),
    ("POST", "/v1/me/vouchers/redeem"): (redeem_a_voucher, frozenset()),
    ("GET", "/v1/me/rewards"): (my_rewards, frozenset()),
    ("GET", "/v1/me/orders/{order_id}/rewards"): (my_order_rewards, frozenset()),
    ("GET", "/v1/me/tier"): (my_tier, frozenset()),
    ("GET", "/v1/me/achievements"): (my_achievements, frozenset()),
    ("GET", "/v1/me/prive"): (my_prive, frozenset()),
    ("POST", "/v1/me/prive/subscriptions"): (subscribe_to_prive, frozenset()),
    ("POST", "/v1/me/prive/subscriptions/{subscription_id}/cancel"): (cancel_prive, frozenset()),
    ("GET", "/v1/me/leaderboards/{metric}/{period}"): (my_standing, frozenset()),
    ("GET", "/v1/me/follows"): (my_follows, frozenset()),
    ("PUT", "/v1/me/follows/{user_id}"): (follow_a_user, frozenset()),
    ("DELETE", "/v1/me/follows/{user_id}"): (unfollow_a_user, frozenset()),
    ("POST", "/v1/me/steps"): (sync_my_steps, frozenset()),
    ("GET", "/v1/me/steps"): (my_steps, frozenset()),
    ("GET", "/v1/me/activity/summary"): (my_activity_summary, frozenset()),
    ("GET", "/v1/me/challenges"): (my_challenges, frozenset()),
    ("GET", "/v1/me/cashback"): (my_cashback, frozenset()),
    ("GET", "/v1/me/cashback/summary"): (my_cashback_summary, frozenset()),
    ("GET", "/v1/me/referrals"): (my_referrals, frozenset()),
    ("POST", "/v1/me/college"): (claim_a_college, frozenset()),
    ("GET", "/v1/me/college"): (my_college, frozenset()),
    ("POST", "/v1/me/ambassador"): (apply_as_ambassador, frozenset()),
    ("GET", "/v1/me/ambassador"): (my_ambassador, frozenset()),
    ("GET", "/v1/me/saved-offers"): (my_saved_offers, frozenset({"offers"})),
    ("PUT", "/v1/me/saved-offers/{offer_id}"): (save_an_offer, frozenset({"offers"})),
    ("DELETE", "/v1/me/saved-offers/{offer_id}"): (unsave_an_offer, frozenset({"offers"})),
    ("GET", "/v1/me/redemptions"): (my_redemptions, frozenset({"offers"})),
    ("GET", "/v1/me/partners"): (my_partners, frozenset({"partner"})),
    ("POST", "/v1/me/partners/{partner_id}/link"): (link_a_partner, frozenset({"partner"})),
    ("DELETE", "/v1/me/partners/{partner_id}/link"): (unlink_a_partner, frozenset({"partner"})),
    ("GET", "/v1/me/payout-methods"): (my_payout_methods, PAYOUTS),
    ("POST", "/v1/me/payout-methods"): (add_a_payout_method, PAYOUTS),
    ("POST", "/v1/me/payout-methods/{method_id}/verify"): (verify_a_payout_method, PAYOUTS),
    ("DELETE", "/v1/me/payout-methods/{method_id}"): (remove_a_payout_method, PAYOUTS),
    ("POST", "/v1/me/withdrawals/quote"): (quote_a_withdrawal, PAYOUTS),
    ("POST", "/v1/me/withdrawals"): (request_a_withdrawal, PAYOUTS),
    ("GET", "/v1/me/withdrawals"): (my_withdrawals, PAYOUTS),
    ("GET", "/v1/me/withdrawals/{withdrawal_id}"): (my_withdrawal, PAYOUTS),
    ("POST", "/v1/me/withdrawals/{withdrawal_id}/cancel"): (cancel_a_withdrawal, PAYOUTS),
    ("GET", "/v1/me/notifications"): (my_notifications, NOTIFICATIONS),
    ("GET", "/v1/me/notifications/unread-count"): (my_unread_count, NOTIFICATIONS),
    ("POST", "/v1/me/notifications/read-all"): (read_all_notifications, NOTIFICATIONS),
    ("GET", "/v1/me/notifications/{notification_id}"): (my_notification, NOTIFICATIONS),
    ("POST", "/v1/me/notifications/{notification_id}/read"): (read_a_notification,
                                                              NOTIFICATIONS),
    ("DELETE", "/v1/me/notifications/{notification_id}"): (delete_a_notification,
                                                           NOTIFICATIONS),
    ("GET", "/v1/me/notification-preferences"): (my_notification_preferences, NOTIFICATIONS),
    ("PUT", "/v1/me/notification-preferences"): (set_my_notification_preferences,
                                                 NOTIFICATIONS),
    ("POST", "/v1/me/tickets"): (open_a_ticket, TICKETS),
    ("GET", "/v1/me/tickets"): (my_tickets, TICKETS),
    ("GET", "/v1/me/tickets/{ticket_id}"): (my_ticket, TICKETS),
    ("POST", "/v1/me/tickets/{ticket_id}/messages"): (write_in_a_ticket, TICKETS),
    ("POST", "/v1/me/tickets/{ticket_id}/attachments"): (attach_to_a_ticket, TICKETS),
    ("GET", "/v1/me/tickets/{ticket_id}/attachments/{attachment_id}"): (a_tickets_attachment,
                                                                        TICKETS),
    ("POST", "/v1/me/tickets/{ticket_id}/rate"): (rate_a_ticket, TICKETS),
    ("POST", "/v1/me/tickets/{ticket_id}/reopen"): (reopen_a_ticket, TICKETS),
    ("POST", "/v1/auth/logout"): (logout, frozenset()),
    ("POST", "/v1/auth/logout-all"): (logout_all, EVERYTHING),
}


def test_every_subject_route_has_a_case(app: FastAPI) -> None:
    routes = {r for r in app_routes(app) if is_subject_route(*r)}
    assert routes - set(CASES) == set(), "routes without a cross-user case"
    assert set(CASES) - routes == set(), "cases for routes that are gone"


@pytest.mark.parametrize("route", list(CASES), ids=[f"{m} {p}" for m, p in CASES])
async def test_another_users_things_are_out_of_reach(
        client: httpx.AsyncClient, connection: AsyncConnection, session: AsyncSession,
        google: IdentityProvider, alice: SignedIn, bob: SignedIn,
        route: tuple[str, str]) -> None:
    case, needs = CASES[route]
    world = await build_world(client, connection, session, google, alice, bob, needs)
    bob_before = await world.bob_rows()
    await case(world)
    assert await world.bob_rows() == bob_before
    await world.bob_still_signed_in()


async def test_subject_routes_need_a_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = {"session_id": str(uuid.uuid4()), "address_id": str(uuid.uuid4()),
           "account_id": str(uuid.uuid4()), "device_id": "some-device"}
    for method, path in sorted(r for r in app_routes(app) if is_subject_route(*r)):
        url = fill(path, ids)
        r = await client.request(method, url, json={} if method != "GET" else None)
        assert_problem(r, 401, "unauthorized")


def fill(path: str, values: dict[str, str]) -> str:
    """`path` with its parameters from `values`; others get an id that names nothing."""
    return re.sub(r"\{(\w+)(:\w+)?\}",
                  lambda m: values.get(m.group(1)) or str(uuid.uuid4()), path)


async def test_a_user_token_opens_no_back_office_route(app: FastAPI, world: World) -> None:
    """Every /v1/admin route refuses a user with 403, whatever id is named: the answer for
    Bob's things is the answer for things that do not exist."""
    bobs = {"user_id": world.bob_id, "account_id": world.bob_account,
            "transfer_id": world.bob_transfer, "record_id": world.bob_kyc,
            "hold_id": str(uuid.uuid4()), "admin_id": str(uuid.uuid4()),
            "key_id": str(uuid.uuid4()), "code": "COIN", "name": "super_admin",
            "key": "referral_bonus"}
    nobody = {name: str(uuid.uuid4()) if _is_uuid(value) else "nothing_here"
              for name, value in bobs.items()}
    guarded = sorted(r for r in app_routes(app) if is_back_office_route(*r))
    assert ("GET", "/v1/admin/users/{user_id}") in guarded
    before = await snapshot(world.connection, exclude=("audit_log",))
    for method, path in guarded:
        answers = []
        for values in ((bobs, nobody) if "{" in path else (bobs,)):
            r = await world.client.request(method, fill(path, values),
                                           headers={**world.alice.headers,
                                                    "idempotency-key": "k1"},
                                           json={} if method != "GET" else None)
            problem = assert_problem(r, 403, "forbidden")
            answers.append((problem["code"], problem["detail"]))
        assert len(set(answers)) == 1, (method, path, answers)
    # Denials are audited on purpose; nothing else was written.
    assert await snapshot(world.connection, exclude=("audit_log",)) == before


# -- (2) OTP brute force and rate limits ------------------------------------------------------

def wrong_codes(right: str, n: int) -> list[str]:
    return [f"{(int(right) + i) % 1_000_000:06d}" for i in range(1, n + 1)]


async def otp_row(connection: AsyncConnection, phone: str) -> Any:
    return (await connection.execute(text(
        "SELECT attempts, consumed_at FROM otp_codes WHERE phone = :p"
        " ORDER BY created_at DESC, id DESC LIMIT 1"), {"p": phone})).one()


async def test_sixth_attempt_is_refused_even_with_the_right_code(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    phone = new_phone()
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = await last_code(connection, phone)
    for attempt, wrong in enumerate(wrong_codes(code, OTP_MAX_ATTEMPTS), start=1):
        r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": wrong})
        assert_problem(r, 401, "otp_invalid", "code")
        # Counted although the request failed: the refusal keeps what it wrote.
        assert (await otp_row(connection, phone)).attempts == attempt
    before = await snapshot(connection)
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code})
    assert_problem(r, 429, "otp_locked", "code")
    assert await snapshot(connection) == before
    assert await count(connection, "SELECT count(*) FROM users WHERE phone = :p", p=phone) == 0
    row = await otp_row(connection, phone)
    assert row.attempts == OTP_MAX_ATTEMPTS and row.consumed_at is None


async def test_a_new_code_after_a_lock_works_and_the_old_one_does_not(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    phone = new_phone()
    await client.post("/v1/auth/otp", json={"phone": phone})
    old = await last_code(connection, phone)
    for wrong in wrong_codes(old, OTP_MAX_ATTEMPTS):
        await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": wrong})
    clock.advance(dt.timedelta(seconds=31))
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    new = await last_code(connection, phone)
    if new != old:  # one in a million, the new code is the old one
        r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": old})
        assert_problem(r, 401, "otp_invalid", "code")
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": new})
    assert r.status_code == 200 and r.json()["created"] is True


async def test_a_code_is_spent_once_and_expires(client: httpx.AsyncClient,
                                                connection: AsyncConnection) -> None:
    rewind_clock()
    user = await sign_in(client, connection)
    code = await last_code(connection, user.phone)
    before = await snapshot(connection)
    r = await client.post("/v1/auth/otp/verify", json={"phone": user.phone, "code": code})
    assert_problem(r, 401, "otp_invalid", "code")
    assert await snapshot(connection) == before

    phone = new_phone()
    await client.post("/v1/auth/otp", json={"phone": phone})
    code = await last_code(connection, phone)
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code})
    assert_problem(r, 401, "otp_invalid", "code")
    assert await count(connection, "SELECT count(*) FROM users WHERE phone = :p", p=phone) == 0


async def test_codes_per_phone_are_limited(client: httpx.AsyncClient,
                                           connection: AsyncConnection) -> None:
    rewind_clock()
    phone = new_phone()
    limit, window = OTP_PER_PHONE
    for _ in range(limit):
        assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
        clock.advance(dt.timedelta(seconds=31))  # past the resend cooldown
    before = await snapshot(connection, exclude=("rate_limits",))
    r = await client.post("/v1/auth/otp", json={"phone": phone})
    problem = assert_problem(r, 429, "rate_limited")
    assert 0 < problem["retry_after"] <= window.total_seconds()
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    # The next window lets the phone ask again.
    clock.advance(window)
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202


async def test_codes_per_phone_are_limited_per_day(client: httpx.AsyncClient,
                                                   connection: AsyncConnection,
                                                   settings: Settings) -> None:
    """However slowly they are asked for: each is an SMS paid for."""
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2),
                                   dt.time(0), dt.UTC)
    clock.freeze(midnight)
    phone = new_phone()
    for _ in range(settings.otp_per_phone_per_day):
        assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
        clock.advance(OTP_PER_PHONE[1])  # a 15-minute window of its own, past the cooldown
    before = await snapshot(connection, exclude=("rate_limits",))
    problem = assert_problem(await client.post("/v1/auth/otp", json={"phone": phone}), 429,
                             "rate_limited")
    next_day = midnight + dt.timedelta(days=1)
    assert problem["retry_after"] == int((next_day - clock.now()).total_seconds())
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    # Another phone is not held back, and the next UTC day lets this one ask again.
    assert (await client.post("/v1/auth/otp", json={"phone": new_phone()})).status_code == 202
    clock.freeze(next_day)
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202


async def test_codes_per_ip_are_limited_across_phones(app: FastAPI, client: httpx.AsyncClient,
                                                      connection: AsyncConnection) -> None:
    rewind_clock()
    limit, _ = OTP_PER_IP
    for _ in range(limit):
        assert (await client.post("/v1/auth/otp", json={"phone": new_phone()})).status_code == 202
    before = await snapshot(connection, exclude=("rate_limits",))
    phone = new_phone()
    assert_problem(await client.post("/v1/auth/otp", json={"phone": phone}), 429, "rate_limited")
    # A forwarded-for header is not believed: it would make every request a new IP.
    r = await client.post("/v1/auth/otp", json={"phone": phone},
                          headers={"x-forwarded-for": "198.51.100.9"})
    assert_problem(r, 429, "rate_limited")
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    # The limit is per IP: another address still gets a code for the same phone.
    async with guarded_client(app, ("203.0.113.7", 4321)) as elsewhere:
        assert (await elsewhere.post("/v1/auth/otp", json={"phone": phone})).status_code == 202


async def test_resend_waits_for_the_cooldown(client: httpx.AsyncClient,
                                             connection: AsyncConnection) -> None:
    rewind_clock()
    phone = new_phone()
    r = await client.post("/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202 and r.json()["resend_after"] == 30
    before = await snapshot(connection, exclude=("rate_limits",))
    clock.advance(dt.timedelta(seconds=10))
    problem = assert_problem(await client.post("/v1/auth/otp", json={"phone": phone}), 429,
                             "otp_cooldown")
    assert 0 < problem["retry_after"] <= 21
    assert await snapshot(connection, exclude=("rate_limits",)) == before
    clock.advance(dt.timedelta(seconds=21))
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    assert await count(connection, "SELECT count(*) FROM sms_outbox WHERE phone = :p",
                       p=phone) == 2


# -- (3) refresh tokens and access tokens -----------------------------------------------------

async def test_refresh_token_reuse_revokes_the_whole_family(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    rewind_clock()
    first = await sign_in(client, connection)
    clock.advance(dt.timedelta(seconds=31))
    other = await sign_in(client, connection, first.phone)  # a second device: its own family
    r = await client.post("/v1/auth/refresh", json={"refresh_token": first.refresh})
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["refresh_token"] != first.refresh
    assert rotated["session_id"] == session_id(first)

    r = await client.post("/v1/auth/refresh", json={"refresh_token": first.refresh})
    assert_problem(r, 401, "refresh_token_reused", "refresh_token")
    # Kept although the request failed: every token of the family is revoked.
    statuses = (await connection.scalars(text(
        "SELECT DISTINCT status FROM auth_sessions WHERE family_id = :f"),
        {"f": session_id(first)})).all()
    assert statuses == ["revoked"]
    r = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(r, 401, "invalid_token", "refresh_token")
    for access in (first.access, rotated["access_token"]):
        assert_problem(await client.get("/v1/me", headers=bearer(access)), 401,
                       "invalid_credentials")
    # The other device's session is another family and goes on.
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200
    r = await client.post("/v1/auth/refresh", json={"refresh_token": other.refresh})
    assert r.status_code == 200


async def test_expired_tokens_are_refused(client: httpx.AsyncClient, connection: AsyncConnection,
                                          settings: Settings) -> None:
    rewind_clock()
    user = await sign_in(client, connection)
    clock.advance(dt.timedelta(minutes=settings.access_token_minutes) - dt.timedelta(seconds=5))
    assert (await client.get("/v1/me", headers=user.headers)).status_code == 200
    clock.advance(dt.timedelta(seconds=10))
    assert_problem(await client.get("/v1/me", headers=user.headers), 401, "invalid_token")
    clock.advance(dt.timedelta(days=settings.refresh_token_days))
    before = await snapshot(connection)
    r = await client.post("/v1/auth/refresh", json={"refresh_token": user.refresh})
    assert_problem(r, 401, "invalid_token", "refresh_token")
    assert await snapshot(connection) == before


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def forgeries(token: str, other_user: str, server_secret: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    as_other = b64(json.dumps({**claims, "sub": other_user}).encode())
    # A character in the middle of the signature: the last one may only carry padding bits.
    i = len(signature) // 2
    flipped = signature[:i] + ("A" if signature[i] != "A" else "B") + signature[i + 1:]
    none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "payload changed": f"{header}.{as_other}.{signature}",
        "signature changed": f"{header}.{payload}.{flipped}",
        "signature removed": f"{header}.{payload}.",
        "another secret": jwt.encode(claims, "not-the-server-secret-0123456789abcdef",
                                     algorithm="HS256"),
        # Signed with the server's own secret, but not as the server signs: refused too.
        "another algorithm": jwt.encode(claims, server_secret + "-padding-for-hs512-keys-0000",
                                        algorithm="HS512"),
        "no issuer": jwt.encode({k: v for k, v in claims.items() if k != "iss"}, server_secret,
                                algorithm="HS256"),
        "another issuer": jwt.encode({**claims, "iss": "someone-else"}, server_secret,
                                     algorithm="HS256"),
        "alg none": f"{none_header}.{payload}.",
        "alg none, other user": f"{none_header}.{as_other}.",
        "alg None": f"{b64(json.dumps({'alg': 'None', 'typ': 'JWT'}).encode())}.{payload}.",
        "garbage": "not-a-token",
        "empty": "",
    }


async def test_a_push_token_reaches_only_whoever_registered_it_last(
        client: httpx.AsyncClient, session: AsyncSession, alice: SignedIn,
        bob: SignedIn) -> None:
    """Bob signed out of the phone and Alice signed in on it: the app registers the phone's
    one push token again, and Bob's notifications must not follow her phone any more."""
    r = await client.put(f"/v1/me/devices/{BOB_DEVICE}", headers=bob.headers, json={
        "platform": "android", "push_token": BOB_PUSH_TOKEN})
    assert r.status_code == 200, r.text
    r = await client.put("/v1/me/devices/the-same-phone", headers=alice.headers, json={
        "platform": "android", "push_token": BOB_PUSH_TOKEN})
    assert r.status_code == 200 and r.json()["has_push_token"] is True
    r = await client.get("/v1/me/devices", headers=bob.headers)
    assert [(d["device_id"], d["has_push_token"]) for d in r.json()] == [(BOB_DEVICE, False)]
    assert await identity.push_destinations(session, uuid.UUID(bob.user["id"])) == []
    assert await identity.push_destinations(session, uuid.UUID(alice.user["id"])) == [
        ("android", BOB_PUSH_TOKEN)]
    # The same user sending it again for the same device keeps it.
    r = await client.put("/v1/me/devices/the-same-phone", headers=alice.headers, json={
        "platform": "android", "push_token": BOB_PUSH_TOKEN, "name": "Alice's phone"})
    assert r.json()["has_push_token"] is True


async def test_forged_access_tokens_are_refused(client: httpx.AsyncClient, alice: SignedIn,
                                                bob: SignedIn, settings: Settings) -> None:
    secret = settings.secret("secret_key")
    for name, token in forgeries(alice.access, bob.user["id"], secret).items():
        r = await client.get("/v1/me", headers=bearer(token))
        assert r.status_code == 401, (name, r.text)
        assert_problem(r, 401, r.json()["code"])
        assert r.json()["code"] in ("invalid_token", "unauthorized"), (name, r.json())
        assert alice.user["id"] not in r.text and bob.user["id"] not in r.text
    # The genuine token still works: the refusals were about the forgeries.
    r = await client.get("/v1/me", headers=alice.headers)
    assert r.status_code == 200 and r.json()["id"] == alice.user["id"]


async def test_made_up_refresh_tokens_are_refused(client: httpx.AsyncClient,
                                                  connection: AsyncConnection,
                                                  alice: SignedIn) -> None:
    before = await snapshot(connection)
    for token in (alice.refresh[:-1] + ("A" if alice.refresh[-1] != "A" else "B"),
                  alice.access[:200], "x" * 43):
        r = await client.post("/v1/auth/refresh", json={"refresh_token": token})
        assert_problem(r, 401, "invalid_token", "refresh_token")
    assert await snapshot(connection) == before


async def test_tokens_issued_after_the_clock_moved_are_accepted(
        client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    """Tests move the injectable clock forward (cooldowns, expiry); tokens issued then must
    work like any other, since their expiry is judged by the same clock."""
    clock.advance(dt.timedelta(minutes=2))
    user = await sign_in(client, connection)
    r = await client.get("/v1/me", headers=user.headers)
    assert r.status_code == 200, r.text


# -- (4) secrets and PII stay out of logs and error responses ---------------------------------

@pytest.fixture
def app_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The app's logging as configured in production (JSON, debug level), captured."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    app_logging.configure("debug", "json")
    # The app's handler writes to stderr; the same formatter writes to a buffer we can read
    # whichever stream pytest has swapped in. pytest's own handlers stay where they were.
    buffer = io.StringIO()
    ours = logging.StreamHandler(buffer)
    ours.setFormatter(root.handlers[0].formatter)
    root.handlers[:] = [*handlers, ours]

    def read() -> str:
        out = capsys.readouterr()  # anything printed rather than logged
        return buffer.getvalue() + out.out + out.err

    try:
        yield read
    finally:
        root.removeHandler(ours)
        root.setLevel(level)
        structlog.configure(**saved)


def without_noise(logs: str) -> str:
    """The logs without timestamps, durations, request ids and subject ids, whose digits
    could match a six-digit code by chance."""
    lines = []
    for line in logs.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        for key in ("timestamp", "ms", "request_id", "subject"):
            event.pop(key, None)
        lines.append(json.dumps(event))
    return "\n".join(lines)


PAN = "FGHIJ6789K"
BANK_ACCOUNT = "987654321012"
AADHAAR = "345678901234"


async def test_secrets_and_pii_stay_out_of_logs_and_errors(
        client: httpx.AsyncClient, connection: AsyncConnection,
        app_logs: Callable[[], str]) -> None:
    phone = new_phone()
    password = "correct-horse-battery-staple"
    errors: list[str] = []

    def failed(r: httpx.Response, status: int) -> None:
        assert r.status_code == status, r.text
        errors.append(r.text)

    # OTP sign-in: a wrong code, then the right one.
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = await last_code(connection, phone)
    failed(await client.post("/v1/auth/otp", json={"phone": phone}), 429)
    wrong = wrong_codes(code, 1)[0]
    failed(await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": wrong}), 401)
    r = await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200
    signed = r.json()
    h = bearer(signed["access_token"])
    failed(await client.post("/v1/auth/otp/verify", json={"phone": phone, "code": code}), 401)
    failed(await client.post("/v1/auth/otp", json={"phone": phone[:-4]}), 422)

    # Password: set, log in, then fail.
    assert (await client.patch("/v1/me", headers=h, json={"username": "pii_check"})
            ).status_code == 200
    assert (await client.put("/v1/me/password", headers=h, json={"new_password": password})
            ).status_code == 204
    r = await client.post("/v1/auth/password", json={"login": "pii_check", "password": password})
    assert r.status_code == 200
    failed(await client.post("/v1/auth/password",
                             json={"login": "pii_check", "password": password + "!"}), 401)
    failed(await client.put("/v1/me/password", headers=h,
                            json={"new_password": "short", "current_password": password}), 422)
    failed(await client.put("/v1/me/password", headers=h,
                            json={"new_password": password + "2", "current_password": "nope"}),
           401)

    # Refresh: rotate, then reuse.
    r = await client.post("/v1/auth/refresh", json={"refresh_token": signed["refresh_token"]})
    assert r.status_code == 200
    rotated = r.json()
    failed(await client.post("/v1/auth/refresh",
                             json={"refresh_token": signed["refresh_token"]}), 401)
    failed(await client.get("/v1/me", headers=bearer(rotated["access_token"])), 401)

    # KYC on a fresh session: refused variants, then accepted, then a duplicate.
    user = await sign_in(client, connection, new_phone())
    kyc = {"document_type": "aadhaar", "document_number": AADHAAR, "pan": PAN,
           "bank_account": BANK_ACCOUNT, "ifsc": "HDFC0001234", "upi_id": "pii@okhdfc"}
    failed(await client.post("/v1/me/kyc", headers=user.headers,
                             json={**kyc, "pan": PAN[:-1] + "1"}), 422)
    failed(await client.post("/v1/me/kyc", headers=user.headers,
                             json={**kyc, "document_number": "1" + AADHAAR[1:]}), 422)
    failed(await client.post("/v1/me/kyc", headers=user.headers,
                             json={**kyc, "bank_account": BANK_ACCOUNT + "x"}), 422)
    failed(await client.post("/v1/me/kyc", headers=user.headers,
                             json={**kyc, "ifsc": None}), 422)
    r = await client.post("/v1/me/kyc", headers=user.headers, json=kyc)
    assert r.status_code == 201
    assert PAN not in r.text and BANK_ACCOUNT not in r.text and AADHAAR not in r.text
    failed(await client.post("/v1/me/kyc", headers=user.headers, json=kyc), 409)

    logs = without_noise(app_logs())
    # The capture works: the requests above were logged.
    assert '"event": "request"' in logs and "/v1/auth/otp/verify" in logs
    secrets = {
        "otp code": code, "wrong otp code": wrong, "password": password,
        "refresh token": signed["refresh_token"], "rotated refresh": rotated["refresh_token"],
        "access token": signed["access_token"], "phone": phone, "national number": phone[3:],
        "other phone": user.phone, "pan": PAN, "bank account": BANK_ACCOUNT,
        "aadhaar": AADHAAR, "aadhaar tail": AADHAAR[4:],
    }
    for what, value in secrets.items():
        assert value not in logs, f"{what} appears in the logs"
        for body in errors:
            assert value not in body, f"{what} appears in an error response: {body}"
