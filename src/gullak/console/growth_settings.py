"""Application settings and feature flags (settings.manage, as in the access API): every one
with its value, a typed edit of a setting's value, a flag turned on or off or rolled out to a
share of subjects. Each change names the version the page showed, so a form left open never
undoes someone else's change; each is audited as the API audits it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import TypeAdapter

from gullak.access import service as access
from gullak.access.schemas import FlagIn, FlagOut, Key, SettingIn, SettingOut
from gullak.console import forms
from gullak.console.web import AdminPage, ConsoleRoute, Page
from gullak.kit import audit
from gullak.kit.errors import InvalidInput, NotFound

router = APIRouter(route_class=ConsoleRoute)
KEY_PATTERN = r"^[a-z][a-z0-9_.]{1,99}$"
PathKey = Annotated[str, Path(pattern=KEY_PATTERN)]
VALUE_TYPES = ("string", "int", "float", "bool", "json")
_KEY: TypeAdapter[str] = TypeAdapter(Key)


def typed(raw: str, value_type: str) -> Any:
    """A posted value as its type holds it; what does not parse goes on as text, and the
    service refuses it for its type (a 422 page)."""
    if value_type == "int":
        return forms.integer(raw)
    if value_type == "float":
        try:
            return float(raw)
        except ValueError:
            return raw
    if value_type == "bool":
        return {"true": True, "false": False}.get(raw.strip().lower(), raw)
    if value_type == "json":
        return forms.json_field({"value": raw}, "value", None)
    return raw


def _version(form: forms.Form) -> int:
    version = forms.number(form, "version")
    if not isinstance(version, int):
        raise InvalidInput("The form lost the version it was loaded at; reload the page.",
                           field="version")
    return version


async def _audit(page: Page, action: str, kind: str, key: str, before: Any, after: Any) -> None:
    await audit.record(page.session, page.subject, action, kind, key,
                       before=before.model_dump(mode="json") if before else None,
                       after=after.model_dump(mode="json"))


# -- settings ---------------------------------------------------------------------------------

@router.get("/settings")
async def setting_list(page: AdminPage) -> Response:
    await page.require("settings.manage")
    return await page.render("growth/settings.html", title="Settings",
                             settings=await access.list_settings(page.session),
                             value_types=VALUE_TYPES, shown=json.dumps)


async def _put_setting(page: Page, key: str, body: SettingIn, version: int | None) -> Response:
    before, after = await access.put_setting_at(page.session, key, body, page.subject.id,
                                                version)
    await _audit(page, "setting.put", "app_setting", key, before, after)
    return page.redirect("/console/settings", flash=f"{key} is now version {after.version}.")


@router.post("/settings")
async def setting_create(page: AdminPage) -> Response:
    await page.require("settings.manage")
    form = await page.form()
    key = _KEY.validate_python(forms.text(form, "key"))
    value_type = forms.text(form, "value_type") or ""
    body = SettingIn.model_validate({
        "value": typed(form.get("value", ""), value_type), "value_type": value_type,
        "description": forms.text(form, "description")})
    return await _put_setting(page, key, body, None)


@router.post("/settings/{key}")
async def setting_update(key: PathKey, page: AdminPage) -> Response:
    await page.require("settings.manage")
    form = await page.form()
    current: SettingOut | None = next(
        (s for s in await access.list_settings(page.session) if s.key == key), None)
    if current is None:
        raise NotFound(f"No setting {key}.", code="setting_not_found")
    body = SettingIn.model_validate(forms.given({
        "value": typed(form.get("value", ""), current.value_type),
        "description": forms.text(form, "description")}))
    return await _put_setting(page, key, body, _version(form))


# -- feature flags ----------------------------------------------------------------------------

@router.get("/flags")
async def flag_list(page: AdminPage) -> Response:
    await page.require("settings.manage")
    return await page.render("growth/flags.html", title="Feature flags",
                             flags=await access.list_flags(page.session),
                             pretty=forms.pretty)


async def _put_flag(page: Page, key: str, body: FlagIn, version: int | None) -> Response:
    before, after = await access.put_flag_at(page.session, key, body, page.subject.id, version)
    await _audit(page, "flag.put", "feature_flag", key, before, after)
    state = f"on for {after.rollout_percent}%" if after.enabled else "off"
    return page.redirect("/console/flags", flash=f"{key} is {state}.")


@router.post("/flags")
async def flag_create(page: AdminPage) -> Response:
    await page.require("settings.manage")
    form = await page.form()
    key = _KEY.validate_python(forms.text(form, "key"))
    body = FlagIn.model_validate(forms.given({
        "enabled": forms.checked(form, "enabled"),
        "rollout_percent": forms.number(form, "rollout_percent"),
        "description": forms.text(form, "description")}))
    return await _put_flag(page, key, body, None)


@router.post("/flags/{key}")
async def flag_update(key: PathKey, page: AdminPage) -> Response:
    """Turns the flag on or off (`enabled`) or changes its rollout (`rollout_percent`);
    what the form does not send stays as it is."""
    await page.require("settings.manage")
    form = await page.form()
    current: FlagOut | None = next(
        (f for f in await access.list_flags(page.session) if f.key == key), None)
    if current is None:
        raise NotFound(f"No flag {key}.", code="flag_not_found")
    enabled = forms.text(form, "enabled")
    percent = forms.number(form, "rollout_percent")
    body = FlagIn.model_validate({
        "enabled": current.enabled if enabled is None else enabled,
        "rollout_percent": current.rollout_percent if percent is None else percent,
        "rules": current.rules, "description": current.description})
    return await _put_flag(page, key, body, _version(form))
