"""Decisions taken in the console's queues, in Chromium: a merchant and its offer approved
until the public finds the offer, and a withdrawal that its maker may not approve."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from playwright.async_api import expect

from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.errors import AssetNotFound
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from gullak.merchants import service as merchants
from gullak.merchants.schemas import DocumentIn, MerchantIn, OutletIn, Status
from gullak.offers import service as offers
from gullak.offers.schemas import OfferIn, OfferType, ValueKind
from gullak.payouts import service as payouts
from gullak.payouts.schemas import WithdrawalIn, WithdrawalKind, WithdrawalPatch
from tests.helpers.admins import serial
from tests.helpers.browser import OpenTab, Site, Tab, admin_signs_in
from tests.helpers.users import sign_in as user_signs_in

REVIEWER = ("merchants.read", "merchants.review", "offers.read", "offers.review")
PAYOUTS = ("payouts.read", "payouts.review", "payouts.manage")


async def merchant_in_review(site: Site, word: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A merchant whose documents wait for the platform, with an outlet, and its offer (titled
    with `word`) submitted for approval: (merchant id, offer id)."""
    async with unit_of_work(site.db) as session:
        merchant = await merchants.create_merchant(session, MerchantIn(
            name=f"Falooda House {serial()}", city="Mumbai"), None)
        await merchants.add_outlet(session, merchant.id, OutletIn(
            name="Colaba", address="5 Causeway", city="Mumbai", latitude=18.92,
            longitude=72.83), None)
        await merchants.add_document(session, merchant.id, DocumentIn(
            document_type="shop_license", file_url="https://files.example/licence.pdf"), None)
        await merchants.set_status(session, merchant.id, Status.documents_submitted, None,
                                   None)
        now = clock.now()
        offer = await offers.create_offer(session, merchant.id, OfferIn(
            type=OfferType.discount_percent, title=f"Rose {word} at half price",
            discount_kind=ValueKind.percent, discount_value=5000,
            valid_from=now - dt.timedelta(hours=1), valid_until=now + dt.timedelta(days=30)),
            None)
        await offers.transition(session, offer.id, "submit", None)
    return merchant.id, offer.id


async def search(site: Site, word: str, limit: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=site.base) as client:
        r = await client.get("/v1/search", params={"q": word, "kinds": "offer", "limit": limit})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["hits"]
    return hits


async def approve(tab: Tab, path: str, reason: str = "Looked at every detail") -> int:
    """Opens a queue item and sends its Approve form (with a reason where it asks for one);
    the status of the answer."""
    assert (await tab.open(path)).status == 200
    form = tab.page.locator(f'form[action="{path}/approve"]')
    if await form.locator('textarea[name="reason"]').count():
        await form.locator('textarea[name="reason"]').fill(reason)
    async with tab.page.expect_navigation() as navigation:
        await form.get_by_role("button", name="Approve", exact=True).click()
    response = await navigation.value
    assert response is not None
    return response.status


async def test_an_approved_merchant_and_offer_are_found_by_the_public(site: Site,
                                                                      tab: Tab) -> None:
    word = f"falooda{uuid.uuid4().hex[:8]}"  # a word only this offer has
    merchant_id, offer_id = await merchant_in_review(site, word)
    assert await search(site, word, 5) == []  # not yet: neither is approved

    await admin_signs_in(tab, await site.admin(*REVIEWER))
    # One approval verifies the documents still pending and takes the merchant live.
    assert await approve(tab, f"/console/queues/merchants/{merchant_id}") == 200
    assert await site.scalar("SELECT status FROM merchants WHERE id = :m",
                             m=merchant_id) == "live"
    assert await approve(tab, f"/console/queues/offers/{offer_id}") == 200
    assert await site.scalar("SELECT status FROM offers WHERE id = :o", o=offer_id) == "active"

    hits = await search(site, word, 20)
    assert [(h["kind"], h["id"]) for h in hits] == [("offer", str(offer_id))]
    assert hits[0]["merchant_id"] == str(merchant_id)


async def withdrawal_edited_by(site: Site, maker: uuid.UUID) -> uuid.UUID:
    """A user's gift-voucher withdrawal in review, last edited by the admin `maker` (as PATCH
    /v1/admin/withdrawals/{id} does); its id."""
    async with httpx.AsyncClient(base_url=site.base) as client, \
            site.db.engine.connect() as connection:
        user = uuid.UUID((await user_signs_in(client, connection)).user["id"])
    async with unit_of_work(site.db) as session:
        try:
            await ledger.get_asset(session, "INR")
        except AssetNotFound:
            await ledger.create_asset(session, AssetIn(code="INR", name="Rupee",
                                                       kind=AssetKind.cash, scale=2))
    async with unit_of_work(site.db) as session:
        issuance = await ledger.platform_account(session, "INR", "issuance")
        wallet = await ledger.user_account(session, user, "INR")
        await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code="INR",
            amount=50_000, kind="cashback", reference_type="test", reference_id=str(user)))
        out, _ = await payouts.request(
            session, site.settings, "user", user,
            WithdrawalIn(amount=25_000, kind=WithdrawalKind.gift_voucher), f"browser-{user}",
            Subject("user", user))
        await payouts.edit(session, site.settings, out.id,
                           Subject("admin", maker, frozenset(PAYOUTS)),
                           WithdrawalPatch(reason="Checked against the user's history"))
    assert out.status == "review"
    return out.id


async def test_a_withdrawal_is_approved_by_another_admin_than_its_maker(
        site: Site, tab: Tab, open_tab: OpenTab) -> None:
    maker, checker = await site.admin(*PAYOUTS), await site.admin(*PAYOUTS)
    withdrawal = await withdrawal_edited_by(site, maker.id)
    path = f"/console/queues/withdrawals/{withdrawal}"

    await admin_signs_in(tab, maker)
    assert (await tab.open(path)).status == 200
    await expect(tab.page.get_by_role("note")).to_contain_text("another admin must approve")
    refused = await approve(tab, path)
    assert refused in (403, 409)
    await expect(tab.page.get_by_role("alert")).to_contain_text("another admin")
    assert await site.scalar("SELECT status FROM withdrawals WHERE id = :w",
                             w=withdrawal) == "review"
    assert await site.scalar("SELECT count(*) FROM withdrawal_decisions WHERE withdrawal_id = :w",
                             w=withdrawal) == 0

    other = await open_tab()
    await admin_signs_in(other, checker)
    assert await approve(other, path) == 200
    assert await site.scalar("SELECT status FROM withdrawals WHERE id = :w",
                             w=withdrawal) != "review"
    decided = await site.scalar(
        "SELECT admin_id FROM withdrawal_decisions WHERE withdrawal_id = :w"
        " AND decision = 'approve'", w=withdrawal)
    assert decided == checker.id
