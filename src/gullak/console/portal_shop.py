"""The merchant portal's shop: outlets with their opening hours, and products with their
variants and stock (as /v1/merchant/outlets and /v1/merchant/products)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gullak.catalog import service as catalog
from gullak.catalog.schemas import (
    CategoryNode,
    ProductIn,
    ProductOut,
    ProductPatch,
    StockIn,
    VariantIn,
)
from gullak.console.forms import amount, joined, posted
from gullak.console.portal_forms import WEEKDAYS, merchant_id, newest_first
from gullak.console.tables import Column, Filter, choice, table
from gullak.console.web import ConsoleRoute, MerchantPage
from gullak.kit.browse import Browse
from gullak.kit.browse import Page as Rows
from gullak.kit.ids import parse_cursor
from gullak.merchants import errors as merchant_errors
from gullak.merchants import service as merchants
from gullak.merchants.schemas import OutletIn, OutletOut

router = APIRouter(route_class=ConsoleRoute)
SLOTS = (1, 2)  # opening windows per weekday on the form (a lunch break makes two)
OUTLET_FIELDS = ("name", "address", "city", "state", "postal_code", "phone", "latitude",
                 "longitude", "timezone", "features", "active")
PRODUCT_STATUSES = ("active", "inactive", "archived")


# -- outlets ----------------------------------------------------------------------------------

def _hours(outlet: OutletOut) -> str:
    days = [f"{day} " + ", ".join(f"{r.open}-{r.close}" for r in outlet.hours[day])
            for day in WEEKDAYS if outlet.hours.get(day)]
    return "; ".join(days) or "closed"


def outlet_in(form: Mapping[str, str]) -> OutletIn:
    values = posted(form, OUTLET_FIELDS, lists=("features",), flags=("active",),
                    keep=("timezone",))
    hours: dict[str, list[dict[str, str]]] = {}
    for day in WEEKDAYS:
        for slot in SLOTS:
            opens = form.get(f"{day}_open_{slot}", "").strip()
            closes = form.get(f"{day}_close_{slot}", "").strip()
            if opens or closes:  # half a window is sent as is, for the service to refuse
                hours.setdefault(day, []).append({"open": opens, "close": closes})
    return OutletIn.model_validate({**values, "hours": hours})


def _outlet_values(outlet: OutletOut | None) -> dict[str, Any]:
    """The form's fields as they stand (a new outlet: open 09:00-21:00 every day)."""
    if outlet is None:
        return {"active": True, "timezone": "Asia/Kolkata",
                **{f"{day}_{edge}_1": time for day in WEEKDAYS
                   for edge, time in (("open", "09:00"), ("close", "21:00"))}}
    values: dict[str, Any] = outlet.model_dump(include=set(OUTLET_FIELDS))
    values["features"] = joined(outlet.features)
    for day, ranges in outlet.hours.items():
        for slot, window in zip(SLOTS, ranges, strict=False):
            values[f"{day}_open_{slot}"], values[f"{day}_close_{slot}"] = window.open, window.close
    return values


async def _own_outlet(page: MerchantPage, outlet_id: uuid.UUID) -> OutletOut:
    outlet = await merchants.get_outlet(page.session, outlet_id)
    if outlet.merchant_id != merchant_id(page):
        raise merchant_errors.OutletNotFound()
    return outlet


@router.get("/outlets")
async def outlets(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)

    async def fetch(browse: Browse) -> Rows:
        rows = await merchants.list_outlets(page.session, mine)  # a few per merchant, all at once
        return Rows(rows if browse.sort == "id" else rows[::-1], None)

    return await table(page, title="Outlets", fetch=fetch, default_sort="id", columns=[
        Column("Name", lambda o: o.name, link=lambda o: f"/merchant/outlets/{o.id}"),
        Column("City", lambda o: o.city), Column("Address", lambda o: o.address),
        Column("Hours", _hours), Column("Active", lambda o: "yes" if o.active else "no"),
    ], template="portal/outlets.html")


@router.get("/outlets/new")
async def new_outlet(page: MerchantPage) -> Response:
    await page.require("merchant.outlets.manage")
    return await page.render("portal/outlet.html", title="New outlet", outlet=None,
                             values=_outlet_values(None), weekdays=WEEKDAYS, slots=SLOTS)


@router.post("/outlets")
async def create_outlet(page: MerchantPage) -> Response:
    await page.require("merchant.outlets.manage")
    data = outlet_in(await page.form())
    out = await merchants.add_outlet(page.session, merchant_id(page), data, page.subject)
    return page.redirect(f"/merchant/outlets/{out.id}", flash="Outlet added.")


