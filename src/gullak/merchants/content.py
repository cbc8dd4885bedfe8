"""CMS pages and SEO redirects."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit, clock
from gullak.kit.security import Subject
from gullak.merchants import errors
from gullak.merchants.models import Page, Redirect
from gullak.merchants.schemas import PageIn, PageOut, RedirectIn, RedirectOut, ResolvedOut

MAX_HOPS = 10
_PATH = re.compile(r"^/[^\s#?]*(\?[^\s#]*)?$")


# -- pages ------------------------------------------------------------------------------------

async def put_page(session: AsyncSession, slug: str, data: PageIn,
                   actor: Subject | None) -> PageOut:
    """Create the page at `slug` or replace it; `data.slug` may move it to a new slug."""
    page = await session.scalar(select(Page).where(Page.slug == slug).with_for_update())
    if data.slug != slug:
        taken = await session.scalar(select(Page.id).where(Page.slug == data.slug))
        if taken is not None:
            raise errors.SlugTaken(field="slug")
    before = PageOut.model_validate(page) if page else None
    if page is None:
        page = Page(slug=data.slug, title=data.title, body=data.body)
        session.add(page)
    values = data.model_dump()
    for name, value in values.items():
        setattr(page, name, value)
    if data.published and page.published_at is None:
        page.published_at = clock.now()
    await session.flush()
    await session.refresh(page)
    after = PageOut.model_validate(page)
    await audit.record(session, actor, "page.update" if before else "page.create", "cms_page",
                       str(page.id), before=before.model_dump(mode="json") if before else None,
                       after=after.model_dump(mode="json"))
    return after


async def get_page(session: AsyncSession, slug: str, *, published_only: bool) -> PageOut:
    page = await session.scalar(select(Page).where(Page.slug == slug))
    if page is None or (published_only and not page.published):
        raise errors.PageNotFound()
    return PageOut.model_validate(page)


async def list_pages(session: AsyncSession) -> list[PageOut]:
    return [PageOut.model_validate(p) for p in await session.scalars(
        select(Page).order_by(Page.slug))]


async def delete_page(session: AsyncSession, slug: str, actor: Subject | None) -> None:
    page = await session.scalar(select(Page).where(Page.slug == slug).with_for_update())
    if page is None:
        raise errors.PageNotFound()
    before = PageOut.model_validate(page)
    await session.delete(page)
    await session.flush()
    await audit.record(session, actor, "page.delete", "cms_page", str(before.id),
                       before=before.model_dump(mode="json"))


# -- redirects --------------------------------------------------------------------------------

def normalize_path(raw: str) -> str:
    """A site path: starts with '/', no fragment, no trailing '/' except the root's."""
    path = raw.strip()
    if not _PATH.match(path):
        raise errors.InvalidRedirect("A path starts with '/' and has no spaces or '#'.",
                                     field="source_path")
    base, sep, query = path.partition("?")
    if len(base) > 1:
        base = base.rstrip("/") or "/"
    return base + sep + query


def _target(raw: str) -> str:
    target = raw.strip()
    if target.startswith("/"):
        try:
            return normalize_path(target)
        except errors.InvalidRedirect as exc:
            exc.field = "target"
            raise
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in target:
        raise errors.InvalidRedirect("The target is a path or an http(s) URL.", field="target")
    return target


async def create_redirect(session: AsyncSession, data: RedirectIn,
                          actor: Subject | None) -> RedirectOut:
    """A redirect from a path; refused if it would lead back to that path."""
    source, target = normalize_path(data.source_path), _target(data.target)
    if data.status_code not in (301, 302):
        raise errors.InvalidRedirect("A redirect is 301 (moved) or 302 (found).",
                                     field="status_code")
    taken = await session.scalar(select(Redirect.id).where(Redirect.source_path == source))
    if taken is not None:
        raise errors.SourceTaken(field="source_path")
    hop, seen = target, 0
    while hop.startswith("/") and seen <= MAX_HOPS:
        if hop == source:
            raise errors.RedirectLoop(field="target")
        hop = await session.scalar(select(Redirect.target).where(Redirect.source_path == hop)) \
            or ""
        seen += 1
    redirect = Redirect(source_path=source, target=target, status_code=data.status_code)
    session.add(redirect)
    await session.flush()
    await session.refresh(redirect)
    out = RedirectOut.model_validate(redirect)
    await audit.record(session, actor, "redirect.create", "seo_redirect", str(redirect.id),
                       after=out.model_dump(mode="json"))
    return out


async def list_redirects(session: AsyncSession) -> list[RedirectOut]:
    return [RedirectOut.model_validate(r) for r in await session.scalars(
        select(Redirect).order_by(Redirect.source_path))]


async def delete_redirect(session: AsyncSession, redirect_id: uuid.UUID,
                          actor: Subject | None) -> None:
    redirect = await session.get(Redirect, redirect_id)
    if redirect is None:
        raise errors.RedirectNotFound()
    before = RedirectOut.model_validate(redirect)
    await session.delete(redirect)
    await session.flush()
    await audit.record(session, actor, "redirect.delete", "seo_redirect", str(redirect_id),
                       before=before.model_dump(mode="json"))


async def resolve(session: AsyncSession, path: str) -> ResolvedOut:
    """Where a path ends up, following chained redirects (so a client needs one hop); the
    answer is permanent (301) only if every hop is."""
    source = normalize_path(path)
    hop, code, hops = source, 301, 0
    while hops < MAX_HOPS:
        row = (await session.execute(select(Redirect.target, Redirect.status_code).where(
            Redirect.source_path == hop))).first()
        if row is None:
            break
        hop, hops = row.target, hops + 1
        code = code if row.status_code == 301 else 302
        if not hop.startswith("/"):
            break
    if hops == 0:
        raise errors.RedirectNotFound()
    return ResolvedOut(source_path=source, target=hop, status_code=code)
