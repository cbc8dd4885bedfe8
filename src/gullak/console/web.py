"""What every console page shares: the templates, the signed-in `Page` (session, CSRF,
permissions), the route class that turns refusals into pages and sets the headers a browser
page needs (a Content-Security-Policy with no inline script, no caching)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import pydantic
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.console import menu, service
from gullak.db.uow import SessionDep, discard
from gullak.identity.service import Client
from gullak.kit import audit
from gullak.kit.errors import Forbidden, GullakError, InvalidInput
from gullak.merchants.service import merchant_of
from gullak.settings import Settings

HERE = Path(__file__).parent
COOKIES = {"console": "gullak_console", "merchant": "gullak_merchant"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
SAFE_METHODS = {"GET", "HEAD"}

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,  # a misspelt name fails the page's test, not silently
    trim_blocks=True, lstrip_blocks=True)


def _money(amount: int | None, scale: int = 2) -> str:
    """Minor units as a decimal string (paise to rupees); coins have scale 0."""
    if amount is None:
        return ""
    if scale == 0:
        return f"{amount:,}"
    sign, whole = ("-" if amount < 0 else ""), abs(amount)
    return f"{sign}{whole // 10 ** scale:,}.{whole % 10 ** scale:0{scale}d}"


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


templates.filters["money"] = _money
templates.filters["when"] = _when
templates.filters["urlq"] = lambda value: quote(str(value), safe="")


class SignInNeeded(Exception):
    def __init__(self, portal: str, back: str) -> None:
        self.portal, self.back = portal, back


class CsrfRefused(Forbidden):
    code = "csrf_failed"
    title = "The form has expired"


class Page:
    """A signed-in request of one portal: who acts, what they may do, and how to answer."""

    def __init__(self, request: Request, session: AsyncSession, signed: service.Signed,
                 portal: str) -> None:
        self.request, self.session, self.signed, self.portal = request, session, signed, portal
        self.subject = signed.subject
        self.settings: Settings = request.app.state.settings
        self._form: dict[str, str] | None = None

    @property
    def base(self) -> str:
        return "/console" if self.portal == "console" else "/merchant"

    @property
    def merchant_id(self) -> uuid.UUID | None:
        return merchant_of(self.subject)

    def can(self, permission: str) -> bool:
        return self.subject.can(permission)

    async def require(self, permission: str) -> None:
        """Refuses (403, audited) what the signed-in account's roles do not allow."""
        if not self.subject.can(permission):
            await audit.record(self.session, self.subject, f"denied:{permission}", "route",
                               f"{self.request.method} {self.request.url.path}",
                               outcome="denied")
            raise Forbidden(f"Needs the permission {permission}.", permission=permission,
                            keep_changes=True)

    async def form(self) -> dict[str, str]:
        """The posted fields (CSRF already checked), text only, without the token."""
        if self._form is None:
            data = await self.request.form()
            self._form = {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf"}
        return self._form

    async def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = templates.get_template(template)
        counts = await menu.counts(self.session, self.can) if self.portal == "console" else {}
        html = page.render(
            page=self, csrf=self.signed.csrf, flash=service.take_flash(self.signed),
            menu=menu.visible(self.portal, self.can), counts=counts, partial=self.partial, **context)
        return HTMLResponse(html, status_code=status)

    @property
    def partial(self) -> bool:
        """An htmx request for a fragment (the rows of a table, say), not a whole page."""
        return self.request.headers.get("hx-request") == "true" and \
            self.request.headers.get("hx-boosted") != "true"

    def redirect(self, to: str, flash: str | None = None) -> Response:
        """After a form post: see the result as a page of its own (303), with a message."""
        if flash:
            service.flash(self.signed, flash)
        if self.request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"hx-redirect": to})
        return RedirectResponse(to, status_code=303)


