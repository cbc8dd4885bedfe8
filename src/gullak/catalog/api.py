"""Catalog HTTP API: public reads, merchant users' products, admin categories and events,
and stock reservations for checkout."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from gullak.catalog import jobs, service
from gullak.catalog.schemas import (
    CancelIn,
    CategoryIn,
    CategoryNode,
    CategoryOut,
    CategoryPatch,
    EventIn,
    EventOut,
    EventPatch,
    EventStatus,
    FeedReportOut,
    FeedUrlIn,
    ImageIn,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ProductStatus,
    PublicProductOut,
    PublicProductPage,
    ReorderIn,
    ReservationOut,
    ReserveIn,
    Segment,
    StockIn,
    StockOut,
    VariantIn,
    VariantPatch,
)
from gullak.db.routing import ReadSessionDep
from gullak.db.uow import SessionDep
from gullak.kit.errors import GullakError
from gullak.kit.openapi import errors
from gullak.kit.schemas import Text
from gullak.kit.security import Subject, require
from gullak.worker import enqueue

router = APIRouter(tags=["catalog"])
Limit = Annotated[int, Query(ge=1, le=100)]
AssetCode = Annotated[Text, Query(pattern=r"^[A-Z][A-Z0-9_]{1,31}$",
                                 description="Asset of rows that name none")]

CanManageCategories = Annotated[Subject, require("catalog.manage")]
CanManageEvents = Annotated[Subject, require("events.manage")]
CanManageProducts = Annotated[Subject, require("catalog.products")]
CanReserve = Annotated[Subject, require("inventory.reserve")]
MerchantReader = Annotated[Subject, require("merchant.read")]
MerchantWriter = Annotated[Subject, require("merchant.catalog.manage")]
FEED_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}


class UnsupportedFeedType(GullakError):
    status = 415
    code = "unsupported_media_type"
    title = "Send the feed as text/csv or application/json"


async def _feed_body(request: Request) -> tuple[bytes, Literal["csv", "json"]]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    formats: dict[str, Literal["csv", "json"]] = {"text/csv": "csv", "application/json": "json"}
    if media not in formats:
        raise UnsupportedFeedType()
    return await request.body(), formats[media]


# -- public -----------------------------------------------------------------------------------

@router.get("/v1/categories", summary="The category tree (active categories)")
async def category_tree(session: SessionDep,
                        type: Literal["offer", "product"] | None = None) -> list[CategoryNode]:
    return await service.category_tree(session, type=type)


@router.get("/v1/products/{product_id}", summary="A product on sale")
async def get_product(product_id: uuid.UUID, session: ReadSessionDep) -> PublicProductOut:
    out = await service.get_product(session, product_id, public=True)
    return PublicProductOut.model_validate(out.model_dump())


@router.get("/v1/merchants/{merchant_id}/products", summary="A merchant's products on sale")
async def merchant_products(merchant_id: uuid.UUID, session: ReadSessionDep,
                            category_id: uuid.UUID | None = None,
                            cursor: uuid.UUID | None = None,
                            limit: Limit = 20) -> PublicProductPage:
    page = await service.list_products(session, merchant_id, category_id=category_id,
                                       cursor=cursor, limit=limit, public=True)
    return PublicProductPage.model_validate(page.model_dump())


@router.get("/v1/events", summary="Live and upcoming events and flash sales")
async def events(session: ReadSessionDep, city: Text | None = Query(default=None, max_length=80),
                 segment: Segment | None = None, limit: Limit = 50) -> list[EventOut]:
    return await service.list_events(session, city=city, segment=segment, limit=limit)


@router.get("/v1/events/{event_id}", summary="An event (not drafts)")
async def event(event_id: uuid.UUID, session: ReadSessionDep) -> EventOut:
    return await service.get_event(session, event_id, public=True)


# -- merchant users: their own products -------------------------------------------------------

merchant = APIRouter(prefix="/v1/merchant/products", tags=["merchant catalog"])


@merchant.get("", responses=errors(404), summary="The merchant's products, every status")
async def my_products(subject: MerchantReader, session: SessionDep,
                      status: list[ProductStatus] = Query(default=["active", "inactive"]),
                      category_id: uuid.UUID | None = None, cursor: uuid.UUID | None = None,
                      limit: Limit = 20) -> ProductPage:
    return await service.list_products(session, service.acting_merchant(subject),
                                       statuses=status, category_id=category_id,
                                       cursor=cursor, limit=limit)


@merchant.post("", status_code=201)
async def create_product(body: ProductIn, subject: MerchantWriter,
                         session: SessionDep) -> ProductOut:
    return await service.create_product(session, service.acting_merchant(subject), body, subject)


@merchant.post("/feed", summary="Import a product feed (text/csv or application/json body)",
               openapi_extra=FEED_BODY)
async def import_feed(request: Request, subject: MerchantWriter, session: SessionDep,
                      full: bool = True, default_asset: AssetCode = "INR") -> FeedReportOut:
    body, fmt = await _feed_body(request)
    return await service.import_feed(session, service.acting_merchant(subject), body, fmt,
                                     full=full, default_asset=default_asset, actor=subject)


@merchant.get("/feed/imports", summary="Reports of the latest feed imports")
async def feed_imports(subject: MerchantReader, session: SessionDep,
                       limit: Limit = 20) -> list[FeedReportOut]:
    return await service.list_feed_imports(session, service.acting_merchant(subject), limit)


@merchant.put("/feed/source", summary="Where the nightly feed is fetched from")
async def feed_source(body: FeedUrlIn, subject: MerchantWriter, session: SessionDep) -> FeedUrlIn:
    return await service.put_feed_source(session, service.acting_merchant(subject), body, subject)


@merchant.post("/feed/fetch", status_code=202, summary="Fetch and import a feed from a URL now")
async def fetch_feed(body: FeedUrlIn, subject: MerchantWriter,
                     session: SessionDep) -> dict[str, int]:
    merchant_id = service.acting_merchant(subject)
    await service.check_merchant(session, merchant_id)
    await service.check_feed_url(str(body.url))
    job_id = await enqueue(session, jobs.import_feed_url, merchant_id=str(merchant_id),
                           url=str(body.url), format=body.format, full=body.full)
    return {"job_id": job_id}


@merchant.get("/{product_id}")
async def my_product(product_id: uuid.UUID, subject: MerchantReader,
                     session: SessionDep) -> ProductOut:
    return await service.get_product(session, product_id,
                                     merchant_id=service.acting_merchant(subject))


@merchant.patch("/{product_id}")
async def update_product(product_id: uuid.UUID, body: ProductPatch, subject: MerchantWriter,
                         session: SessionDep) -> ProductOut:
    return await service.update_product(session, product_id, body, subject,
                                        merchant_id=service.acting_merchant(subject))


@merchant.delete("/{product_id}", summary="Archive a product (its history stays)")
async def archive_product(product_id: uuid.UUID, subject: MerchantWriter,
                          session: SessionDep) -> ProductOut:
    return await service.archive_product(session, product_id, subject,
                                         merchant_id=service.acting_merchant(subject))


@merchant.post("/{product_id}/images", status_code=201)
async def add_image(product_id: uuid.UUID, body: ImageIn, subject: MerchantWriter,
                    session: SessionDep) -> ProductOut:
    return await service.add_image(session, product_id, body, subject,
                                   merchant_id=service.acting_merchant(subject))


@merchant.put("/{product_id}/images/order", summary="Reorder the images (all of them)")
async def reorder_images(product_id: uuid.UUID, body: ReorderIn, subject: MerchantWriter,
                         session: SessionDep) -> ProductOut:
    return await service.reorder_images(session, product_id, body.image_ids, subject,
                                        merchant_id=service.acting_merchant(subject))


@merchant.delete("/{product_id}/images/{image_id}")
async def remove_image(product_id: uuid.UUID, image_id: uuid.UUID, subject: MerchantWriter,
                       session: SessionDep) -> ProductOut:
    return await service.remove_image(session, product_id, image_id, subject,
                                      merchant_id=service.acting_merchant(subject))


@merchant.post("/{product_id}/variants", status_code=201)
async def add_variant(product_id: uuid.UUID, body: VariantIn, subject: MerchantWriter,
                      session: SessionDep) -> ProductOut:
    return await service.add_variant(session, product_id, body, subject,
                                     merchant_id=service.acting_merchant(subject))


@merchant.patch("/{product_id}/variants/{variant_id}")
async def update_variant(product_id: uuid.UUID, variant_id: uuid.UUID, body: VariantPatch,
                         subject: MerchantWriter, session: SessionDep) -> ProductOut:
    return await service.update_variant(session, product_id, variant_id, body, subject,
                                        merchant_id=service.acting_merchant(subject))


@merchant.put("/{product_id}/stock", summary="Set the quantity on hand")
async def set_stock(product_id: uuid.UUID, body: StockIn, subject: MerchantWriter,
                    session: SessionDep) -> StockOut:
    return await service.set_stock(session, product_id, body, subject,
                                   merchant_id=service.acting_merchant(subject))


# -- checkout: reservations -------------------------------------------------------------------

inventory = APIRouter(prefix="/v1/inventory/reservations", tags=["inventory"])


@inventory.post("", status_code=201, summary="Reserve stock for a while (409 out_of_stock)")
async def reserve(body: ReserveIn, _: CanReserve, session: SessionDep) -> ReservationOut:
    return await service.reserve(session, body)


@inventory.get("/{reservation_id}")
async def reservation(reservation_id: uuid.UUID, _: CanReserve,
                      session: SessionDep) -> ReservationOut:
    return await service.get_reservation(session, reservation_id)


@inventory.post("/{reservation_id}/commit", summary="Sold: take the items off the shelf")
async def commit(reservation_id: uuid.UUID, _: CanReserve, session: SessionDep) -> ReservationOut:
    return await service.commit_reservation(session, reservation_id)


@inventory.post("/{reservation_id}/release", summary="Put the items back on sale")
async def release(reservation_id: uuid.UUID, _: CanReserve,
                  session: SessionDep) -> ReservationOut:
    return await service.release_reservation(session, reservation_id)


# -- admins -----------------------------------------------------------------------------------

admin = APIRouter(prefix="/v1/admin", tags=["admin catalog"])


@admin.get("/categories", summary="The whole category tree, inactive categories too")
async def admin_tree(_: CanManageCategories, session: SessionDep) -> list[CategoryNode]:
    return await service.category_tree(session, include_inactive=True)


@admin.post("/categories", status_code=201)
async def create_category(body: CategoryIn, actor: CanManageCategories,
                          session: SessionDep) -> CategoryOut:
    return await service.create_category(session, body, actor)


@admin.get("/categories/{category_id}")
async def get_category(category_id: uuid.UUID, _: CanManageCategories,
                       session: SessionDep) -> CategoryOut:
    return await service.get_category(session, category_id)


@admin.patch("/categories/{category_id}", summary="Change or move a category")
async def update_category(category_id: uuid.UUID, body: CategoryPatch,
                          actor: CanManageCategories, session: SessionDep) -> CategoryOut:
    return await service.update_category(session, category_id, body, actor)


@admin.delete("/categories/{category_id}", status_code=204,
              summary="Delete an empty category (no subcategories, no products)")
async def delete_category(category_id: uuid.UUID, actor: CanManageCategories,
                          session: SessionDep) -> Response:
    await service.delete_category(session, category_id, actor)
    return Response(status_code=204)


@admin.get("/events")
async def admin_events(_: CanManageEvents, session: SessionDep,
                       status: list[EventStatus] = Query(default=["draft", "scheduled", "live"]),
                       city: Text | None = Query(default=None, max_length=80),
                       limit: Limit = 50) -> list[EventOut]:
    return await service.list_events(session, city=city, statuses=status, limit=limit)


@admin.post("/events", status_code=201, summary="Write a draft event or flash sale")
async def create_event(body: EventIn, actor: CanManageEvents, session: SessionDep) -> EventOut:
    return await service.create_event(session, body, actor)


@admin.get("/events/{event_id}")
async def admin_event(event_id: uuid.UUID, _: CanManageEvents, session: SessionDep) -> EventOut:
    return await service.get_event(session, event_id)


@admin.patch("/events/{event_id}", summary="Edit a draft or scheduled event")
async def update_event(event_id: uuid.UUID, body: EventPatch, actor: CanManageEvents,
                       session: SessionDep) -> EventOut:
    return await service.update_event(session, event_id, body, actor)


@admin.post("/events/{event_id}/schedule", summary="Draft -> scheduled; then it runs by itself")
async def schedule_event(event_id: uuid.UUID, actor: CanManageEvents,
                         session: SessionDep) -> EventOut:
    return await service.schedule_event(session, event_id, actor)


@admin.post("/events/{event_id}/cancel")
async def cancel_event(event_id: uuid.UUID, body: CancelIn, actor: CanManageEvents,
                       session: SessionDep) -> EventOut:
    return await service.cancel_event(session, event_id, body.reason, actor)


@admin.get("/merchants/{merchant_id}/products", summary="Any merchant's products")
async def admin_products(merchant_id: uuid.UUID, _: CanManageProducts, session: SessionDep,
                         status: list[ProductStatus] = Query(
                             default=["active", "inactive", "archived"]),
                         cursor: uuid.UUID | None = None, limit: Limit = 20) -> ProductPage:
    return await service.list_products(session, merchant_id, statuses=status, cursor=cursor,
                                       limit=limit)


@admin.post("/merchants/{merchant_id}/products", status_code=201)
async def admin_create_product(merchant_id: uuid.UUID, body: ProductIn,
                               actor: CanManageProducts, session: SessionDep) -> ProductOut:
    return await service.create_product(session, merchant_id, body, actor)


@admin.post("/merchants/{merchant_id}/products/feed", openapi_extra=FEED_BODY,
            summary="Import a merchant's product feed (text/csv or application/json body)")
async def admin_import_feed(merchant_id: uuid.UUID, request: Request, actor: CanManageProducts,
                            session: SessionDep, full: bool = True,
                            default_asset: AssetCode = "INR") -> FeedReportOut:
    body, fmt = await _feed_body(request)
    return await service.import_feed(session, merchant_id, body, fmt, full=full,
                                     default_asset=default_asset, actor=actor)


@admin.put("/merchants/{merchant_id}/products/feed-source")
async def admin_feed_source(merchant_id: uuid.UUID, body: FeedUrlIn, actor: CanManageProducts,
                            session: SessionDep) -> FeedUrlIn:
    return await service.put_feed_source(session, merchant_id, body, actor)


@admin.get("/merchants/{merchant_id}/products/feed-imports")
async def admin_feed_imports(merchant_id: uuid.UUID, _: CanManageProducts, session: SessionDep,
                             limit: Limit = 20) -> list[FeedReportOut]:
    return await service.list_feed_imports(session, merchant_id, limit)


router.include_router(merchant)
router.include_router(inventory)
router.include_router(admin)
