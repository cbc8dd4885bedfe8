"""Demo data: live merchants with outlets in Mumbai and Bengaluru, an affiliate merchant, a
merchant owner who can sign in, a CMS page and a redirect.

The demo credentials are fixed so that they can be printed on every start; they are for a
local demo database only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit.demo import DataSet
from gullak.merchants import content, service
from gullak.merchants.schemas import (
    DocumentIn,
    Frequency,
    MerchantIn,
    MerchantUserIn,
    OutletIn,
    PageIn,
    RedirectIn,
    Role,
    Status,
    Tier,
)

DEMO_OWNER_EMAIL = "owner@bombaybrew.example"
DEMO_OWNER_PASSWORD = "demo-merchant-password"

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def daily(open_: str, close: str, **overrides: list[dict[str, str]]) -> dict[str, Any]:
    hours: dict[str, Any] = {day: [{"open": open_, "close": close}] for day in EVERY_DAY}
    hours.update(overrides)
    return hours


MERCHANTS: list[dict[str, Any]] = [
    {
        "merchant": MerchantIn(
            name="Bombay Brew House", legal_name="Bombay Brew House Private Limited",
            description="Single-origin coffee, all-day breakfast and late-night desserts.",
            city="Mumbai", tags=["cafe", "coffee", "breakfast"], gstin="27AABCB1234F1Z8",
            pan="AABCB1234F", fssai="11521998000123", package_tier=Tier.gold,
            commission_bps=800, settlement_frequency=Frequency.weekly, phone="+912226001234"),
        "outlets": [
            OutletIn(name="Bandra West", address="24 Hill Road, Bandra West", city="Mumbai",
                     postal_code="400050", latitude=19.0553, longitude=72.8301,
                     hours=daily("08:00", "23:00", fri=[{"open": "08:00", "close": "01:00"}],
                                 sat=[{"open": "09:00", "close": "01:00"}]),
                     features=["wifi", "outdoor seating", "pet friendly"]),
            OutletIn(name="Lower Parel", address="Kamala Mills Compound, Lower Parel",
                     city="Mumbai", postal_code="400013", latitude=18.9986, longitude=72.8265,
                     hours=daily("09:00", "22:30"), features=["wifi", "air conditioned"]),
        ],
        "owner": True,
    },
    {
        "merchant": MerchantIn(
            name="Koramangala Kitchen", description="South Indian meals and filter coffee.",
            city="Bengaluru", tags=["restaurant", "south indian", "vegetarian"],
            gstin="29AAFCK5678K1ZS", fssai="11219334000456", package_tier=Tier.silver,
            commission_bps=1000, settlement_frequency=Frequency.daily),
        "outlets": [
            OutletIn(name="Koramangala 5th Block", address="80 Feet Road, Koramangala 5th Block",
                     city="Bengaluru", postal_code="560095", latitude=12.9352,
                     longitude=77.6245,
                     hours=daily("07:00", "15:30", sun=[]) | {
                         day: [{"open": "07:00", "close": "15:30"},
                               {"open": "18:30", "close": "22:30"}]
                         for day in ("fri", "sat")},
                     features=["family seating", "takeaway"]),
            OutletIn(name="Indiranagar", address="100 Feet Road, Indiranagar", city="Bengaluru",
                     postal_code="560038", latitude=12.9719, longitude=77.6412,
                     hours=daily("07:30", "22:00"), features=["takeaway", "parking"]),
        ],
    },
    {
        "merchant": MerchantIn(
            name="Masala Mart", description="Groceries, spices and daily essentials.",
            city="Bengaluru", tags=["grocery", "essentials"], gstin="29AACCU8765R1Z5",
            package_tier=Tier.basic, commission_bps=300, settlement_frequency=Frequency.monthly),
        "outlets": [
            OutletIn(name="HSR Layout", address="27th Main Road, HSR Layout Sector 1",
                     city="Bengaluru", postal_code="560102", latitude=12.9116,
                     longitude=77.6474, hours=daily("06:00", "23:00"),
                     features=["home delivery"]),
            OutletIn(name="Andheri West", address="Lokhandwala Complex, Andheri West",
                     city="Mumbai", postal_code="400053", latitude=19.1364,
                     longitude=72.8296, hours=daily("07:00", "23:30"),
                     features=["home delivery", "parking"]),
        ],
    },
    {
        "merchant": MerchantIn(
            name="Urban Threads", description="Fashion for every day, delivered across India.",
            city="Mumbai", tags=["fashion", "online"], gstin="27AAGCM4321M1ZB",
            website="https://www.urbanthreads.example", affiliate_network="cuelinks",
            affiliate_id="UT-2041",
            tracking_url_template="https://track.urbanthreads.example/c?aff={affiliate_id}"
                                  "&click={click_id}&sub1={user_id}&sub2={offer_id}",
            default_cashback_bps=600, commission_bps=900, settlement_frequency=Frequency.monthly),
        "outlets": [],
    },
    {
        # FitKart's reward shop: its products are priced in coins (the catalog's demo feed).
        "merchant": MerchantIn(
            name="FitKart Rewards Store", legal_name="FitKart Fitness Private Limited",
            description="Fitness gear you can buy with the coins you earn.",
            city="Bengaluru", tags=["rewards", "fitness"], gstin="29AACCF7788K1ZT",
            pan="AACCF7788K", settlement_frequency=Frequency.monthly),
        "outlets": [],
    },
]


async def load(session: AsyncSession) -> None:
    for item in MERCHANTS:
        merchant = await service.create_merchant(session, item["merchant"], None)
        for outlet in item["outlets"]:
            await service.add_outlet(session, merchant.id, outlet, None)
        document = await service.add_document(session, merchant.id, DocumentIn(
            document_type="gstin", number=merchant.gstin,
            file_url=f"https://files.example/{merchant.slug}/gst-certificate.pdf"), None)
        await service.set_status(session, merchant.id, Status.documents_submitted, None, None)
        await service.review_document(session, merchant.id, document.id, True, None, None)
        await service.set_status(session, merchant.id, Status.verified, None, None)
        await service.set_status(session, merchant.id, Status.live, None, None)
        if item.get("owner"):
            await service.create_merchant_user(session, merchant.id, MerchantUserIn(
                email=DEMO_OWNER_EMAIL, name="Demo Owner", role=Role.owner,
                password=DEMO_OWNER_PASSWORD), None)
    await content.put_page(session, "about", PageIn(
        slug="about", title="About us", body="Rewards on every purchase, at every store.",
        published=True, seo_title="About Gullak",
        seo_description="Coins, cashback and offers from the stores you love."), None)
    await content.create_redirect(session, RedirectIn(source_path="/about-us", target="/about",
                                                      status_code=301), None)


DATA_SETS = (DataSet(
    "merchants", load, needs=("identity",),
    notes=(f"Merchant   {DEMO_OWNER_EMAIL} / {DEMO_OWNER_PASSWORD} (owner of Bombay Brew House;"
           " /merchant, or POST /v1/merchant/auth/login)",)),)
