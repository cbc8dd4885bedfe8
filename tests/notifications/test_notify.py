"""notify: one call fans out to the inbox and each outside channel the user can be reached
on and has not turned off; quiet hours delay (never drop) all but transactional messages;
marketing is capped per day and week; a key makes a call idempotent."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.notifications import errors, preferences, service
from gullak.notifications.models import Notification, NotificationDelivery
from gullak.notifications.schemas import Category, OutsideChannel, PreferencesIn
from gullak.settings import Settings
from tests.notifications.support import add_everywhere_template, count, deliveries, make_user

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


@pytest.fixture
def caps(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    capped = settings.model_copy(update={"notifications_marketing_per_day": 2,
                                         "notifications_marketing_per_week": 3})
    monkeypatch.setattr(service, "get_settings", lambda: capped)
    return capped


async def test_one_call_reaches_every_channel(session: AsyncSession) -> None:
    user = await make_user(session)
    code = await add_everywhere_template(session)
    notification_id = await service.notify(session, user, code, {"name": "Asha", "count": 3})
    assert notification_id is not None
    row = await session.get(Notification, notification_id)
    assert row is not None and row.inbox and row.user_id == user
    assert (row.title, row.body) == ("Hi Asha", "You have 3 new things")
    found = await deliveries(session, notification_id)
    assert sorted((d.channel, d.platform) for d in found) == [
        ("email", None), ("push", "android"), ("push", "ios"), ("sms", None)]
    assert {d.status for d in found} == {"queued"}
    email = next(d for d in found if d.channel == "email")
    assert email.content["html"] == "<p>3 new things for Asha</p>"
    assert next(d for d in found if d.channel == "sms").content == {
        "text": "Hi Asha, 3 new things"}


async def test_the_users_language_is_used(session: AsyncSession) -> None:
    user = await make_user(session, language="hi")
    code = await add_everywhere_template(session)
    notification_id = await service.notify(session, user, code, {"name": "आशा", "count": 1})
    row = await session.get(Notification, notification_id)
    assert row is not None and row.locale == "hi" and row.title == "नमस्ते Hi आशा"


async def test_only_reachable_channels_get_deliveries(session: AsyncSession) -> None:
    user = await make_user(session, email=False, phone=False, devices=())
    code = await add_everywhere_template(session)
    notification_id = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert notification_id is not None
    assert await deliveries(session, notification_id) == []
    row = await session.get(Notification, notification_id)
    assert row is not None and row.channels == ["inbox"]


async def test_a_channel_turned_off_is_not_used(session: AsyncSession,
                                                settings: Settings) -> None:
    user = await make_user(session)
    code = await add_everywhere_template(session, category="rewards")
    await preferences.put_preferences(session, settings, user, PreferencesIn(channels={
        Category.rewards: {OutsideChannel.push: False, OutsideChannel.sms: False}}))
    notification_id = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert notification_id is not None
    assert [d.channel for d in await deliveries(session, notification_id)] == ["email"]
    # Another category is untouched by the choice.
    other = await add_everywhere_template(session, category="orders")
    again = await service.notify(session, user, other, {"name": "A", "count": 1})
    assert again is not None and len(await deliveries(session, again)) == 4


async def test_transactional_messages_ignore_opt_outs(session: AsyncSession,
                                                      settings: Settings) -> None:
    user = await make_user(session)
    code = await add_everywhere_template(session, category="transactional")
    await preferences.put_preferences(session, settings, user, PreferencesIn(channels={
        Category.transactional: {c: False for c in OutsideChannel}}))
    notification_id = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert notification_id is not None and len(await deliveries(session, notification_id)) == 4


async def test_quiet_hours_delay_to_their_end(session: AsyncSession, settings: Settings) -> None:
    user = await make_user(session)
    await preferences.put_preferences(session, settings, user, PreferencesIn(
        time_zone="Asia/Kolkata", quiet_start=dt.time(22), quiet_end=dt.time(7)))
    clock.freeze(dt.datetime(2026, 3, 10, 23, 15, tzinfo=IST))
    code = await add_everywhere_template(session, category="rewards")
    quiet = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert quiet is not None
    morning = dt.datetime(2026, 3, 11, 7, 0, tzinfo=IST)
    assert {d.not_before for d in await deliveries(session, quiet)} == {morning}
    urgent = await add_everywhere_template(session, category="transactional")
    now = await service.notify(session, user, urgent, {"name": "A", "count": 1})
    assert now is not None
    assert {d.not_before for d in await deliveries(session, now)} == {clock.now()}
    # The quiet ones are not due until the morning; then they are.
    due = set(await service.due_deliveries(session))
    assert not {d.id for d in await deliveries(session, quiet)} & due
    clock.freeze(morning)
    due = set(await service.due_deliveries(session))
    assert {d.id for d in await deliveries(session, quiet)} <= due
    # Inside the window before midnight and after it alike; outside it, at once.
    clock.freeze(dt.datetime(2026, 3, 11, 3, 0, tzinfo=IST))
    early = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert early is not None
    assert {d.not_before for d in await deliveries(session, early)} == {morning}
    clock.freeze(dt.datetime(2026, 3, 11, 12, 0, tzinfo=IST))
    noon = await service.notify(session, user, code, {"name": "A", "count": 1})
    assert noon is not None
    assert {d.not_before for d in await deliveries(session, noon)} == {clock.now()}


async def test_marketing_is_capped_per_day_and_week(session: AsyncSession,
                                                    caps: Settings) -> None:
    user = await make_user(session)
    clock.freeze(dt.datetime(2026, 3, 9, 10, 0, tzinfo=dt.UTC))
    data = {"title": "Sale", "body": "Today only"}
    sent = [await service.notify(session, user, "marketing.offer", data) for _ in range(3)]
    assert sent[0] is not None and sent[1] is not None and sent[2] is None
    clock.advance(dt.timedelta(days=1, minutes=1))
    assert await service.notify(session, user, "marketing.offer", data) is not None
    assert await service.notify(session, user, "marketing.offer", data) is None  # week: 3
    clock.advance(dt.timedelta(days=7))
    assert await service.notify(session, user, "marketing.offer", data) is not None
    # Other categories are never capped.
    other = await add_everywhere_template(session)
    for _ in range(4):
        assert await service.notify(session, user, other, {"name": "A", "count": 1})
    assert await count(session, Notification, user_id=user, category="marketing") == 4


async def test_a_key_makes_notify_idempotent(session: AsyncSession) -> None:
    user = await make_user(session)
    code = await add_everywhere_template(session)
    first = await service.notify(session, user, code, {"name": "A", "count": 1}, key="k1")
    again = await service.notify(session, user, code, {"name": "B", "count": 2}, key="k1")
    assert first is not None and first == again
    assert await count(session, Notification, user_id=user) == 1
    assert await count(session, NotificationDelivery, user_id=user) == 4
    # The key is the user's: another user with the same key gets their own.
    other = await make_user(session)
    assert await service.notify(session, other, code, {"name": "A", "count": 1},
                                key="k1") not in (None, first)


async def test_campaign_fields_are_kept(session: AsyncSession) -> None:
    user = await make_user(session)
    campaign = uuid.uuid4()
    found = await service.notify(session, user, "marketing.offer", {"title": "T", "body": "B"},
                                 category="marketing", campaign_id=campaign, variant="B")
    row = await session.get(Notification, found)
    assert row is not None and (row.campaign_id, row.variant) == (campaign, "B")


async def test_refusals_change_nothing(session: AsyncSession) -> None:
    user = await make_user(session)
    with pytest.raises(errors.TemplateNotFound):
        await service.notify(session, user, "no.such.template", {})
    with pytest.raises(errors.MissingTemplateData):
        await service.notify(session, user, "marketing.offer", {"title": "only a title"})
    assert await count(session, Notification, user_id=user) == 0
    # A user who does not exist (or is gone) is not notified.
    assert await service.notify(session, uuid.uuid4(), "marketing.offer",
                                {"title": "T", "body": "B"}) is None


async def test_deliveries_due_now_get_a_job(session: AsyncSession) -> None:
    user = await make_user(session)
    code = await add_everywhere_template(session)
    notification_id = await service.notify(session, user, code, {"name": "A", "count": 1})
    ids = {str(d.id) for d in await deliveries(session, notification_id)}
    jobs = await session.scalars(text("SELECT args->>'delivery_id' FROM procrastinate_jobs"
                                      " WHERE task_name = 'notifications.deliver'"))
    assert ids <= set(jobs)