def _page_of(portal: str) -> Callable[..., Coroutine[Any, Any, Page]]:
    async def dependency(request: Request, session: SessionDep) -> Page:
        settings: Settings = request.app.state.settings
        request.state.console_unit = session  # rolled back by ConsoleRoute on a refusal
        signed = await service.resume(session, settings, portal, request.cookies.get(COOKIES[portal]))
        if signed is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(portal, back if request.method in SAFE_METHODS else "")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get("x-csrf-token")
            if sent is None and _is_form(request):
                sent = str((await request.form()).get("csrf") or "")
            if not service.csrf_ok(signed, sent):
                await audit.record(session, signed.subject, "denied:csrf", "route",
                                   f"{request.method} {request.url.path}", outcome="denied")
                raise CsrfRefused("The form was sent without its security token; reload the "
                                  "page and send it again.", keep_changes=True)
        return Page(request, session, signed, portal)

    return dependency


def _is_form(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media in ("application/x-www-form-urlencoded", "multipart/form-data")


AdminPage = Annotated[Page, Depends(_page_of("console"))]
MerchantPage = Annotated[Page, Depends(_page_of("merchant"))]


def client_of(request: Request) -> Client:
    return Client.of(request)


def portal_of(path: str) -> str:
    return "merchant" if path.startswith("/merchant") else "console"


def error_page(request: Request, status: int, title: str, detail: str,
               fields: Mapping[str, str] | None = None) -> HTMLResponse:
    portal = portal_of(request.url.path)
    fragment = request.headers.get("hx-request") == "true"
    html = templates.get_template("error.html").render(
        status=status, title=title, detail=detail, fields=dict(fields or {}),
        fragment=fragment, base="/console" if portal == "console" else "/merchant")
    # htmx swaps only 2xx answers by default; an error shows in place of the form's result.
    headers = {"hx-retarget": "#messages", "hx-reswap": "innerHTML"} if fragment else {}
    return HTMLResponse(html, status_code=status, headers=headers)


def _fields(errors: list[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in errors:
        where = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        found[".".join(where) or "input"] = str(error.get("msg", "invalid"))
    return found


class ConsoleRoute(APIRoute):
    """Answers a browser: a refusal is a page (or a fragment for htmx), a missing session is
    the sign-in page, and every answer carries the console's headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            if request.method not in SAFE_METHODS:
                menu.forget_counts()
            try:
                response = await handle(request)
            except SignInNeeded as exc:
                to = f"/{'console' if exc.portal == 'console' else 'merchant'}/login"
                if exc.back:
                    to += f"?next={quote(exc.back, safe='')}"
                if request.headers.get("hx-request") == "true":
                    response = Response(status_code=204, headers={"hx-redirect": to})
                else:
                    response = RedirectResponse(to, status_code=303)
            except GullakError as exc:
                if not exc.keep_changes:
                    await _discard(request)
                fields = {exc.field: exc.detail} if exc.field else {}
                response = error_page(request, exc.status, exc.title, exc.detail, fields)
            except RequestValidationError as exc:
                await _discard(request)
                response = error_page(request, 422, InvalidInput.title,
                                      "Some fields need another look.", _fields(list(exc.errors())))
            except pydantic.ValidationError as exc:
                await _discard(request)
                response = error_page(request, 422, InvalidInput.title,
                                      "Some fields need another look.",
                                      _fields(list(exc.errors(include_url=False))))
            if request.method not in SAFE_METHODS:
                menu.forget_counts()  # again: a page drawn meanwhile counted before the commit
            return secured(response)

        return route


async def _discard(request: Request) -> None:
    """A refusal answered as a page is not raised through the unit of work (which would roll
    it back): the unit's work so far is rolled back here, as the API's refusals are."""
    unit = getattr(request.state, "console_unit", None)
    if unit is not None:
        await discard(unit)


def secured(response: Response) -> Response:
    response.headers["content-security-policy"] = CSP
    response.headers.setdefault("cache-control", "no-store")
    return response


def set_cookie(response: Response, settings: Settings, portal: str, token: str | None) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure behind HTTPS, this portal only."""
    name, path = COOKIES[portal], "/console" if portal == "console" else "/merchant"
    if token is None:
        response.delete_cookie(name, path=path, httponly=True, samesite="strict",
                               secure=settings.https)
    else:
        response.set_cookie(name, token, path=path, httponly=True, samesite="strict",
                            secure=settings.https,
                            max_age=settings.console_session_hours * 3600)
