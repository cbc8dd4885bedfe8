"""Notification templates: the list, writing and changing one, deleting one, and a preview of
one rendered with sample data by the notifications service itself (shown as text: whatever
the data holds is never markup here). notifications.manage throughout, as in its API, and
audited as the API audits it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from gullak.console import forms
from gullak.console.tables import choice, param
from gullak.console.web import AdminPage, ConsoleRoute
from gullak.kit import audit
from gullak.notifications import service as notifications
from gullak.notifications.schemas import (
    Category,
    Channel,
    PreviewIn,
    PreviewOut,
    TemplateCreate,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(route_class=ConsoleRoute)
Code = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=64)]
CATEGORIES = tuple(c.value for c in Category)
CHANNELS = tuple(c.value for c in Channel)
SAMPLE = {"en": {"inbox": {"title": "Hello {name}", "body": "You have {count} new offers"}}}
PARTS = ("subject", "title", "body", "text", "html")  # the order a reader meets them


def _ordered(rendered: PreviewOut) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each channel's rendered parts, heading first."""
    return [(channel, sorted(parts.items(), key=lambda p: PARTS.index(p[0])
                             if p[0] in PARTS else len(PARTS)))
            for channel, parts in rendered.channels.items()]


def _fields(form: forms.Form) -> dict[str, Any]:
    return forms.given({
        "category": forms.text(form, "category"),
        "description": forms.text(form, "description"),
        "channels": forms.ticked(form, "channel_", CHANNELS),
        "variables": forms.words(form, "variables"),
        "content": forms.json_field(form, "content", None),
        "enabled": forms.checked(form, "enabled")})


@router.get("/templates")
async def template_list(page: AdminPage) -> Response:
    await page.require("notifications.manage")
    return await page.render(
        "growth/templates.html", title="Notification templates",
        templates=await notifications.list_templates(page.session), categories=CATEGORIES,
        channels=CHANNELS, sample=forms.pretty(SAMPLE))


@router.post("/templates")
async def template_create(page: AdminPage) -> Response:
    await page.require("notifications.manage")
    form = await page.form()
    body = TemplateCreate.model_validate({**_fields(form), "code": forms.text(form, "code")})
    out = await notifications.create_template(page.session, body.code, body)
    await audit.record(page.session, page.subject, "notifications.template.create",
                       "notification_template", out.code, after=out.model_dump(mode="json"))
    return page.redirect(f"/console/templates/{out.code}", flash="The template was created.")


def _sample(page: AdminPage, template: TemplateOut) -> dict[str, str]:
    """The preview's data: each variable's sample value from the query, or its name in
    brackets when none was given."""
    return {name: param(page, f"v_{name}", max_length=1000) or f"[{name}]"
            for name in template.variables}


@router.get("/templates/{code}")
async def template_detail(code: Code, page: AdminPage) -> Response:
    """The template's form and, with `?preview=1`, the template rendered with the sample
    values `v_<variable>` in `locale`."""
    await page.require("notifications.manage")
    template = await notifications.get_template(page.session, code)
    locales = sorted(template.content)
    sample, rendered = _sample(page, template), None
    locale = choice(page, "locale", locales) or "en"
    if param(page, "preview") is not None:
        rendered = _ordered(await notifications.preview(
            page.session, code, PreviewIn.model_validate({"data": sample, "locale": locale})))
    return await page.render(
        "growth/template.html", title=f"Template {code}", tpl=template,
        content=forms.pretty(template.content), categories=CATEGORIES, channels=CHANNELS,
        locales=locales, locale=locale, rendered=rendered,
        sample={k: ("" if v == f"[{k}]" else v) for k, v in sample.items()})


@router.post("/templates/{code}")
async def template_update(code: Code, page: AdminPage) -> Response:
    await page.require("notifications.manage")
    body = TemplateIn.model_validate(_fields(await page.form()))
    before = await notifications.get_template(page.session, code)
    out = await notifications.update_template(page.session, code, body)
    await audit.record(page.session, page.subject, "notifications.template.update",
                       "notification_template", code, before=before.model_dump(mode="json"),
                       after=out.model_dump(mode="json"))
    return page.redirect(f"/console/templates/{code}", flash="The template was changed.")


@router.post("/templates/{code}/delete")
async def template_delete(code: Code, page: AdminPage) -> Response:
    await page.require("notifications.manage")
    before = await notifications.delete_template(page.session, code)
    await audit.record(page.session, page.subject, "notifications.template.delete",
                       "notification_template", code, before=before.model_dump(mode="json"))
    return page.redirect("/console/templates", flash=f"The template {code} was deleted.")
