"""The ReZ profile: local merchants with outlets under ReZ's category tree, their coin offers
and deals, a privé plan with them as partners, partner colleges, and users with history (a
student ambassador, a friend she referred who redeemed an offer and reviewed the merchant),
through the services. ReZ's "Phase 2: Seed Data" names categories, loyalty tiers and partner
colleges; the default tiers already form the ladder, so the profile adds no second one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, CategoryNode
from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.security import Subject
from gullak.loyalty import service as loyalty
from gullak.loyalty.schemas import PartnerIn, PlanIn
from gullak.merchants import reviews
from gullak.merchants import service as merchants
from gullak.merchants.schemas import MerchantIn, OutletIn, UserReviewIn
from gullak.offers import service as offers
from gullak.offers.schemas import HoursWindow, RedeemIn
from gullak.profiles import Profile
from gullak.profiles.shops import go_live, publish_offers
from gullak.profiles.people import credit, sign_up
from gullak.referrals import service as referrals
from gullak.referrals.schemas import AmbassadorReviewIn, ClaimIn, CollegeIn, ReviewIn

PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000002e2"), frozenset({
    "loyalty.manage", "referrals.manage", "redemptions.manage"}))
RUPEE = 100  # paise

# slug: (name, type, parent slug); slugs are ReZ's own, beside the default tree.
CATEGORIES: dict[str, tuple[str, str, str | None]] = {
    "rez-dining": ("Dining", "both", None),
    "rez-cafes-bakeries": ("Cafés & bakeries", "both", "rez-dining"),
    "rez-street-food": ("Street food", "both", "rez-dining"),
    "rez-beauty-wellness": ("Beauty & wellness", "both", None),
    "rez-salons": ("Salons", "both", "rez-beauty-wellness"),
    "rez-spas": ("Spas", "both", "rez-beauty-wellness"),
    "rez-entertainment": ("Entertainment", "offer", None),
}
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours(open_: str, close: str) -> dict[str, Any]:
    return {day: [{"open": open_, "close": close}] for day in WEEK}


# Each: the merchant, its category slug, outlets and offers (OfferIn fields but the window).
MERCHANTS: list[dict[str, Any]] = [
    {"merchant": MerchantIn(
        name="Third Wave Bakehouse", city="Bengaluru", commission_bps=900,
        description="Sourdough, croissants and pour-over coffee, baked every morning.",
        tags=["bakery", "cafe", "coffee"], phone="+918041230001"),
     "category": "rez-cafes-bakeries",
     "outlets": [OutletIn(name="Jayanagar 4th Block", address="11th Main Road, Jayanagar",
                          city="Bengaluru", postal_code="560011", latitude=12.9299,
                          longitude=77.5826, hours=hours("07:30", "22:00"),
                          features=["wifi", "takeaway"])],
     "offers": [
         {"type": "bogo", "title": "Buy 1 get 1 croissant after 4 pm", "bogo_buy": 1,
          "bogo_get": 1, "hours": [HoursWindow(start="16:00", end="21:00")],
          "coins_required": 40, "tags": ["bakery", "evening"], "cities": ["Bengaluru"]},
         {"type": "discount_percent", "title": "15% off pour-over coffee for students",
          "discount_kind": "percent", "discount_value": 1500, "max_discount": 10_000,
          "segments": ["students"], "coins_earned": 15, "tags": ["coffee", "student"],
          "cities": ["Bengaluru"]},
     ]},
    {"merchant": MerchantIn(
        name="Dilli Chaat Corner", city="New Delhi", commission_bps=700,
        description="Aloo tikki, golgappe and papdi chaat from a Chandni Chowk family recipe.",
        tags=["street food", "chaat", "vegetarian"], phone="+911123450002"),
     "category": "rez-street-food",
     "outlets": [
         OutletIn(name="Connaught Place", address="N-Block, Connaught Place",
                  city="New Delhi", postal_code="110001", latitude=28.6315,
                  longitude=77.2167, hours=hours("11:00", "23:00"), features=["takeaway"]),
         OutletIn(name="Hauz Khas Village", address="Hauz Khas Village Road",
                  city="New Delhi", postal_code="110016", latitude=28.5535,
                  longitude=77.1940, hours=hours("12:00", "23:30"),
                  features=["outdoor seating"]),
     ],
     "offers": [
         {"type": "discount_fixed", "title": "Flat ₹40 off chaat platters above ₹250",
          "discount_kind": "fixed", "discount_value": 40 * RUPEE,
          "min_order_value": 250 * RUPEE, "coins_earned": 25, "branded_coins_earned": 10,
          "tags": ["chaat", "lunch"], "cities": ["New Delhi"], "per_user_limit": 3},
         {"type": "freebie", "title": "Free masala chaas for 20 ReZ coins",
          "freebie_item": "masala chaas", "coins_required": 20, "tags": ["drinks"],
          "cities": ["New Delhi"]},
     ]},
    {"merchant": MerchantIn(
        name="Glow Studio Salon", city="Mumbai", commission_bps=1200,
        description="Haircuts, colour and skin care by senior stylists.",
        tags=["salon", "beauty", "spa"], phone="+912226500003"),
     "category": "rez-salons",
     "outlets": [OutletIn(name="Powai", address="Hiranandani Gardens, Powai", city="Mumbai",
                          postal_code="400076", latitude=19.1176, longitude=72.9060,
                          hours=hours("10:00", "21:00"), features=["air conditioned"])],
     "offers": [
         {"type": "cashback", "title": "10% back in ReZ coins on any hair spa",
          "cashback_kind": "percent", "cashback_value": 1000, "max_cashback": 300,
          "min_order_value": 800 * RUPEE, "tags": ["salon", "hair spa"],
          "cities": ["Mumbai"]},
         {"type": "deal", "title": "Weekday grooming deal: haircut and beard trim ₹499",
          "weekdays": ["mon", "tue", "wed", "thu"], "tags": ["salon", "grooming"],
          "cities": ["Mumbai"]},
     ]},
]
PLAN = PlanIn(code="rez_prive_quarterly", name="ReZ Privé quarterly", price=499 * RUPEE,
              period_days=90, grace_days=5, multiplier_bp=17_500, discount_bp=1_500)
COLLEGES = [
    CollegeIn(name="St. Xavier's College, Mumbai", city="Mumbai", domain="xaviers.edu"),
    CollegeIn(name="Christ University", city="Bengaluru", domain="christuniversity.in"),
]
AMBASSADOR_PHONE, FRIEND_PHONE = "+919900020001", "+919900020002"
WELCOME = 300  # REZ coins each user starts with
ORDER_REF = "REZ-DEMO-0001"


async def load_categories(session: AsyncSession) -> None:
    ids: dict[str, uuid.UUID] = {}
    for order, (slug, (name, kind, parent)) in enumerate(CATEGORIES.items()):
        out = await catalog.create_category(session, CategoryIn(
            name=name, slug=slug, type=kind,  # type: ignore[arg-type]
            parent_id=ids[parent] if parent else None, display_order=100 + order), None)
        ids[slug] = out.id


async def load_merchants(session: AsyncSession) -> None:
    tree = await catalog.category_tree(session)
    slugs = {c.slug: c.id for c in _flatten(tree)}
    start = clock.now() - dt.timedelta(days=1)
    for item in MERCHANTS:
        category = slugs[item["category"]]
        data = item["merchant"].model_copy(update={"category_id": category})
        merchant = await merchants.create_merchant(session, data, None)
        for outlet in item["outlets"]:
            await merchants.add_outlet(session, merchant.id, outlet, None)
        await go_live(session, merchant.id, merchant.slug)
        await publish_offers(session, merchant.id, category, item["offers"], start=start,
                             days=90)


def _flatten(nodes: list[CategoryNode]) -> list[CategoryNode]:
    return [n for node in nodes for n in (node, *_flatten(node.children))]


async def load_programs(session: AsyncSession) -> None:
    await loyalty.create_plan(session, PLAN, PLATFORM)
    names = {str(item["merchant"].name) for item in MERCHANTS}
    for merchant in (await merchants.list_merchants(session, limit=200)).items:
        if merchant.name in names:
            await loyalty.add_partner(session, PLAN.code, PartnerIn(merchant_id=merchant.id),
                                      PLATFORM)
    for college in COLLEGES:
        await referrals.create_college(session, college, PLATFORM)


async def load_users(session: AsyncSession) -> None:
    """A verified student who became an ambassador; a friend she referred, who redeemed a
    coin offer at the chaat stall and reviewed it."""
    college = next(c for c in await referrals.list_colleges(session)
                   if c.name == COLLEGES[1].name)
    priya = await sign_up(session, AMBASSADOR_PHONE, name="Priya Nair",
                          email="priya.nair@christuniversity.in", username="priya_rez")
    await credit(session, priya.id, "REZ", WELCOME, source="issuance", kind="earn",
                 reference="rez:welcome")
    claim = await referrals.claim_college(session, priya.id, ClaimIn(
        college_id=college.id, student_id_number="CU2291045",
        document_ref="student-ids/priya-nair.jpg"))
    await referrals.review_claim(session, claim.id, ReviewIn(decision="approve"), PLATFORM)
    applied = await referrals.apply(session, priya.id)
    await referrals.review_ambassador(session, applied.id, AmbassadorReviewIn(
        decision="approve", commission_amount=75 * RUPEE), PLATFORM)

    arjun = await sign_up(session, FRIEND_PHONE, name="Arjun Rao", email="arjun.rao@example.com",
                          username="arjun_rez", referral_code=priya.referral_code)
    await credit(session, arjun.id, "REZ", WELCOME, source="issuance", kind="earn",
                 reference="rez:welcome")
    stall = (await merchants.list_merchants(session, q="Dilli Chaat Corner")).items[0]
    chaas = next(o for o in (await offers.list_offers(session, merchant_id=stall.id)).items
                 if o.type == "freebie")
    outlet = (await merchants.list_outlets(session, stall.id))[0]
    redemption, _ = await offers.redeem(session, chaas.id, arjun.id, RedeemIn(
        amount=180 * RUPEE, outlet_id=outlet.id, order_ref=ORDER_REF),
        idempotency_key="profile:rez:redemption")
    await offers.complete(session, redemption.id, PLATFORM)
    await reviews.create_review(session, arjun.id, stall.id, UserReviewIn(
        order_id=ORDER_REF, outlet_id=outlet.id, rating=5,
        sub_ratings={"food": 5, "service": 4, "value": 5},
        comment="Crisp golgappe, tangy papdi chaat, and the chaas was on the house."))


PROFILE = Profile(name="rez", title="ReZ: local merchants, coin offers, privé and students",
                  data_sets=(
    DataSet("rez:categories", load_categories, needs=("catalog",)),
    DataSet("rez:merchants", load_merchants, needs=("rez:categories", "merchants", "offers"),
            notes=("ReZ        merchants in Bengaluru, New Delhi and Mumbai with coin offers:"
                   " GET /v1/search?q=chaat, GET /v1/offers?city=New%20Delhi",)),
    DataSet("rez:programs", load_programs, needs=("rez:merchants", "loyalty", "referrals")),
    DataSet("rez:users", load_users, needs=("rez:programs", "identity", "rewards"),
            notes=(f"ReZ        student ambassador {AMBASSADOR_PHONE}, her referred friend"
                   f" {FRIEND_PHONE} (a redeemed offer and a review): POST /v1/auth/otp",)),
))
