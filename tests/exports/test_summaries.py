"""The analytics domain's daily summaries as datasets: each kind's rows carry the columns the
dataset declares, and a period [since, until) takes its days, the last one excluded."""

from __future__ import annotations

import datetime as dt
import typing
import uuid
from typing import Any

import pytest

from gullak.analytics import service as analytics
from gullak.analytics.models import (
    MerchantDailySummary,
    OfferDailySummary,
    PlatformDailySummary,
    UserDailySummary,
)
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.exports import runner
from gullak.exports.datasets import DATASETS
from gullak.exports.schemas import DatasetName
from gullak.settings import Settings
from tests.exports.storage import stored
from tests.exports.support import at, read_csv, read_parquet

DAYS = [dt.date(2026, 11, 9), dt.date(2026, 11, 10), dt.date(2026, 11, 11),
        dt.date(2026, 11, 12)]


def test_the_api_offers_every_dataset() -> None:
    assert set(typing.get_args(DatasetName)) == set(DATASETS)


async def add_summaries(db: Database) -> None:
    """One row of each kind per day, the day's number in its counts."""
    async with unit_of_work(db) as session:
        for day in DAYS:
            n = day.day
            session.add(UserDailySummary(user_id=uuid.uuid4(), day=day, events=n, orders=n,
                                         first_at=at(str(day), 1), last_at=at(str(day), 2)))
            session.add(MerchantDailySummary(merchant_id=uuid.uuid4(), day=day, gmv=n))
            session.add(OfferDailySummary(offer_id=uuid.uuid4(), day=day, viewers=n))
            session.add(PlatformDailySummary(day=day, events=n, gmv=n * 100))


@pytest.mark.parametrize("kind", ["user", "merchant", "offer", "platform"])
async def test_each_kind_streams_the_declared_columns(fresh_db: Database, kind: str) -> None:
    await add_summaries(fresh_db)
    async with unit_of_work(fresh_db) as session:
        rows = [r async for r in analytics.stream_summaries(session, kind, DAYS[0], DAYS[-1])]
    assert len(rows) == len(DAYS)
    assert set(rows[0]) == set(DATASETS[f"{kind}_summaries"].names)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_a_period_takes_its_days(fresh_db: Database, settings: Settings,
                                       fmt: str) -> None:
    await add_summaries(fresh_db)
    runs = {name: await runner.export_now(fresh_db, settings, name, DAYS[1], DAYS[3], fmt)
            for name in DATASETS if name.endswith("_summaries")}

    for name, done in runs.items():
        assert done.status == "done" and done.rows == 2, (name, done)
        data = stored(settings, done.path)
        rows: list[dict[str, Any]] = read_csv(data) if fmt == "csv" else read_parquet(data)
        assert [str(r["day"]) for r in rows] == ["2026-11-10", "2026-11-11"]
    platform = stored(settings, runs["platform_summaries"].path)
    rows = read_csv(platform) if fmt == "csv" else read_parquet(platform)
    assert [int(r["gmv"]) for r in rows] == [1000, 1100]
