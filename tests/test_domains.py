"""One wiring for every process: the list of domains builds the app, the worker, the CLI and
the demo data, whose order is derived from what each data set needs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from gullak import domains, seed, worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.kit import audit, events
from gullak.kit.demo import DataSet
from gullak.merchants import jobs as merchant_jobs
from gullak.merchants import service as merchants
from gullak.merchants.schemas import BankAccountIn, MerchantIn
from gullak.settings import Settings
from gullak.system.models import SeedRun
from tests.helpers.http import http_client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _rewire() -> Iterator[None]:
    # Tests here install other lists of domains; the rest of the suite expects the real one.
    yield
    domains.install()


def test_every_contribution_resolves() -> None:
    names = [d.name for d in domains.DOMAINS]
    assert len(names) == len(set(names))
    for position, domain in enumerate(domains.DOMAINS):
        # Listed in dependency order: every domain after the ones it needs.
        assert set(domain.needs) <= set(names[:position]), domain.name
        for ref in (*domain.routers, *domain.authenticators.values(), *domain.lifespans,
                    *domain.handlers.values(),
                    *domain.permissions.values(), domain.audit_writer, domain.denial_hook):
            if ref is not None:
                assert callable(domain.resolve(ref)) or hasattr(domain.resolve(ref), "routes")
    assert {m.rsplit(".", 2)[1] for m in domains.job_modules()} == {
        d.name for d in domains.DOMAINS if (ROOT / "src/gullak" / d.name / "jobs.py").exists()}
    assert {d.name for d in domains.DOMAINS if d.seed} == {
        d.name for d in domains.DOMAINS if (ROOT / "src/gullak" / d.name / "seed.py").exists()}


def test_the_demo_order_is_derived_from_needs() -> None:
    items = domains.data_sets()
    order = [item.name for item in seed.in_order(items)]
    assert order == [item.name for item in seed.in_order(list(reversed(items)))]
    for item in items:
        for need in item.needs:
            assert order.index(need) < order.index(item.name), (item.name, need)
    # What the reward store's products are priced in, and the store itself, come first.
    assert order.index("ledger") < order.index("catalog")
    assert order.index("merchants") < order.index("catalog")


async def noop(session: object) -> None:
    return None


def test_a_need_that_is_missing_or_circular_is_refused() -> None:
    with pytest.raises(seed.OrderError, match="unknown nowhere"):
        seed.in_order([DataSet("a", noop, needs=("nowhere",))])
    with pytest.raises(seed.OrderError, match="need each other"):
        seed.in_order([DataSet("a", noop, needs=("b",)), DataSet("b", noop, needs=("a",))])


async def test_every_demo_data_set_loads_whole(fresh_db: Database, settings: Settings) -> None:
    notes = await seed.load(fresh_db)
    async with unit_of_work(fresh_db) as session:
        loaded = set((await session.scalars(select(SeedRun.name))).all())
        store = (await merchants.list_merchants(session, q="FitKart Rewards Store")).items
        terms = await session.scalar(text("SELECT count(*) FROM search_terms"))
    assert loaded == {item.name for item in domains.data_sets() if not item.rebuild}
    assert await seed.notes(fresh_db) == notes
    assert terms, "the search dictionary is built from the demo catalogue at once"
    [reward_store] = store
    assert reward_store.status == "live"
    async with http_client(create_app(settings, fresh_db)) as client:
        r = await client.get(f"/v1/merchants/{reward_store.id}/products")
    assert r.status_code == 200, r.text
    products = r.json()["items"]
    assert {p["name"] for p in products} == {
        "Yoga mat 6 mm", "Steel sipper bottle 1 l", "Resistance band set", "Quick-dry gym towel"}
    # A second start loads nothing again.
    assert await seed.load(fresh_db) == notes


def test_a_process_that_was_not_wired_refuses_to_lose_audit_rows() -> None:
    code = ("import asyncio\n"
            "from gullak.kit import audit\n"
            "try:\n"
            "    asyncio.run(audit.record(None, None, 'x', 'y', None))\n"
            "except RuntimeError as exc:\n"
            "    print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("refused: no audit writer installed"), out.stdout + out.stderr
    assert audit._writers  # this process is wired (by the app fixture or the suite's setup)


async def test_the_worker_alone_writes_audit_rows(fresh_db: Database, settings: Settings,
                                                  tmp_path: Path) -> None:
    # A bank account's verification runs as a job; its outcome is audited. The worker runs
    # in a process of its own that never built the app: `gullak worker` as a user starts it.
    async with unit_of_work(fresh_db) as session:
        merchant = await merchants.create_merchant(session, MerchantIn(name="Payee"), None)
        account = await merchants.add_bank_account(session, settings, merchant.id, BankAccountIn(
            account_holder="Payee", account_number="501001234567", ifsc="SBIN0000001"), None)
        await worker.enqueue(session, merchant_jobs.verify_bank_account,
                             account_id=str(account.id))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=fresh_db.url, GULLAK_DATA_DIR=str(settings.data_dir),
               GULLAK_LOG_FORMAT="json")
    out = subprocess.run([sys.executable, "-m", "gullak.cli", "worker", "--until-idle"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    async with unit_of_work(fresh_db) as session:
        actions = (await session.scalars(text(
            "SELECT action FROM audit_log WHERE entity_id = :id"), {"id": str(account.id)})).all()
    assert "merchant_bank_account.verified" in actions


FAKE = {
    "__init__.py": '"""A domain added by one entry in the list of domains."""\n',
    "api.py": """
        import uuid
        from fastapi import APIRouter
        from gullak.kit.security import CurrentSubject, Subject

        router = APIRouter(prefix="/v1/fake")

        async def authenticate(request, session, credentials):
            return Subject("fake", uuid.UUID(int=7)) if credentials == "open-sesame" else None

        @router.get("/whoami")
        async def whoami(subject: CurrentSubject) -> dict[str, str]:
            return {"kind": subject.kind, "id": str(subject.id)}
    """,
    "jobs.py": """
        from gullak.worker import queue

        @queue.task(name="fake.ping")
        async def ping() -> str:
            return "pong"
    """,
    "seed.py": """
        from sqlalchemy import text
        from gullak.kit.demo import DataSet
        from gullak.ledger import service as ledger

        async def load(session):
            # Needs the ledger's demo assets: fails if loaded before them.
            asset = await ledger.get_asset(session, "REZ")
            await session.execute(text("CREATE TABLE fake_loaded (asset text)"))
            await session.execute(text("INSERT INTO fake_loaded VALUES (:a)"), {"a": asset.code})

        DATA_SETS = (DataSet("fake", load, needs=("ledger",), notes=("Fake       loaded",)),)
    """,
}


async def test_a_new_domain_needs_one_entry(fresh_db: Database, settings: Settings,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    package = f"fake_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    for name, body in FAKE.items():
        (tmp_path / package / name).write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = domains.Domain("fake", package=package, needs=("ledger",), models=False, jobs=True,
                           seed=True, authenticators={"fake": "api:authenticate"})
    core = tuple(d for d in domains.DOMAINS if d.name in ("system", "ledger"))
    wiring = (entry, *core)  # listed first on purpose: the demo order does not follow the list

    assert f"{package}.jobs" in domains.job_modules(wiring)
    notes = await seed.load(fresh_db, wiring=wiring)
    assert "Fake       loaded" in notes
    async with unit_of_work(fresh_db) as session:
        assert await session.scalar(text("SELECT asset FROM fake_loaded")) == "REZ"
    async with http_client(create_app(settings, fresh_db, wiring)) as client:
        r = await client.get("/v1/fake/whoami", headers={"authorization": "Fake open-sesame"})
        assert r.json() == {"kind": "fake", "id": str(uuid.UUID(int=7))}
        refused = await client.get("/v1/fake/whoami", headers={"authorization": "Fake nope"})
        assert refused.status_code == 401


async def test_an_event_is_acted_on_in_the_publishers_unit_of_work(
        fresh_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = f"listens_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "flows.py").write_text(textwrap.dedent("""
        from sqlalchemy import text

        async def noted(session, event):
            if event.data["amount"] < 0:
                raise ValueError("refused by the listener")
            await session.execute(text("INSERT INTO heard (amount) VALUES (:a)"),
                                  {"a": event.data["amount"]})
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    listener = domains.Domain("listens", package=package, models=False, routers=(),
                              handlers={"thing.happened": "flows:noted"})
    core = tuple(d for d in domains.DOMAINS if d.name in ("system", "ledger"))
    domains.install((*core, listener, listener))  # two handlers of one event: both run
    async with unit_of_work(fresh_db) as session:
        await session.execute(text("CREATE TABLE heard (amount int)"))
    async with unit_of_work(fresh_db) as session:
        assert await events.publish(session, "thing.happened", {"amount": 5}) == 2
        assert await events.publish(session, "nobody.listens") == 0
    with pytest.raises(ValueError, match="refused by the listener"):
        async with unit_of_work(fresh_db) as session:
            await session.execute(text("INSERT INTO heard (amount) VALUES (99)"))
            await events.publish(session, "thing.happened", {"amount": -1})
    async with unit_of_work(fresh_db) as session:
        # The publisher's own write went with the refused event: all or nothing.
        assert (await session.execute(text("SELECT amount FROM heard"))).scalars().all() == [5, 5]


def test_a_process_that_was_not_wired_refuses_to_drop_events() -> None:
    code = ("import asyncio\n"
            "from gullak.kit import events\n"
            "try:\n"
            "    asyncio.run(events.publish(None, 'x.y'))\n"
            "except RuntimeError as exc:\n"
            "    print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("refused: no event handlers installed"), out.stdout + out.stderr
