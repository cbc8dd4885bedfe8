"""The demo data: the demo user's last days walked, verified and credited; a challenge."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.activity import seed, service
from tests.activity.support import coins


async def test_the_demo_user_walked_and_a_challenge_is_open(session: AsyncSession) -> None:
    await seed.load(session)
    rows = (await session.execute(text(
        "SELECT status, verified_steps FROM daily_step_summary WHERE user_id = :u"),
        {"u": seed.DEMO_USER_ID})).all()
    assert len(rows) == seed.DAYS and {r[0] for r in rows} == {"verified"}
    assert await coins(session, seed.DEMO_USER_ID) == sum(
        min(r[1] * 10 // 1_000, 100) for r in rows)
    listed = await service.listed(session)
    assert "FitKart 70K week" in {c.title for c in listed.items}