@router.get("/outlets/{outlet_id}")
async def outlet(outlet_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.read")
    found = await _own_outlet(page, outlet_id)
    return await page.render("portal/outlet.html", title=found.name, outlet=found,
                             values=_outlet_values(found), weekdays=WEEKDAYS, slots=SLOTS)


@router.post("/outlets/{outlet_id}")
async def update_outlet(outlet_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.outlets.manage")
    data = outlet_in(await page.form())
    await merchants.update_outlet(page.session, merchant_id(page), outlet_id, data,
                                  page.subject)
    return page.redirect(f"/merchant/outlets/{outlet_id}", flash="Outlet saved.")


# -- products ---------------------------------------------------------------------------------

def _stock(product: ProductOut) -> str:
    if not product.stock:
        return "not counted"
    return str(sum(s.available for s in product.stock))


def _flatten(nodes: list[CategoryNode], depth: int = 0) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for node in nodes:
        found.append((str(node.id), "· " * depth + node.name))
        found += _flatten(node.children, depth + 1)
    return found


async def _categories(page: MerchantPage) -> list[tuple[str, str]]:
    return _flatten(await catalog.category_tree(page.session, type="product"))


@router.get("/products")
async def products(page: MerchantPage) -> Response:
    await page.require("merchant.read")
    mine = merchant_id(page)
    status = choice(page, "status", PRODUCT_STATUSES)

    async def listing(cursor: str | None, limit: int) -> tuple[list[ProductOut], str | None]:
        found = await catalog.list_products(
            page.session, mine, statuses=[status] if status else ("active", "inactive"),
            cursor=parse_cursor(cursor), limit=limit)
        return found.items, found.next_cursor

    return await table(page, title="Products", fetch=newest_first(listing), columns=[
        Column("SKU", lambda p: p.sku, link=lambda p: f"/merchant/products/{p.id}"),
        Column("Name", lambda p: p.name), Column("Status", lambda p: p.status),
        Column("Price", lambda p: amount(p.price, p.asset_code), numeric=True),
        Column("Available", _stock, numeric=True),
    ], filters=[Filter("status", "Status", tuple((s, s) for s in PRODUCT_STATUSES))],
        template="portal/products.html")


@router.get("/products/new")
async def new_product(page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    return await page.render("portal/product_new.html", title="New product",
                             categories=await _categories(page))


@router.post("/products")
async def create_product(page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    data = ProductIn.model_validate(posted(
        await page.form(), ("sku", "name", "description", "price", "original_price",
                            "asset_code", "category_id", "tags", "city", "stock", "status"),
        ints=("price", "original_price", "stock"), lists=("tags",),
        keep=("asset_code", "status")))
    out = await catalog.create_product(page.session, merchant_id(page), data, page.subject)
    return page.redirect(f"/merchant/products/{out.id}", flash="Product added.")


@router.get("/products/{product_id}")
async def product(product_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.read")
    found = await catalog.get_product(page.session, product_id, merchant_id=merchant_id(page))
    names = {v.id: f"{v.name} ({v.sku})" for v in found.variants}
    return await page.render("portal/product.html", title=found.name, product=found,
                             variant_names=names, categories=await _categories(page),
                             status_choices=[(s, s) for s in PRODUCT_STATUSES],
                             amount=amount)


@router.post("/products/{product_id}")
async def update_product(product_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    data = ProductPatch.model_validate(posted(
        await page.form(), ("name", "description", "price", "original_price", "category_id",
                            "tags", "city", "status"),
        ints=("price", "original_price"), lists=("tags",), keep=("name", "price", "status")))
    await catalog.update_product(page.session, product_id, data, page.subject,
                                 merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/products/{product_id}", flash="Product saved.")


@router.post("/products/{product_id}/stock")
async def set_stock(product_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    data = StockIn.model_validate(posted(await page.form(), ("variant_id", "on_hand"),
                                         ints=("on_hand",)))
    out = await catalog.set_stock(page.session, product_id, data, page.subject,
                                  merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/products/{product_id}",
                         flash=f"Stock set: {out.on_hand} on hand, {out.available} available.")


@router.post("/products/{product_id}/variants")
async def add_variant(product_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    data = VariantIn.model_validate(posted(
        await page.form(), ("sku", "name", "cost_price", "selling_price", "stock"),
        ints=("cost_price", "selling_price", "stock")))
    await catalog.add_variant(page.session, product_id, data, page.subject,
                              merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/products/{product_id}", flash="Variant added.")


@router.post("/products/{product_id}/archive")
async def archive_product(product_id: uuid.UUID, page: MerchantPage) -> Response:
    await page.require("merchant.catalog.manage")
    await catalog.archive_product(page.session, product_id, page.subject,
                                  merchant_id=merchant_id(page))
    return page.redirect(f"/merchant/products/{product_id}", flash="Product archived.")
