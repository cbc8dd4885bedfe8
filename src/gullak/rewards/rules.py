"""Rules and campaigns as the back office writes them, and as evaluation reads them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import audit
from gullak.kit.errors import NotFound
from gullak.kit.ids import parse_cursor, uuid7
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetKind
from gullak.rewards import engine, errors
from gullak.rewards.models import Campaign, Rule, RuleVersion
from gullak.rewards.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    RuleIn,
    RuleOut,
    RulePage,
)

ORDER_HOLD_DAYS = 7  # an order's return window, unless the rule says otherwise


def rule_out(rule: Rule, version: RuleVersion) -> RuleOut:
    values: dict[str, Any] = {c.key: getattr(version, c.key) for c in RuleVersion.__table__.columns}
    values.update(id=rule.id, name=rule.name, status=rule.status, campaign_id=rule.campaign_id,
                  version=version.version, version_id=version.id, created_at=rule.created_at,
                  updated_at=rule.updated_at)
    return RuleOut.model_validate(values)


async def _checked(session: AsyncSession, data: RuleIn) -> dict[str, Any]:
    """The version's columns from a rule as written, after checking it can pay."""
    try:
        asset = await ledger.get_asset(session, data.asset_code)
    except NotFound:
        raise errors.InvalidRule("No such asset.", field="asset_code") from None
    if data.kind == "cashback" and asset.kind != AssetKind.cash:
        raise errors.InvalidRule("Cashback is paid in a cash asset.", field="asset_code")
    funding, funder = data.funding, data.funder_merchant_id
    if asset.merchant_id is not None:  # branded coins: only their merchant funds them
        if funding == "platform" or funder not in (None, asset.merchant_id):
            raise errors.InvalidRule("Branded coins are funded by their merchant.",
                                     field="funding")
        funding, funder = "merchant", asset.merchant_id
    funding = funding or "platform"
    if funding == "merchant" and funder is None:
        raise errors.InvalidRule("A merchant-funded rule names its merchant.",
                                 field="funder_merchant_id")
    if funding == "platform":
        funder = None
    if data.campaign_id is not None:
        campaign = await session.get(Campaign, data.campaign_id)
        if campaign is None:
            raise errors.CampaignNotFound(field="campaign_id")
        if campaign.asset_code != data.asset_code:
            raise errors.InvalidRule("The rule pays in its campaign's asset.", field="asset_code")
    c = data.conditions
    if c.starts_at and c.ends_at and c.ends_at <= c.starts_at:
        raise errors.InvalidRule("The window ends before it starts.", field="conditions.ends_at")
    hold = data.hold_days
    if hold is None:
        hold = ORDER_HOLD_DAYS if data.trigger in engine.ORDER_TRIGGERS else 0
    return {
        "trigger": data.trigger, "kind": data.kind, "value": data.value,
        "asset_code": data.asset_code, "tier_multiplier": data.tier_multiplier,
        "max_per_reward": data.max_per_reward, "hold_days": hold,
        "lifetime_days": data.lifetime_days, "funding": funding, "funder_merchant_id": funder,
        "timezone": data.timezone,
        "conditions": c.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        "caps": [cap.model_dump(mode="json", exclude_none=True) for cap in data.caps],
    }


async def _version(session: AsyncSession, rule: Rule, number: int, values: dict[str, Any],
                   actor: Subject | None) -> RuleVersion:
    version = RuleVersion(rule_id=rule.id, version=number,
                          created_by=actor.id if actor else None, **values)
    session.add(version)
    await session.flush()
    rule.version, rule.version_id, rule.trigger = number, version.id, version.trigger
    return version


async def create_rule(session: AsyncSession, data: RuleIn, actor: Subject | None) -> RuleOut:
    values = await _checked(session, data)
    rule = Rule(id=uuid7(), name=data.name, status=data.status,
                campaign_id=data.campaign_id, trigger=data.trigger, version=0,
                version_id=uuid.uuid4())
    session.add(rule)
    await session.flush()
    version = await _version(session, rule, 1, values, actor)
    await session.flush()
    await session.refresh(rule)
    out = rule_out(rule, version)
    await audit.record(session, actor, "rewards.rule.create", "reward_rule", str(rule.id),
                       after=out.model_dump(mode="json"))
    return out


