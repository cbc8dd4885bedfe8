"""The CouponAli profile: affiliate networks and the stores they track, with their cashback
rates and category commissions, coupons and deals, gift cards on sale, and a user whose clicks
came back as cashback (one pending, one confirmed) and who asked to withdraw the confirmed part,
through the services. CouponAli's seed gives no rows of its own; its tables and enums do."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import service as cashback
from gullak.cashback.schemas import NetworkIn
from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, ProductIn
from gullak.giftcards import service as giftcards
from gullak.giftcards.schemas import DesignIn
from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.merchants.schemas import CommissionIn, MerchantIn
from gullak.offers import service as offers
from gullak.payouts import methods, withdrawals
from gullak.payouts.providers.base import Verification
from gullak.payouts.schemas import MethodIn, MethodKind, WithdrawalIn
from gullak.profiles import Profile
from gullak.profiles.shops import go_live, publish_offers
from gullak.profiles.people import sign_up
from gullak.settings import get_settings

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000003ca"),
                   frozenset({"cashback.manage", "giftcards.manage"}))
RUPEE = 100  # paise
NETWORK, TOKEN = "ca-cuelinks", "couponali-demo-token-0001"
STATUS_MAP: dict[str, Literal["pending", "confirmed", "rejected"]] = {
    "approved": "confirmed", "declined": "rejected", "pending": "pending"}
ELECTRONICS = "couponali-electronics"
TRACKING = ("https://track.{host}/c?aff={{affiliate_id}}&click={{click_id}}&sub1={{user_id}}"
            "&sub2={{offer_id}}")

# Each: the store (an affiliate merchant), its category (slug) with the network's commission
# on it, and its coupons and deals (OfferIn fields but the window).
STORES: list[dict[str, Any]] = [
    {"store": MerchantIn(
        name="StyleBazaar", description="Fashion and footwear from 2,000 brands.",
        website="https://www.stylebazaar.example", tags=["fashion", "footwear", "online"],
        affiliate_network=NETWORK, affiliate_id="SB-7781",
        tracking_url_template=TRACKING.format(host="stylebazaar.example"),
        default_cashback_bps=700),
     "category": "fashion", "commission_bps": 900,
     "offers": [
         {"type": "coupon_code", "title": "Extra 15% off with STYLE15", "coupon_code": "STYLE15",
          "discount_kind": "percent", "discount_value": 1500, "max_discount": 600 * RUPEE,
          "tags": ["fashion", "coupon"]},
         {"type": "sale", "title": "Sneaker sale: up to 60% off", "tags": ["footwear", "sale"]},
     ]},
    {"store": MerchantIn(
        name="GadgetHub", description="Phones, laptops and accessories with next-day delivery.",
        website="https://www.gadgethub.example", tags=["electronics", "online"],
        affiliate_network=NETWORK, affiliate_id="GH-1204",
        tracking_url_template=TRACKING.format(host="gadgethub.example"),
        default_cashback_bps=300),
     "category": ELECTRONICS, "commission_bps": 400,
     "offers": [
         {"type": "coupon_code", "title": "₹500 off headphones above ₹2,999 with GADGET500",
          "coupon_code": "GADGET500", "discount_kind": "fixed", "discount_value": 500 * RUPEE,
          "min_order_value": 2_999 * RUPEE, "tags": ["electronics", "audio", "coupon"]},
         {"type": "cashback", "title": "6% cashback on laptops", "cashback_kind": "percent",
          "cashback_value": 600, "max_cashback": 3_000 * RUPEE, "tags": ["electronics"]},
     ]},
    {"store": MerchantIn(
        name="TravelNest", description="Flights, hotels and holiday packages.",
        website="https://www.travelnest.example", tags=["travel", "hotels", "online"],
        affiliate_network=NETWORK, affiliate_id="TN-0093",
        tracking_url_template=TRACKING.format(host="travelnest.example"),
        default_cashback_amount=150 * RUPEE),
     "category": "travel", "commission_bps": 500,
     "offers": [
         {"type": "deal", "title": "Flat ₹1,000 off domestic hotels above ₹5,000",
          "discount_kind": "fixed", "discount_value": 1_000 * RUPEE,
          "min_order_value": 5_000 * RUPEE, "tags": ["travel", "hotels"]},
     ]},
]
GIFT_CARD_VALUE = 1_000 * RUPEE
GIFT_CARD = {"sku": "GH-GIFT", "name": "GadgetHub gift card", "price": GIFT_CARD_VALUE,
             "tags": ["gift card"], "stock": 500}
SHOPPER_PHONE = "+919900030001"
# The shopper's purchases after clicking out, as the network reports them: (store, sale).
PURCHASES = [("StyleBazaar", 4_999 * RUPEE, "approved"), ("GadgetHub", 2_499 * RUPEE, "pending")]
WITHDRAWAL = 150 * RUPEE


async def _categories(session: AsyncSession) -> dict[str, uuid.UUID]:
    """The default tree's categories by slug, with CouponAli's electronics added."""
    def walk(nodes: list[Any]) -> dict[str, uuid.UUID]:
        return {k: v for n in nodes for k, v in ({n.slug: n.id} | walk(n.children)).items()}

    found = walk(await catalog.category_tree(session, include_inactive=True))
    if ELECTRONICS not in found:
        made = await catalog.create_category(session, CategoryIn(
            name="Electronics", slug=ELECTRONICS, display_order=200), None)
        found[ELECTRONICS] = made.id
    return found


async def load_stores(session: AsyncSession) -> None:
    await cashback.create_network(session, NetworkIn(
        code=NETWORK, name="Cuelinks (CouponAli)", auth_mode="token", secret=TOKEN,
        status_map=STATUS_MAP), PLATFORM)
    categories = await _categories(session)
    start = clock.now() - dt.timedelta(days=1)
    for item in STORES:
        category = categories[item["category"]]
        store = await merchants.create_merchant(
            session, item["store"].model_copy(update={"category_id": category}), None)
        await go_live(session, store.id, store.slug, "incorporation")
        await merchants.add_commission(session, store.id, CommissionIn(
            category_id=category, rate_bps=item["commission_bps"], valid_from=start), None)
        await publish_offers(session, store.id, category, item["offers"], start=start,
                             days=60)
        if store.name == "GadgetHub":
            card = await catalog.create_product(session, store.id, ProductIn.model_validate(
                {**GIFT_CARD, "category_id": categories["gift-cards"]}), None)
            await giftcards.create_design(session, DesignIn(
                product_id=card.id, face_value=GIFT_CARD_VALUE), PLATFORM)


async def load_shopper(session: AsyncSession) -> None:
    settings = get_settings()
    shopper = await sign_up(session, SHOPPER_PHONE, name="Meera Iyer",
                            email="meera.iyer@example.com", username="meera_ca")
    stores = {m.name: m for m in (await merchants.list_merchants(session, limit=200)).items}
    for n, (name, sale, said) in enumerate(PURCHASES, start=1):
        offer = (await offers.list_offers(session, merchant_id=stores[name].id)).items[0]
        click = await offers.record_click(session, offer.id, shopper.id, source="app",
                                          device_type="android")
        for word in ("pending", said):  # the network reports the sale, then its verdict
            body = json.dumps({"transaction_id": f"CA-DEMO-{n:04d}",
                               "click_id": str(click.click_id), "amount": sale,
                               "status": word}).encode()
            await cashback.receive_postback(session, NETWORK, {"content-type":
                                            "application/json"}, [("token", TOKEN)], body)
    added = await methods.add_method(session, settings, "user", shopper.id, MethodIn(
        kind=MethodKind.upi, holder_name="Meera Iyer", upi_id="meera.iyer@okhdfcbank"))
    await methods.record_verification(session, settings, added.id, "sandbox",
                                      Verification(True, "MEERA IYER", "sandbox_meera"))
    method = await methods.get_method(session, added.id)
    method.usable_from = clock.now()  # the demo skips the cooling-off, as the default demo does
    await session.flush()
    await withdrawals.request(session, settings, "user", shopper.id, WithdrawalIn(
        amount=max(WITHDRAWAL, settings.payout_min_amount), method_id=added.id),
        "profile:couponali:withdrawal", Subject("user", shopper.id))


PROFILE = Profile(name="couponali", title="CouponAli: affiliate stores, coupons, cashback,"
                  " gift cards and withdrawals", data_sets=(
    DataSet("couponali:stores", load_stores, needs=("catalog", "cashback", "offers",
                                                     "giftcards"),
            notes=(f"CouponAli  network {NETWORK}, token {TOKEN}: POST /v1/cashback/postbacks/"
                   f"{NETWORK}?token={TOKEN}; coupons STYLE15, GADGET500: GET /v1/offers",)),
    DataSet("couponali:shopper", load_shopper, needs=("couponali:stores", "identity",
                                                      "payouts"),
            notes=(f"CouponAli  shopper {SHOPPER_PHONE}: cashback pending and confirmed"
                   " (GET /v1/me/cashback), a withdrawal in review (GET /v1/me/withdrawals)",)),
))
