"""Payouts under concurrency, with real connections: two approvals, a withdrawal against a
ledger spend, withdrawals against the daily limit, copies of one callback, two payers of one
withdrawal. Whatever the interleaving, money is held, paid and counted once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import clock
from gullak.kit.errors import GullakError
from gullak.ledger import service as ledger
from gullak.ledger.schemas import HoldIn, TransferIn
from gullak.payouts import flows, service
from gullak.payouts.models import Disbursement
from gullak.payouts.providers.sandbox import Sandbox
from gullak.settings import Settings
from tests.helpers.problems import assert_problem
from tests.payouts.support import (
    as_admin,
    as_user,
    balance,
    client_for,
    count,
    platform_posted,
    post_withdrawal,
    ready,
    run_jobs,
    withdrawn,
)


async def test_two_admins_approve_at_once(api: httpx.AsyncClient, fresh_db: Database,
                                          settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    w = await withdrawn(api, user, method, 200_000)
    answers = await asyncio.gather(*(
        api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(n),
                 json={"reason": f"approved by {n}"}) for n in (2, 3)))
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert_problem(next(r for r in answers if r.status_code == 409), 409,
                   "invalid_withdrawal_transition")
    assert await count(fresh_db, "withdrawal_decisions") == 1
    assert await count(fresh_db, "procrastinate_jobs", "task_name = 'payouts.disburse'") == 1
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    assert await count(fresh_db, "disbursements") == 1
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 200_000


async def spend(db: Database, account: uuid.UUID, amount: int) -> bool:
    """A transfer out of the account in a unit of work of its own: whether it went through."""
    try:
        async with unit_of_work(db) as session:
            sink = await ledger.platform_account(session, "INR", "breakage")
            await ledger.transfer(session, TransferIn(
                debit_account_id=account, credit_account_id=sink.id, asset_code="INR",
                amount=amount, kind="spend"))
    except GullakError as exc:
        assert exc.code == "insufficient_funds", exc
        return False
    return True


async def hold(db: Database, account: uuid.UUID, amount: int) -> bool:
    try:
        async with unit_of_work(db) as session:
            await ledger.place_hold(session, HoldIn(
                account_id=account, asset_code="INR", amount=amount,
                expires_at=clock.now() + dt.timedelta(days=1)))
    except GullakError as exc:
        assert exc.code == "insufficient_funds", exc
        return False
    return True


@pytest.mark.parametrize("rival", [spend, hold], ids=["transfer", "hold"])
async def test_a_withdrawal_and_a_spend_race_for_one_balance(
        api: httpx.AsyncClient, fresh_db: Database, settings: Settings,
        rival: Callable[[Database, uuid.UUID, int], Awaitable[bool]]) -> None:
    for _ in range(4):  # a few rounds, for a few interleavings
        user, account, method = await ready(api, fresh_db, settings, 100_000)

        async def withdraw() -> bool:
            r = await post_withdrawal(api, user, method, 80_000)
            if r.status_code == 201:
                return True
            assert_problem(r, 422, "insufficient_funds")
            return False

        won = await asyncio.gather(withdraw(), rival(fresh_db, account, 80_000))
        assert sum(won) == 1, won
        posted, held = await balance(fresh_db, account)
        assert posted - held == 20_000  # exactly one of the two took its 80,000


async def test_withdrawals_race_over_the_daily_limit(fresh_db: Database,
                                                     settings: Settings) -> None:
    limited = settings.model_copy(update={"payout_daily_max": 300_000})
    async with client_for(limited, fresh_db) as api:
        user, account, method = await ready(api, fresh_db, limited, 1_000_000)
        answers = await asyncio.gather(*(post_withdrawal(api, user, method, 100_000)
                                         for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [201, 201, 201, 422, 422]
    for r in answers:
        if r.status_code == 422:
            assert_problem(r, 422, "withdrawal_limit_exceeded")
    assert await balance(fresh_db, account) == (1_000_000, 300_000)
    assert await count(fresh_db, "withdrawals") == 3


async def test_copies_of_a_callback_delivered_at_once(api: httpx.AsyncClient,
                                                      fresh_db: Database, settings: Settings,
                                                      sandbox: Sandbox) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000,
                                        number="50100012343333")  # stays processing
    w = await withdrawn(api, user, method, 200_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["processing"]
    ref = (await api.get(f"/v1/me/withdrawals/{w['id']}",
                         headers=as_user(user))).json()["disbursements"][0]["provider_ref"]
    sent = await sandbox.settle(ref, "succeeded")
    assert sent is not None
    headers, raw = sent
    answers = await asyncio.gather(*(api.post("/v1/payouts/callbacks/sandbox", content=raw,
                                              headers=headers) for _ in range(10)))
    assert [r.status_code for r in answers] == [200] * 10
    assert sorted(r.json()["duplicate"] for r in answers) == [False] + [True] * 9
    assert await count(fresh_db, "payout_events") == 1
    assert await count(fresh_db, "procrastinate_jobs",
                       "task_name = 'payouts.process_event'") == 1
    assert await run_jobs(fresh_db, settings) == ["succeeded"]
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 200_000


async def test_two_payers_of_one_withdrawal(api: httpx.AsyncClient, fresh_db: Database,
                                            settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    w = await withdrawn(api, user, method, 200_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    outcomes = await asyncio.gather(*(flows.disburse(fresh_db, settings, uuid.UUID(w["id"]))
                                      for _ in range(2)))
    assert sorted(outcomes) == ["nothing_to_pay", "succeeded"]
    assert await run_jobs(fresh_db, settings) == ["nothing_to_pay"]  # the queued job
    assert await count(fresh_db, "disbursements") == 1
    assert await count(fresh_db, "payout_sandbox") == 1
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 200_000
    # The database itself refuses a second live attempt, whoever tries.
    with pytest.raises(IntegrityError):
        async with unit_of_work(fresh_db) as session:
            session.add(Disbursement(withdrawal_id=uuid.UUID(w["id"]), attempt=2,
                                     provider="sandbox", key=f"payout_{w['id']}_2",
                                     amount=200_000, currency="INR", status="created"))
            await session.flush()


async def test_copies_of_one_request_at_once(api: httpx.AsyncClient, fresh_db: Database,
                                             settings: Settings) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000)
    answers = await asyncio.gather(*(post_withdrawal(api, user, method, 100_000, key="k-1")
                                     for _ in range(5)))
    assert [r.status_code for r in answers] == [201] * 5
    assert len({r.json()["id"] for r in answers}) == 1
    assert await count(fresh_db, "withdrawals") == 1
    assert await balance(fresh_db, account) == (500_000, 100_000)


async def test_one_event_processed_by_two_workers_at_once(api: httpx.AsyncClient,
                                                          fresh_db: Database,
                                                          settings: Settings,
                                                          sandbox: Sandbox) -> None:
    user, account, method = await ready(api, fresh_db, settings, 500_000,
                                        number="50100012343333")  # stays processing
    w = await withdrawn(api, user, method, 200_000)
    await api.post(f"/v1/admin/withdrawals/{w['id']}/approve", headers=as_admin(2),
                   json={"reason": "fine"})
    assert await run_jobs(fresh_db, settings) == ["processing"]
    ref = (await api.get(f"/v1/me/withdrawals/{w['id']}",
                         headers=as_user(user))).json()["disbursements"][0]["provider_ref"]
    sent = await sandbox.settle(ref, "succeeded")
    assert sent is not None
    async with unit_of_work(fresh_db) as session:
        stored = await service.receive_callback(session, sandbox, *sent)
    assert stored is not None

    async def process() -> str:
        async with unit_of_work(fresh_db) as session:
            return await service.process_event(session, stored)

    assert await asyncio.gather(process(), process()) == ["succeeded", "succeeded"]
    assert await balance(fresh_db, account) == (300_000, 0)
    assert await platform_posted(fresh_db, "payout_clearing") == 200_000
    assert await count(fresh_db, "ledger_holds", "status = 'captured'") == 1
