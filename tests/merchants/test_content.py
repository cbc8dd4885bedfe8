"""CMS pages and SEO redirects."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.settings import Settings
from tests.helpers.merchants import Actor, admin_with
from tests.helpers.problems import assert_problem
from tests.helpers.state import fingerprint


def page(slug: str = "terms", **fields: object) -> dict[str, object]:
    return {"slug": slug, "title": "Terms", "body": "Be nice.", "published": False,
            "seo_title": "Terms of use", "seo_description": "The rules."} | fields


async def test_pages_show_once_published(client: httpx.AsyncClient,
                                         admin: Actor) -> None:
    r = await client.put("/v1/admin/pages/terms", json=page(), headers=admin.headers)
    assert r.status_code == 200 and r.json()["published_at"] is None
    assert_problem(await client.get("/v1/pages/terms"), 404, "page_not_found")
    r = await client.put("/v1/admin/pages/terms", json=page(published=True),
                         headers=admin.headers)
    published_at = r.json()["published_at"]
    public = (await client.get("/v1/pages/terms")).json()
    assert (public["title"], public["seo_title"]) == ("Terms", "Terms of use")
    # Editing again keeps the first publication time.
    r = await client.put("/v1/admin/pages/terms", json=page(title="Terms v2", published=True),
                         headers=admin.headers)
    assert (r.json()["title"], r.json()["published_at"]) == ("Terms v2", published_at)
    r = await client.put("/v1/admin/pages/help/faq", json=page("help/faq", published=True),
                         headers=admin.headers)
    assert (await client.get("/v1/pages/help/faq")).status_code == 200
    assert_problem(await client.put("/v1/admin/pages/terms", json=page("help/faq"),
                                    headers=admin.headers), 409, "slug_taken", "slug")
    r = await client.put("/v1/admin/pages/x", json=page("Not A Slug"), headers=admin.headers)
    assert_problem(r, 422, "validation_error", "slug")
    assert (await client.delete("/v1/admin/pages/terms", headers=admin.headers)).status_code \
        == 204
    assert_problem(await client.get("/v1/pages/terms"), 404, "page_not_found")


async def test_content_needs_its_permission(client: httpx.AsyncClient,
                                            connection: AsyncConnection,
                                            session: AsyncSession, settings: Settings) -> None:
    other = await admin_with(client, session, settings, "merchants.manage")
    before = await fingerprint(connection, exclude=("audit_log",))
    assert_problem(await client.put("/v1/admin/pages/terms", json=page(),
                                    headers=other.headers), 403, "forbidden")
    assert_problem(await client.post("/v1/admin/redirects", headers=other.headers, json={
        "source_path": "/a", "target": "/b"}), 403, "forbidden")
    assert await fingerprint(connection, exclude=("audit_log",)) == before


async def redirect(client: httpx.AsyncClient, admin: Actor, source: str, target: str,
                   code: int = 301) -> httpx.Response:
    return await client.post("/v1/admin/redirects", headers=admin.headers,
                             json={"source_path": source, "target": target, "status_code": code})


async def test_redirects_resolve_through_chains(client: httpx.AsyncClient,
                                                admin: Actor) -> None:
    assert (await redirect(client, admin, "/old-offers/", "/offers")).status_code == 201
    assert (await redirect(client, admin, "/offers", "/deals", 302)).status_code == 201
    r = await client.get("/v1/redirects/resolve", params={"path": "/old-offers"})
    assert r.json() == {"source_path": "/old-offers", "target": "/deals", "status_code": 302}
    r = await client.get("/v1/redirects/resolve", params={"path": "/offers"})
    assert r.json()["status_code"] == 302
    assert (await redirect(client, admin, "/shop", "https://shop.example/")).status_code == 201
    r = await client.get("/v1/redirects/resolve", params={"path": "/shop"})
    assert r.json() == {"source_path": "/shop", "target": "https://shop.example/",
                        "status_code": 301}
    assert_problem(await client.get("/v1/redirects/resolve", params={"path": "/nowhere"}), 404,
                   "redirect_not_found")


BAD_REDIRECTS = [
    ("/deals", "/deals", 301, 409, "redirect_loop"),  # to itself
    ("/deals/", "/deals", 301, 409, "redirect_loop"),  # the same path, spelt otherwise
    ("/deals", "/a", 301, 409, "redirect_loop"),  # /a -> /deals already: a loop of two
    ("/a", "/b", 301, 409, "redirect_exists"),
    ("deals", "/x", 301, 422, "invalid_redirect"),
    ("/x", "ftp://files.example", 301, 422, "invalid_redirect"),
    ("/x", "/y", 307, 422, "invalid_redirect"),
]


async def test_bad_redirects_are_refused_and_change_nothing(
        client: httpx.AsyncClient, connection: AsyncConnection, admin: Actor) -> None:
    assert (await redirect(client, admin, "/a", "/deals")).status_code == 201
    before = await fingerprint(connection)
    for source, target, code, status, error in BAD_REDIRECTS:
        assert_problem(await redirect(client, admin, source, target, code), status, error)
    assert await fingerprint(connection) == before
