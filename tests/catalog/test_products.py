"""Products: validation, images, variants, merchant users confined to their own products."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.catalog import errors, service
from gullak.catalog.schemas import CategoryIn, ImageIn, ProductIn, VariantIn
from gullak.merchants import service as merchants
from gullak.merchants.schemas import Status
from tests.helpers.catalog import (
    admin,
    ensure_assets,
    merchant_subject,
    new_merchant,
    product_in,
    state,
)
from tests.helpers.http import acting_as
from tests.helpers.merchants import go_live
from tests.helpers.problems import assert_problem

GIFT_CARD = {
    "sku": "AMZ-GC", "name": "Amazon Pay gift card", "price": 50_000,
    "variants": [
        {"sku": "AMZ-500", "name": "₹500", "cost_price": 48_500, "selling_price": 50_000,
         "face_value": 50_000, "stock": 10},
        {"sku": "AMZ-1000", "name": "₹1000", "cost_price": 97_000, "selling_price": 100_000,
         "face_value": 100_000, "stock": 5},
    ],
}


async def test_create_product_with_images_variants_and_defaults(
        app: FastAPI, session: AsyncSession, merchant_id: uuid.UUID,
        connection: AsyncConnection) -> None:
    subject = await merchant_subject(session, merchant_id, real=True)
    async with acting_as(app, subject) as api:
        r = await api.post("/v1/merchant/products", json={
            **GIFT_CARD, "original_price": 55_000, "attributes": {"brand": "Amazon"},
            "tags": ["Gift", "gift", "digital"],
            "images": [{"url": "https://img/1.png"}, {"url": "https://img/2.png"}]})
        assert r.status_code == 201, r.text
        body = r.json()
    assert body["merchant_id"] == str(merchant_id)
    assert body["slug"] == "amazon-pay-gift-card"
    assert body["city"] == (await session.scalar(text(
        "SELECT city FROM merchants WHERE id = :m"), {"m": merchant_id}))
    assert (body["asset_code"], body["status"], body["tags"]) == ("INR", "active",
                                                                  ["gift", "digital"])
    assert [(i["url"], i["position"]) for i in body["images"]] == [
        ("https://img/1.png", 0), ("https://img/2.png", 1)]
    assert [(v["sku"], v["cost_price"]) for v in body["variants"]] == [
        ("AMZ-500", 48_500), ("AMZ-1000", 97_000)]
    assert sorted((s["on_hand"], s["reserved"]) for s in body["stock"]) == [(5, 0), (10, 0)]
    audited = await connection.scalar(text(
        "SELECT count(*) FROM audit_log WHERE action = 'product.create' AND entity_id = :id"
        " AND actor_type = 'merchant_user'"), {"id": body["id"]})
    assert audited == 1


async def test_reward_product_priced_in_coins(session: AsyncSession,
                                              merchant_id: uuid.UUID) -> None:
    out = await service.create_product(session, merchant_id, product_in(
        "FK-BOTTLE", name="Steel bottle", price=1_200, asset_code="FITCOIN"), None)
    assert (out.price, out.asset_code) == (1_200, "FITCOIN")


@pytest.mark.parametrize(("patch", "status", "code", "field"), [
    ({"price": 2_000, "original_price": 1_000}, 422, "invalid_price", "original_price"),
    ({"price": -1}, 422, "validation_error", "price"),
    ({"price": 1.5}, 422, "validation_error", "price"),
    ({"asset_code": "NOPE"}, 422, "unknown_asset", "asset_code"),
    ({"sku": "SKU-TAKEN"}, 409, "sku_taken", "sku"),
    ({"slug": "taken-slug"}, 409, "slug_taken", "slug"),
    ({"slug": "Not A Slug"}, 422, "validation_error", "slug"),
    ({"category_id": str(uuid.uuid4())}, 404, "category_not_found", "category_id"),
    ({"category_id": "offer-only"}, 422, "category_not_for_products", "category_id"),
    ({"stock": -1}, 422, "validation_error", "stock"),
    ({"variants": [{"sku": "V", "name": "V", "cost_price": 600, "selling_price": 500}]},
     422, "invalid_variant_price", "cost_price"),
    ({"variants": [{"sku": "V", "name": "V", "cost_price": 1, "selling_price": 5}] * 2},
     422, "duplicate_variant_sku", "variants"),
    ({"variants": [{"sku": "V", "name": "V", "cost_price": 1, "selling_price": 5}],
      "stock": 3}, 422, "invalid_input", "stock"),
    ({"unknown": 1}, 422, "validation_error", "unknown"),
])
async def test_bad_products_are_refused_and_change_nothing(
        app: FastAPI, session: AsyncSession, merchant_id: uuid.UUID,
        connection: AsyncConnection, patch: dict[str, object], status: int, code: str,
        field: str) -> None:
    subject = await merchant_subject(session, merchant_id)
    await service.create_product(session, merchant_id, product_in(
        "SKU-TAKEN", slug="taken-slug"), None)
    offers_only = await service.create_category(session, CategoryIn(
        name="Deals", slug="deals", type="offer"), None)
    if patch.get("category_id") == "offer-only":
        patch = {**patch, "category_id": str(offers_only.id)}
    await session.commit()
    before = await state(connection)
    async with acting_as(app, subject) as api:
        r = await api.post("/v1/merchant/products",
                           json={"sku": "NEW-1", "name": "New thing", "price": 1_000, **patch})
        assert_problem(r, status, code, field)
    assert await state(connection) == before


async def test_the_database_refuses_bad_prices_too(session: AsyncSession,
                                                   merchant_id: uuid.UUID) -> None:
    out = await service.create_product(session, merchant_id, product_in(), None)
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(text(
                "UPDATE products SET original_price = price - 1 WHERE id = :id"), {"id": out.id})


async def test_update_checks_prices_against_the_stored_values(
        session: AsyncSession, merchant_id: uuid.UUID) -> None:
    from gullak.catalog.schemas import ProductPatch
    out = await service.create_product(session, merchant_id, product_in(
        price=800, original_price=1_000), None)
    with pytest.raises(errors.InvalidPrice):
        await service.update_product(session, out.id, ProductPatch(price=1_200), None)
    changed = await service.update_product(session, out.id, ProductPatch(
        price=1_200, original_price=None, name="Renamed"), None)
    assert (changed.price, changed.original_price, changed.name) == (1_200, None, "Renamed")


async def test_images_reorder_and_removal_keep_positions_dense(
        session: AsyncSession, merchant_id: uuid.UUID) -> None:
    out = await service.create_product(session, merchant_id, product_in(images=[
        ImageIn(url=f"https://img/{n}.png") for n in range(4)]), None)
    ids = [i.id for i in out.images]
    reordered = await service.reorder_images(session, out.id, [ids[3], ids[1], ids[0], ids[2]],
                                             None)
    assert [(i.id, i.position) for i in reordered.images] == [
        (ids[3], 0), (ids[1], 1), (ids[0], 2), (ids[2], 3)]
    removed = await service.remove_image(session, out.id, ids[1], None)
    assert [(i.id, i.position) for i in removed.images] == [(ids[3], 0), (ids[0], 1),
                                                            (ids[2], 2)]
    added = await service.add_image(session, out.id, ImageIn(url="https://img/new.png"), None)
    assert [i.position for i in added.images] == [0, 1, 2, 3]
    for bad in ([ids[3], ids[0]], [ids[3], ids[0], ids[2], ids[2]],
                [ids[3], ids[0], ids[2], uuid.uuid4()], [ids[3], ids[0], ids[1], ids[2]]):
        with pytest.raises(errors.InvalidReorder):
            await service.reorder_images(session, out.id, bad, None)


async def test_variants_keep_cost_below_selling_price(session: AsyncSession,
                                                      merchant_id: uuid.UUID) -> None:
    from gullak.catalog.schemas import VariantPatch
    out = await service.create_product(session, merchant_id, ProductIn.model_validate(GIFT_CARD),
                                       None)
    variant = out.variants[0]
    with pytest.raises(errors.InvalidVariantPrice):
        await service.update_variant(session, out.id, variant.id,
                                     VariantPatch(cost_price=variant.selling_price + 1), None)
    with pytest.raises(errors.SkuTaken):
        await service.add_variant(session, out.id, VariantIn(
            sku="AMZ-500", name="again", cost_price=1, selling_price=2), None)
    more = await service.add_variant(session, out.id, VariantIn(
        sku="AMZ-2000", name="₹2000", cost_price=195_000, selling_price=200_000), None)
    assert [v.sku for v in more.variants] == ["AMZ-500", "AMZ-1000", "AMZ-2000"]


async def test_merchant_users_see_and_touch_only_their_own_products(
        app: FastAPI, session: AsyncSession, merchant_id: uuid.UUID,
        connection: AsyncConnection) -> None:
    mine = await service.create_product(session, merchant_id, product_in("MINE", images=[
        ImageIn(url="https://img/a.png"), ImageIn(url="https://img/b.png")], stock=3), None)
    other_merchant = await new_merchant(session, "Other shop")
    theirs = await service.create_product(session, other_merchant, product_in(
        "THEIRS", images=[ImageIn(url="https://img/c.png")], stock=3), None)
    subject = await merchant_subject(session, merchant_id)
    await session.commit()
    before = await state(connection)
    image = theirs.images[0].id
    async with acting_as(app, subject) as api:
        listed = (await api.get("/v1/merchant/products")).json()
        assert [p["sku"] for p in listed["items"]] == ["MINE"]
        p = f"/v1/merchant/products/{theirs.id}"
        for method, path, body in [
            ("GET", p, None), ("PATCH", p, {"price": 1}), ("DELETE", p, None),
            ("POST", f"{p}/images", {"url": "https://x"}),
            ("PUT", f"{p}/images/order", {"image_ids": [str(image)]}),
            ("DELETE", f"{p}/images/{image}", None),
            ("POST", f"{p}/variants", {"sku": "V", "name": "V", "cost_price": 1,
                                       "selling_price": 2}),
            ("PUT", f"{p}/stock", {"on_hand": 100}),
        ]:
            r = await api.request(method, path, json=body)
            assert_problem(r, 404, "product_not_found")
        assert await state(connection) == before

        r = await api.patch(f"/v1/merchant/products/{mine.id}", json={"price": 9_000})
        assert r.json()["price"] == 9_000


async def test_an_unknown_category_filter_is_a_documented_404(
        app: FastAPI, session: AsyncSession, merchant_id: uuid.UUID,
        connection: AsyncConnection) -> None:
    subject = await merchant_subject(session, merchant_id)
    before = await state(connection)
    async with acting_as(app, subject) as api:
        r = await api.get("/v1/merchant/products", params={"category_id": str(uuid.uuid4())})
        assert_problem(r, 404, "category_not_found", "category_id")
    # A client generated from the document has a type for it.
    assert "404" in app.openapi()["paths"]["/v1/merchant/products"]["get"]["responses"]
    assert await state(connection) == before


async def test_staff_may_read_but_not_change_products(app: FastAPI, session: AsyncSession,
                                                      merchant_id: uuid.UUID) -> None:
    staff = await merchant_subject(session, merchant_id, role="staff", real=True)
    out = await service.create_product(session, merchant_id, product_in(), None)
    async with acting_as(app, staff) as api:
        assert (await api.get(f"/v1/merchant/products/{out.id}")).status_code == 200
        r = await api.patch(f"/v1/merchant/products/{out.id}", json={"price": 1})
        assert_problem(r, 403, "forbidden")
    async with acting_as(app, admin()) as api:  # not a merchant user at all
        r = await api.get("/v1/merchant/products")
        assert_problem(r, 403, "not_a_merchant_user")


async def test_public_reads_show_only_products_on_sale(app: FastAPI, session: AsyncSession,
                                                       merchant_id: uuid.UUID) -> None:
    from gullak.catalog.schemas import ProductPatch
    on_sale = [await service.create_product(session, merchant_id, product_in(f"S{n}"), None)
               for n in range(3)]
    hidden = await service.create_product(session, merchant_id, product_in("HIDDEN"), None)
    await service.update_product(session, hidden.id, ProductPatch(status="inactive"), None)
    await session.commit()
    gift = await service.create_product(session, merchant_id, ProductIn.model_validate(
        GIFT_CARD), None)
    await session.commit()
    async with acting_as(app, admin()) as api:
        assert (await api.get(f"/v1/products/{on_sale[0].id}")).status_code == 200
        shown = (await api.get(f"/v1/products/{gift.id}")).json()
        # Shoppers never see what the merchant pays, nor the raw stock counts.
        assert all("cost_price" not in v for v in shown["variants"])
        assert sorted(s["available"] for s in shown["stock"]) == [5, 10]
        assert all(set(s) == {"variant_id", "available"} for s in shown["stock"])
        assert_problem(await api.get(f"/v1/products/{hidden.id}"), 404, "product_not_found")
        page = (await api.get(f"/v1/merchants/{merchant_id}/products?limit=2")).json()
        assert [p["sku"] for p in page["items"]] == ["AMZ-GC", "S2"]
        rest = (await api.get(f"/v1/merchants/{merchant_id}/products?limit=2"
                              f"&cursor={page['next_cursor']}")).json()
        assert ([p["sku"] for p in rest["items"]], rest["next_cursor"]) == (["S1", "S0"], None)


async def test_the_public_sees_only_products_of_live_merchants(
        app: FastAPI, session: AsyncSession) -> None:
    await ensure_assets(session)
    pending = await new_merchant(session, "Pending shop", live=False)
    suspended = await new_merchant(session, "Suspended shop")
    products = {m: (await service.create_product(session, m, product_in(), None)).id
                for m in (pending, suspended)}
    await merchants.set_status(session, suspended, Status.suspended, "fraud check", None)
    await session.commit()
    async with acting_as(app, admin("catalog.products")) as api:
        for merchant_id, product_id in products.items():
            assert_problem(await api.get(f"/v1/products/{product_id}"), 404,
                           "product_not_found")
            page = (await api.get(f"/v1/merchants/{merchant_id}/products")).json()
            assert page == {"items": [], "next_cursor": None}
            # Admins still see every merchant's products through their own endpoint...
            page = (await api.get(f"/v1/admin/merchants/{merchant_id}/products")).json()
            assert [p["id"] for p in page["items"]] == [str(product_id)]
    # ...and merchant users their own.
    subject = await merchant_subject(session, suspended)
    async with acting_as(app, subject) as api:
        assert (await api.get(f"/v1/merchant/products/{products[suspended]}")).status_code == 200
        page = (await api.get("/v1/merchant/products")).json()
        assert [p["id"] for p in page["items"]] == [str(products[suspended])]
    # Once live, the same product is public.
    await go_live(session, pending)
    await session.commit()
    async with acting_as(app, admin()) as api:
        assert (await api.get(f"/v1/products/{products[pending]}")).status_code == 200
        page = (await api.get(f"/v1/merchants/{pending}/products")).json()
        assert [p["id"] for p in page["items"]] == [str(products[pending])]
