"""Activity demo data: the FitKart coin (when the ledger has none), the demo user's walks of
the last few days (settled and credited as any sync of a day that is over), and a week-long
sponsored challenge starting today."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import service
from gullak.activity.schemas import ChallengeIn, ChallengeKind, SampleIn, Source
from gullak.kit import clock
from gullak.kit.demo import DataSet
from gullak.kit.errors import NotFound
from gullak.kit.security import Subject
from gullak.ledger import service as ledger
from gullak.ledger.schemas import AssetIn, AssetKind
from gullak.settings import get_settings

DEMO_USER_ID = uuid.UUID("01900000-0000-7000-8000-00000000d3e0")  # identity's demo user
PLATFORM = Subject("service", uuid.UUID("00000000-0000-7000-8000-0000000000c9"),
                   frozenset({"activity.manage"}))
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
DAYS = 5


def _walks(day: dt.date, n: int) -> list[SampleIn]:
    hours = (6, 8, 13, 18, 20)
    return [SampleIn(start=dt.datetime.combine(day, dt.time(h), IST),
                     end=dt.datetime.combine(day, dt.time(h, 45), IST),
                     count=1_200 + 150 * n + 37 * i, source=Source.google_fit, device_id="demo-phone",
                     distance_m=(1_200 + 150 * n + 37 * i) * 3 // 4)
            for i, h in enumerate(hours)]


async def load(session: AsyncSession) -> None:
    asset = get_settings().activity_asset
    try:
        await ledger.get_asset(session, asset)
    except NotFound:
        await ledger.create_asset(session, AssetIn(code=asset, name="FitKart coins",
                                                   kind=AssetKind.coin, scale=0))
    today = clock.now().astimezone(IST).date()
    for n in range(DAYS, 0, -1):
        await service.ingest(session, DEMO_USER_ID, _walks(today - dt.timedelta(days=n), n))
    await service.create(session, ChallengeIn(
        title="FitKart 70K week", kind=ChallengeKind.solo, starts_on=today,
        ends_on=today + dt.timedelta(days=6), entry_fee=0, sponsor_amount=1_000,
        prize_split_bp=[5_000, 3_000, 2_000]), PLATFORM)


DATA_SETS = (DataSet(
    "activity", load, needs=("ledger", "identity", "loyalty"),
    notes=("Activity   the demo user's steps: GET /v1/me/steps?from=&to=, a challenge: GET"
           " /v1/challenges",)),)
