"""Sending a campaign: due campaigns start, and each run sends to the segment's members not
reached yet, in user order, no more than the throttle allows in the last minute.

Each batch is one unit of work: the users' variants, the notifications (notifications'
`notify`, which only writes rows; its jobs call the outside channels after commit) and the
recipient rows commit together or not at all. So a run that crashes sends nobody, and the next
one starts from the users not recorded yet: nobody is sent twice. The campaign's row is locked
for the batch, and a second worker skips it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.access import service as access
from gullak.campaigns.models import Assignment, Campaign, Recipient, Variant
from gullak.campaigns.segments import get_segment, members, stored_filters
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.notifications import service as notifications

log = structlog.get_logger("gullak.campaigns")
MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Batch:
    sent: int = 0
    suppressed: int = 0
    finished: bool = False

    @property
    def reached(self) -> int:
        return self.sent + self.suppressed


def experiment(campaign_id: uuid.UUID) -> str:
    return f"campaign:{campaign_id}"


def pick(variants: list[Variant], bucket: int) -> Variant:
    """The variant whose slice of 0-99 holds `bucket`: variant i takes the `percent` buckets
    after those of the variants before it, so the shares follow the percentages."""
    edge = 0
    for v in variants:
        edge += v.percent
        if bucket < edge:
            return v
    return variants[-1]  # the percentages add up to 100: not reached


def variant_of(variants: list[Variant], campaign_id: uuid.UUID, user_id: uuid.UUID) -> Variant:
    """Deterministic: the access domain's feature-flag bucket of the user under the
    campaign's experiment, the same on every run and every worker."""
    return pick(variants, access.bucket_of(experiment(campaign_id), user_id))


async def start_due(session: AsyncSession) -> list[uuid.UUID]:
    """Scheduled campaigns whose time has come start sending."""
    now = clock.now()
    started = await session.scalars(
        update(Campaign).where(Campaign.status == "scheduled", Campaign.send_at <= now)
        .values(status="sending", started_at=now, updated_at=now).returning(Campaign.id))
    return list(started)


async def sending(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(Campaign.id).where(Campaign.status == "sending")
                                      .order_by(Campaign.send_at, Campaign.id)))


async def _sent_last_minute(session: AsyncSession, campaign_id: uuid.UUID,
                            now: dt.datetime) -> int:
    found = await session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign_id, Recipient.sent_at > now - MINUTE))
    return int(found or 0)


async def send_batch(session: AsyncSession, campaign_id: uuid.UUID, chunk: int) -> Batch:
    """Send to up to `chunk` users not reached yet, within the minute's throttle. Finished
    (status sent) when no member is left. A campaign another worker holds, or one no longer
    sending, is skipped."""
    campaign = await session.scalar(select(Campaign).where(
        Campaign.id == campaign_id, Campaign.status == "sending")
        .with_for_update(skip_locked=True))
    if campaign is None:
        return Batch()
    now = clock.now()
    room = min(chunk, campaign.throttle_per_minute
               - await _sent_last_minute(session, campaign_id, now))
    if room <= 0:
        return Batch()
    filters = stored_filters(await get_segment(session, campaign.segment_id))
    people = members(filters, now).subquery()
    user_id = people.c[0]
    done = select(Recipient.user_id).where(Recipient.campaign_id == campaign_id,
                                           Recipient.user_id == user_id)
    batch = list(await session.scalars(select(user_id).where(~done.exists())
                                       .order_by(user_id).limit(room)))
    variants = list(await session.scalars(select(Variant).where(
        Variant.campaign_id == campaign_id).order_by(Variant.position)))
    sent = suppressed = 0
    try:
        async with session.begin_nested():
            for user in batch:
                variant = variant_of(variants, campaign_id, user)
                await session.execute(insert(Assignment).values(
                    experiment=experiment(campaign_id), user_id=user, variant=variant.code,
                    campaign_id=campaign_id, assigned_at=now).on_conflict_do_nothing())
                notification_id = await notifications.notify(
                    session, user, variant.template_code or campaign.template_code,
                    campaign.data, category="marketing", campaign_id=campaign_id,
                    variant=variant.code, key=f"campaign:{campaign_id}:{user}")
                session.add(Recipient(campaign_id=campaign_id, user_id=user,
                                      variant=variant.code, notification_id=notification_id,
                                      suppressed=notification_id is None, sent_at=now))
                sent += notification_id is not None
                suppressed += notification_id is None
            await session.flush()
    except GullakError as exc:
        # The template or its data is refused (gone, disabled for good, a variable missing):
        # every user would meet the same refusal. Pause for a person to look, sending nothing.
        log.warning("campaign_paused", campaign_id=str(campaign_id), code=exc.code,
                    detail=exc.detail)
        campaign.status, campaign.updated_at = "paused", now
        await session.flush()
        return Batch()
    finished = len(batch) < room
    if finished:
        campaign.status, campaign.finished_at, campaign.updated_at = "sent", now, now
        await session.flush()
    return Batch(sent, suppressed, finished)
