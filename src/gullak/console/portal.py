"""The merchant portal: a merchant's own users run their shop here, through the same service
calls and permissions as the merchant API (/v1/merchant/...). Every read and write is scoped
to the merchant the signed-in user acts for; another merchant's object is not found.

This module holds the overview (onboarding status, documents, counts) and mounts the rest:
the shop (outlets, products), offers and redemptions, sales (orders, reviews, settlements) and
the team."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.console import portal_offers, portal_sales, portal_shop, portal_team
from gullak.console.forms import posted
from gullak.console.portal_forms import merchant_id
from gullak.console.web import ConsoleRoute, MerchantPage
from gullak.merchants import service as merchants
from gullak.merchants.schemas import DocumentIn, Status
from gullak.offers import service as offers
from gullak.orders import service as orders

router = APIRouter(prefix="/merchant", route_class=ConsoleRoute, include_in_schema=False)
for part in (portal_shop, portal_offers, portal_sales, portal_team):
    router.include_router(part.router)

COUNT_UP_TO = 100  # the overview counts this far, then says "100+"


def _count(rows: list[object]) -> str:
    return f"{COUNT_UP_TO}+" if len(rows) > COUNT_UP_TO else str(len(rows))


@router.get("")
async def overview(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    merchant = await merchants.get_merchant(page.session, mine)
    limit = COUNT_UP_TO + 1
    counts = {
        "Outlets": str(len(await merchants.list_outlets(page.session, mine))),
        "Products on sale": _count(list((await catalog.list_products(
            page.session, mine, limit=limit)).items)),
    }
    for status in ("active", "pending", "draft", "paused"):
        found = await offers.list_offers(page.session, merchant_id=mine, status=status,
                                         limit=limit)
        counts[f"Offers {status}"] = _count(list(found.items))
    if page.can("merchant.orders.read"):
        paid = await orders.list_orders(page.session, merchant_id=mine, status="paid",
                                        limit=limit)
        counts["Orders to confirm"] = _count(list(paid.items))
    return await page.render(
        "portal/overview.html", title="Overview", merchant=merchant, tallies=counts,
        documents=await merchants.list_documents(page.session, mine),
        document_types=sorted(merchants.DOCUMENT_TYPES),
        can_submit=merchant.status == Status.pending.value)


@router.post("/documents")
async def add_document(page: MerchantPage) -> Response:
    await page.require("merchant.documents.manage")
    data = DocumentIn.model_validate(
        posted(await page.form(), ("document_type", "number", "file_url")))
    await merchants.add_document(page.session, merchant_id(page), data, page.subject)
    return page.redirect("/merchant", flash="Document added.")


@router.post("/submit")
async def submit_for_review(page: MerchantPage) -> Response:
    """Onboarding: the uploaded documents go to the platform's review (as POST
    /v1/merchant/submit)."""
    await page.require("merchant.documents.manage")
    await merchants.set_status(page.session, merchant_id(page), Status.documents_submitted,
                               None, page.subject)
    return page.redirect("/merchant", flash="Submitted for review.")