async def _rule(session: AsyncSession, rule_id: uuid.UUID, *, lock: bool = False) -> Rule:
    rule = await session.get(Rule, rule_id, with_for_update=lock, populate_existing=lock)
    if rule is None:
        raise errors.RuleNotFound(field="rule_id")
    return rule


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> RuleOut:
    rule = await _rule(session, rule_id)
    version = await session.get(RuleVersion, rule.version_id)
    assert version is not None
    return rule_out(rule, version)


async def new_version(session: AsyncSession, rule_id: uuid.UUID, data: RuleIn,
                      actor: Subject | None) -> RuleOut:
    """A change never alters rewards already given: they name the version that gave them."""
    rule = await _rule(session, rule_id, lock=True)
    before = await get_rule(session, rule_id)
    values = await _checked(session, data)
    rule.name, rule.status, rule.campaign_id = data.name, data.status, data.campaign_id
    version = await _version(session, rule, rule.version + 1, values, actor)
    await session.flush()
    await session.refresh(rule)
    out = rule_out(rule, version)
    await audit.record(session, actor, "rewards.rule.version", "reward_rule", str(rule.id),
                       before=before.model_dump(mode="json"), after=out.model_dump(mode="json"))
    return out


async def set_rule_status(session: AsyncSession, rule_id: uuid.UUID, status: str,
                          actor: Subject | None) -> RuleOut:
    rule = await _rule(session, rule_id, lock=True)
    before = rule.status
    rule.status = status
    await session.flush()
    await session.refresh(rule)
    await audit.record(session, actor, f"rewards.rule.{'pause' if status == 'paused' else 'activate'}",
                       "reward_rule", str(rule.id), before={"status": before},
                       after={"status": status})
    return await get_rule(session, rule_id)


async def list_rules(session: AsyncSession, *, trigger: str | None = None,
                     status: str | None = None, campaign_id: uuid.UUID | None = None,
                     cursor: str | None = None, limit: int = 50) -> RulePage:
    query = (select(Rule, RuleVersion).join(RuleVersion, RuleVersion.id == Rule.version_id)
             .order_by(Rule.id.desc()).limit(limit + 1))
    for column, value in ((Rule.trigger, trigger), (Rule.status, status),
                          (Rule.campaign_id, campaign_id)):
        if value is not None:
            query = query.where(column == value)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Rule.id < after)
    rows = [(r[0], r[1]) for r in await session.execute(query)]
    more = len(rows) > limit
    return RulePage(items=[rule_out(r, v) for r, v in rows[:limit]],
                    next_cursor=str(rows[limit - 1][0].id) if more else None)


# -- campaigns --------------------------------------------------------------------------------

async def create_campaign(session: AsyncSession, data: CampaignIn,
                          actor: Subject | None) -> CampaignOut:
    try:
        await ledger.get_asset(session, data.asset_code)
    except NotFound:
        raise errors.InvalidCampaign("No such asset.", field="asset_code") from None
    campaign = Campaign(**data.model_dump())
    session.add(campaign)
    await session.flush()
    await session.refresh(campaign)
    out = CampaignOut.model_validate(campaign)
    await audit.record(session, actor, "rewards.campaign.create", "reward_campaign",
                       str(campaign.id), after=out.model_dump(mode="json"))
    return out


async def get_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignOut:
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:
        raise errors.CampaignNotFound(field="campaign_id")
    return CampaignOut.model_validate(campaign)


async def update_campaign(session: AsyncSession, campaign_id: uuid.UUID, patch: CampaignPatch,
                          actor: Subject | None) -> CampaignOut:
    campaign = await session.get(Campaign, campaign_id, with_for_update=True,
                                 populate_existing=True)
    if campaign is None:
        raise errors.CampaignNotFound(field="campaign_id")
    before = CampaignOut.model_validate(campaign)
    values = patch.model_dump(exclude_unset=True)
    for key in ("name", "status"):  # these cannot be cleared
        if key in values and values[key] is None:
            raise errors.InvalidCampaign(f"{key} cannot be cleared.", field=key)
    if values.get("budget") is not None and values["budget"] < campaign.spent:
        raise errors.InvalidCampaign("The budget is below what was already spent.",
                                     field="budget")
    ends = values.get("ends_at", campaign.ends_at)
    if ends is not None and ends <= campaign.starts_at:
        raise errors.InvalidCampaign("ends_at must be after starts_at.", field="ends_at")
    for key, value in values.items():
        setattr(campaign, key, value)
    await session.flush()
    await session.refresh(campaign)
    out = CampaignOut.model_validate(campaign)
    await audit.record(session, actor, "rewards.campaign.update", "reward_campaign",
                       str(campaign.id), before=before.model_dump(mode="json"),
                       after=out.model_dump(mode="json"))
    return out


