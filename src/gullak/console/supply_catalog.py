"""The catalog in the console: the category tree (catalog.manage, as the admin categories
API), and every merchant's products and product feeds (catalog.products, as the admin
products API)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.catalog.schemas import CategoryIn, CategoryOut, CategoryPatch, FeedUrlIn, ProductIn
from gullak.console import forms
from gullak.console.supply_forms import categories, category_choices, with_merchants
from gullak.console.tables import Column, Filter, choice, param, table, uuid_param
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.errors import InvalidInput
from gullak.merchants import service as merchants

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

TABS = (("/console/catalog", "Categories", "catalog.manage"),
        ("/console/catalog/products", "Products", "catalog.products"),
        ("/console/catalog/events", "Events", "events.manage"))
CATEGORY_TYPES = ("both", "product", "offer")
PRODUCT_STATUSES = ("active", "inactive", "archived")
CATEGORY_TEXT = ("name", "slug", "icon_url", "seo_title", "seo_description")
FEED_BYTES = 2 * 1024 * 1024
ASSET = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")


async def render(page: Page, template: str, current: str, **context: Any) -> Response:
    return await page.render(template, tabs=TABS, current=current, **context)


# -- categories -------------------------------------------------------------------------------

@router.get("/catalog")
async def category_tree(page: AdminPage) -> Response:
    await page.require("catalog.manage")
    return await render(page, "supply/categories.html", "/console/catalog", title="Catalog",
                        rows=await categories(page.session))


def _category_fields(form: forms.Form) -> dict[str, Any]:
    values: dict[str, Any] = {name: forms.text(form, name) for name in CATEGORY_TEXT}
    values.update(parent_id=forms.object_id(form, "parent_id"), type=forms.text(form, "type"),
                  display_order=forms.number(form, "display_order") or 0,
                  active=forms.checked(form, "active"))
    return values


def _category_values(category: CategoryOut | None, parent: str) -> dict[str, str]:
    if category is None:
        return {"parent_id": parent, "type": "both", "display_order": "0", "active": "1"}
    data = category.model_dump()
    values = {k: "" if data[k] is None else str(data[k])
              for k in (*CATEGORY_TEXT, "parent_id", "type", "display_order")}
    values["active"] = "1" if category.active else ""
    return values


async def _category_form(page: Page, category: CategoryOut | None, parent: str = "") -> Response:
    choices = [(value, label) for value, label in await category_choices(page.session)
               if category is None or value != str(category.id)]
    return await render(
        page, "supply/category_form.html", "/console/catalog", category=category,
        title=f"Category {category.name}" if category else "New category",
        values=_category_values(category, parent), parents=choices, types=CATEGORY_TYPES,
        action=f"/console/catalog/categories/{category.id}" if category
        else "/console/catalog/categories")


@router.get("/catalog/categories/new")
async def new_category(page: AdminPage) -> Response:
    await page.require("catalog.manage")
    parent = uuid_param(page, "parent")
    return await _category_form(page, None, str(parent) if parent else "")


@router.post("/catalog/categories")
async def create_category(page: AdminPage) -> Response:
    await page.require("catalog.manage")
    body = CategoryIn.model_validate(forms.given(_category_fields(await page.form())))
    out = await catalog.create_category(page.session, body, page.subject)
    return page.redirect("/console/catalog", flash=f"{out.name} was created.")


@router.get("/catalog/categories/{category_id}")
async def edit_category(category_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.manage")
    return await _category_form(page, await catalog.get_category(page.session, category_id))


@router.post("/catalog/categories/{category_id}")
async def update_category(category_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.manage")
    body = CategoryPatch.model_validate(_category_fields(await page.form()))
    out = await catalog.update_category(page.session, category_id, body, page.subject)
    return page.redirect("/console/catalog", flash=f"{out.name} was saved.")


@router.post("/catalog/categories/{category_id}/delete")
async def delete_category(category_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.manage")
    await catalog.delete_category(page.session, category_id, page.subject)
    return page.redirect("/console/catalog", flash="The category was deleted.")


# -- products ---------------------------------------------------------------------------------

@router.get("/catalog/products")
async def products(page: AdminPage) -> Response:
    await page.require("catalog.products")
    merchant_id, category_id = uuid_param(page, "merchant"), uuid_param(page, "category")
    status, q = choice(page, "status", PRODUCT_STATUSES), param(page, "q")
    cats = await category_choices(page.session)

    async def fetch(browse: Browse) -> Rows:
        return await with_merchants(page.session, await catalog.browse_products(
            page.session, browse, merchant_id=merchant_id, category_id=category_id,
            status=status, q=q))

    names = {key: label.lstrip("· ") for key, label in cats}
    merchant = await merchants.get_merchant(page.session, merchant_id) if merchant_id else None
    return await table(
        page, title="Products", fetch=fetch, default_sort="-created_at",
        template="supply/products.html", tabs=TABS, current="/console/catalog/products",
        merchant=merchant,
        columns=[Column("Product", lambda r: r.item.name,
                        link=lambda r: f"/console/catalog/products/{r.item.id}", sort="name"),
                 Column("SKU", lambda r: r.item.sku),
                 Column("Merchant", lambda r: r.merchant,
                        link=lambda r: f"/console/merchants/{r.item.merchant_id}"),
                 Column("Category", lambda r: names.get(str(r.item.category_id), "")),
                 Column("Price", lambda r: f"{r.item.price} {r.item.asset_code}", sort="price",
                        numeric=True),
                 Column("Status", lambda r: r.item.status),
                 Column("Created", lambda r: r.item.created_at, sort="created_at")],
        filters=[Filter("q", "Name"), Filter("merchant", "Merchant id"),
                 Filter("category", "Category", tuple(cats)),
                 Filter("status", "Status", tuple((s, s) for s in PRODUCT_STATUSES))])


@router.get("/catalog/products/new")
async def new_product(page: AdminPage) -> Response:
    await page.require("catalog.products")
    merchant_id = uuid_param(page, "merchant")
    merchant = await merchants.get_merchant(page.session, merchant_id) if merchant_id else None
    return await render(page, "supply/product_form.html", "/console/catalog/products",
                        title="New product", merchant=merchant,
                        values={"asset_code": "INR", "status": "active"},
                        categories=await category_choices(page.session))


@router.post("/catalog/products")
async def create_product(page: AdminPage) -> Response:
    await page.require("catalog.products")
    form = await page.form()
    merchant_id = forms.object_id(form, "merchant_id")
    if not isinstance(merchant_id, uuid.UUID):
        raise InvalidInput("Give the merchant's id.", field="merchant_id")
    image = forms.text(form, "image_url")
    body = ProductIn.model_validate(forms.given(
        sku=forms.text(form, "sku"), name=forms.text(form, "name"),
        slug=forms.text(form, "slug"), description=forms.text(form, "description"),
        price=forms.number(form, "price"), original_price=forms.number(form, "original_price"),
        asset_code=forms.text(form, "asset_code"),
        category_id=forms.object_id(form, "category_id"), tags=forms.comma_list(form, "tags"),
        city=forms.text(form, "city"), stock=forms.number(form, "stock"),
        status=forms.text(form, "status"), images=[{"url": image}] if image else None))
    out = await catalog.create_product(page.session, merchant_id, body, page.subject)
    return page.redirect(f"/console/catalog/products/{out.id}", flash=f"{out.name} was created.")


@router.get("/catalog/products/{product_id}")
async def product(product_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.products")
    out = await catalog.get_product(page.session, product_id)
    names = dict(await category_choices(page.session))
    return await render(page, "supply/product.html", "/console/catalog/products",
                        title=out.name, product=out,
                        merchant=await merchants.get_merchant(page.session, out.merchant_id),
                        category=names.get(str(out.category_id), "").lstrip("· "),
                        stock={s.variant_id: s for s in out.stock})


# -- a merchant's product feed ----------------------------------------------------------------

def feed_url(merchant_id: uuid.UUID) -> str:
    return f"/console/catalog/merchants/{merchant_id}/feed"


@router.get("/catalog/merchants/{merchant_id}/feed")
async def feed(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.products")
    merchant = await merchants.get_merchant(page.session, merchant_id)
    return await render(page, "supply/feed.html", "/console/catalog/products",
                        title=f"Product feed of {merchant.name}", merchant=merchant,
                        imports=await catalog.list_feed_imports(page.session, merchant_id, 20))


@router.post("/catalog/merchants/{merchant_id}/feed")
async def import_feed(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.products")
    form = await page.form()
    fmt, body = choice_of(form, "format", ("csv", "json")), form.get("body", "")
    if not body.strip():
        raise InvalidInput("Paste the feed's rows.", field="body")
    if len(body.encode()) > FEED_BYTES:
        raise InvalidInput("A pasted feed holds at most 2 MB; set a feed URL instead.",
                           field="body")
    asset = forms.text(form, "default_asset") or "INR"
    if not ASSET.match(asset):
        raise InvalidInput("An asset code is like INR.", field="default_asset")
    report = await catalog.import_feed(page.session, merchant_id, body, fmt,
                                       full=forms.checked(form, "full"), default_asset=asset,
                                       actor=page.subject)
    return page.redirect(feed_url(merchant_id), flash=(
        f"{report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{report.removed} removed, {report.unchanged} unchanged, {report.failed} failed."))


@router.post("/catalog/merchants/{merchant_id}/feed/source")
async def feed_source(merchant_id: uuid.UUID, page: AdminPage) -> Response:
    await page.require("catalog.products")
    form = await page.form()
    body = FeedUrlIn.model_validate(forms.given(url=forms.text(form, "url"),
                                               format=forms.text(form, "format"),
                                               full=forms.checked(form, "full")))
    await catalog.put_feed_source(page.session, merchant_id, body, page.subject)
    return page.redirect(feed_url(merchant_id), flash="The nightly feed URL was saved.")


def choice_of(form: forms.Form, name: str, allowed: tuple[str, ...]) -> str:
    value = forms.text(form, name) or ""
    if value not in allowed:
        raise InvalidInput(f"{name} is one of: {', '.join(allowed)}.", field=name)
    return value
