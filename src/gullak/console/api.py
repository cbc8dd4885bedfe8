"""Signing in and out of both portals, and the console's static files (shipped in the package:
a deployment may have no internet)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from gullak.console import service
from gullak.console.web import (
    COOKIES,
    HERE,
    AdminPage,
    ConsoleRoute,
    MerchantPage,
    Page,
    client_of,
    set_cookie,
    templates,
)
from gullak.db.uow import SessionDep
from gullak.kit import tokens
from gullak.kit.errors import GullakError, NotFound
from gullak.settings import Settings

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATIC = {path.name: path for path in (HERE / "static").iterdir() if path.is_file()}
MEDIA = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
PRE_COOKIE = "gullak_signin"  # the sign-in form's CSRF token, before there is a session
Field = Annotated[str, Form(max_length=320)]


@router.get("/console/static/{name}")
async def static(name: str) -> Response:
    path = STATIC.get(name)
    if path is None:
        raise NotFound("No such file.")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "text/plain"),
                        headers={"cache-control": "public, max-age=3600"})


def _next(portal: str, wanted: str | None) -> str:
    """Where to go after signing in: a page of this portal, never another site."""
    base = "/console" if portal == "console" else "/merchant"
    if wanted and wanted.startswith(base) and not wanted.startswith("//") \
            and "\\" not in wanted and all(c.isprintable() for c in wanted):
        return wanted
    return base


def _login_page(request: Request, portal: str, *, status: int = 200, error: str | None = None,
                email: str = "", wanted: str | None = None, notice: str | None = None) -> Response:
    token = tokens.new_secret_token()
    html = templates.get_template("login.html").render(
        portal=portal, csrf=token, error=error, email=email, notice=notice,
        next=_next(portal, wanted), action=f"/{portal}/login")
    response = HTMLResponse(html, status_code=status)
    settings: Settings = request.app.state.settings
    response.set_cookie(PRE_COOKIE, token, path=f"/{portal}/login", httponly=True,
                        samesite="strict", secure=settings.https, max_age=3600)
    return response


async def _show_login(request: Request, session: SessionDep, portal: str,
                      wanted: str | None) -> Response:
    settings: Settings = request.app.state.settings
    if await service.resume(session, settings, portal, request.cookies.get(COOKIES[portal])):
        return RedirectResponse(_next(portal, wanted), status_code=303)
    return _login_page(request, portal, wanted=wanted)


async def _sign_in(request: Request, session: SessionDep, portal: str, email: str,
                   password: str, totp_code: str | None, csrf: str,
                   wanted: str | None) -> Response:
    expected = request.cookies.get(PRE_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected, csrf):
        return _login_page(request, portal, status=403, email=email, wanted=wanted,
                           error="The sign-in form had expired. Please sign in again.")
    settings: Settings = request.app.state.settings
    try:
        token, _ = await service.sign_in(session, settings, portal, email, password, totp_code,
                                         client_of(request))
    except GullakError as exc:
        if not exc.keep_changes:
            await session.rollback()
        return _login_page(request, portal, status=exc.status, email=email, wanted=wanted,
                           error=exc.detail)
    response = RedirectResponse(_next(portal, wanted), status_code=303)
    set_cookie(response, settings, portal, token)
    response.delete_cookie(PRE_COOKIE, path=f"/{portal}/login")
    return response


async def _sign_out(page: Page) -> Response:
    await service.sign_out(page.session, page.signed)
    response = RedirectResponse(f"/{page.portal}/login", status_code=303)
    set_cookie(response, page.settings, page.portal, None)
    return response


@router.get("/console/login")
async def console_login(request: Request, session: SessionDep,
                        next: str | None = None) -> Response:  # noqa: A002
    return await _show_login(request, session, "console", next)


@router.post("/console/login")
async def console_sign_in(request: Request, session: SessionDep, email: Field, password: Field,
                          csrf: Annotated[str, Form(max_length=200)] = "",
                          totp_code: Annotated[str | None, Form(max_length=10)] = None,
                          next: Annotated[str | None, Form(max_length=500)] = None,  # noqa: A002
                          ) -> Response:
    return await _sign_in(request, session, "console", email, password, totp_code, csrf, next)


@router.post("/console/logout")
async def console_sign_out(page: AdminPage) -> Response:
    return await _sign_out(page)


@router.get("/merchant/login")
async def merchant_login(request: Request, session: SessionDep,
                         next: str | None = None) -> Response:  # noqa: A002
    return await _show_login(request, session, "merchant", next)


@router.post("/merchant/login")
async def merchant_sign_in(request: Request, session: SessionDep, email: Field, password: Field,
                           csrf: Annotated[str, Form(max_length=200)] = "",
                           next: Annotated[str | None, Form(max_length=500)] = None,  # noqa: A002
                           ) -> Response:
    return await _sign_in(request, session, "merchant", email, password, None, csrf, next)


@router.post("/merchant/logout")
async def merchant_sign_out(page: MerchantPage) -> Response:
    return await _sign_out(page)


# Mounted after every console router (domains.py): a page that does not exist is a page too.
fallback = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@fallback.get("/console/{rest:path}")
@fallback.get("/merchant/{rest:path}")
async def not_found(rest: str) -> Response:
    raise NotFound("There is no such page.")