async def list_campaigns(session: AsyncSession, *, status: str | None = None) -> list[CampaignOut]:
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(200)
    if status is not None:
        query = query.where(Campaign.status == status)
    return [CampaignOut.model_validate(c) for c in await session.scalars(query)]


# -- what evaluation reads --------------------------------------------------------------------

def _conditions(raw: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    for key in ("starts_at", "ends_at"):
        if out.get(key):
            out[key] = dt.datetime.fromisoformat(out[key])
    return out


def as_engine_rule(rule: Rule, version: RuleVersion, cash: bool) -> engine.Rule:
    return engine.Rule(
        id=rule.id, version_id=version.id, trigger=version.trigger, kind=version.kind,
        value=version.value, asset_code=version.asset_code, cash=cash,
        active=rule.status == "active", campaign_id=rule.campaign_id,
        conditions=_conditions(version.conditions), max_per_reward=version.max_per_reward,
        caps=tuple(engine.Cap(c["period"], c.get("count"), c.get("amount"))
                   for c in version.caps),
        tier_multiplier=version.tier_multiplier, timezone=version.timezone)


@dataclass(frozen=True)
class Loaded:
    """A rule's current version as evaluation and payment need it (plain values: cached
    between units of work)."""

    id: uuid.UUID
    name: str
    campaign_id: uuid.UUID | None
    version_id: uuid.UUID
    version: int
    trigger: str
    asset_code: str
    funding: str
    funder_merchant_id: uuid.UUID | None
    hold_days: int
    lifetime_days: int | None
    rule: engine.Rule


# What the rules of a family were when last read, by a digest of every rule's id, version
# and status: one small query tells whether anything changed since.
_cache: dict[tuple[str, ...], tuple[str, list[Loaded]]] = {}
_assets: dict[str, tuple[bool, bool, int | None]] = {}  # code: (cash, expires, lifetime)
_STAMP = text("SELECT md5(coalesce(string_agg(id::text || version_id::text || status"
              " || coalesce(campaign_id::text, ''), ',' ORDER BY id), ''))"
              " FROM reward_rules WHERE trigger = ANY(:t)")


async def asset_terms(session: AsyncSession, code: str) -> tuple[bool, bool, int | None]:
    """(cash, expires, lifetime in days) of an asset; assets never change these."""
    if code not in _assets:
        asset = await ledger.get_asset(session, code)
        _assets[code] = (asset.kind == AssetKind.cash, asset.expires, asset.lifetime_days)
    return _assets[code]


async def rules_for(session: AsyncSession, triggers: Sequence[str]) -> list[Loaded]:
    """Every rule of these triggers, paused ones too (they are explained as paused)."""
    key = tuple(triggers)
    stamp = str(await session.scalar(_STAMP, {"t": list(triggers)}))
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    query = (select(Rule, RuleVersion).join(RuleVersion, RuleVersion.id == Rule.version_id)
             .where(Rule.trigger.in_(triggers)).order_by(Rule.id))
    loaded = []
    for rule, v in [(r[0], r[1]) for r in await session.execute(query)]:
        cash = (await asset_terms(session, v.asset_code))[0]
        loaded.append(Loaded(
            id=rule.id, name=rule.name, campaign_id=rule.campaign_id, version_id=v.id,
            version=v.version, trigger=v.trigger, asset_code=v.asset_code, funding=v.funding,
            funder_merchant_id=v.funder_merchant_id, hold_days=v.hold_days,
            lifetime_days=v.lifetime_days, rule=as_engine_rule(rule, v, cash)))
    _cache[key] = (stamp, loaded)
    return loaded


async def campaigns_of(session: AsyncSession, ids: set[uuid.UUID]
                       ) -> dict[uuid.UUID, engine.Campaign]:
    if not ids:
        return {}
    rows = await session.scalars(select(Campaign).where(Campaign.id.in_(ids)))
    return {c.id: engine.Campaign(c.id, c.status, c.starts_at, c.ends_at, c.budget, c.spent,
                                  c.per_user_limit) for c in rows}
