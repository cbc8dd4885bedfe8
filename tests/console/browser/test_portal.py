"""The merchant portal in Chromium: a merchant's user signs in, creates an offer through the
form, and sees its own orders only."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from playwright.async_api import expect

from gullak.catalog import service as catalog
from gullak.catalog.schemas import ProductIn
from gullak.db.uow import unit_of_work
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind, TransferIn
from gullak.orders import flows
from gullak.orders.pricing import Policy
from gullak.orders.schemas import ItemIn, OrderIn
from tests.helpers.admins import serial
from tests.helpers.browser import Site, Tab, merchant_signs_in
from tests.helpers.offers import live_merchant


async def shop_with_order(site: Site, coin: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A live merchant selling a towel for `coin`, and a user's order of it (paid in the
    coin, no gateway): (merchant id, order id, order number)."""
    user = uuid.uuid4()
    async with unit_of_work(site.db) as session:
        merchant_id, _ = await live_merchant(session, f"Towel Shop {serial()}")
        towel = await catalog.create_product(session, merchant_id, ProductIn(
            sku="TOWEL", name="Gym towel", price=300, asset_code=coin, stock=5), None)
        issuance = await ledger.platform_account(session, coin, "issuance")
        wallet = await ledger.user_account(session, user, coin)
        await ledger.transfer(session, TransferIn(
            debit_account_id=issuance.id, credit_account_id=wallet.id, asset_code=coin,
            amount=1_000, kind="earn", reference_type="test", reference_id=str(user)))
        order, _ = await flows.place_order(session, Subject("user", user), OrderIn(
            merchant_id=merchant_id, items=[ItemIn(product_id=towel.id, quantity=1)]),
            Policy())
    return merchant_id, order.id, order.number


async def test_a_merchant_user_creates_an_offer_and_sees_only_its_orders(site: Site,
                                                                        tab: Tab) -> None:
    coin = f"T{uuid.uuid4().hex[:5].upper()}"
    async with unit_of_work(site.db) as session:
        await ledger.create_asset(session, AssetIn(code=coin, name="Towel coins",
                                                   kind=AssetKind.coin, scale=0))
    mine, my_order, my_number = await shop_with_order(site, coin)
    _, their_order, their_number = await shop_with_order(site, coin)

    await merchant_signs_in(tab, await site.merchant_user(mine))
    assert urlparse(tab.page.url).path == "/merchant"

    title = f"Free towel with every {uuid.uuid4().hex[:6]} visit"
    assert (await tab.open("/merchant/offers/new")).status == 200
    form = tab.page.locator('form[action="/merchant/offers"]')
    await form.locator('select[name="type"]').select_option("discount_percent")
    await form.locator('input[name="title"]').fill(title)
    await form.locator('select[name="discount_kind"]').select_option("percent")
    await form.locator('input[name="discount_value"]').fill("1500")  # 15 %
    response = await tab.submit("Create offer")
    assert response is not None and response.status == 200, await tab.page.content()
    await expect(tab.page.get_by_role("heading", name=title)).to_be_visible()
    created = await site.scalar(
        "SELECT status FROM offers WHERE merchant_id = :m AND title = :t", m=mine, t=title)
    assert created == "draft"

    assert (await tab.open("/merchant/orders")).status == 200
    listed = tab.page.locator("main, .main")
    await expect(listed.get_by_text(my_number)).to_be_visible()
    await expect(listed.get_by_text(their_number)).to_have_count(0)
    assert (await tab.open(f"/merchant/orders/{my_order}")).status == 200
    response = await tab.open(f"/merchant/orders/{their_order}")
    assert response.status == 404
    await expect(tab.page.get_by_text(their_number)).to_have_count(0)
