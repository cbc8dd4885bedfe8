"""The back office's exports through HTTP: asked for, run by the job, followed, downloaded;
refused without the permission, refused on bad input with nothing written."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gullak.db.engine import Database
from gullak.settings import Settings
from tests.exports.support import (
    AWKWARD,
    add_orders,
    as_admin,
    at,
    read_csv,
    read_parquet,
    run_jobs,
)

DEEP: Any = []
for _ in range(60):
    DEEP = [DEEP]
BODY = {"dataset": "orders", "since": "2026-11-10", "until": "2026-11-11", "format": "csv"}


async def count(db: Database, sql: str) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def logged(db: Database) -> int:
    return await count(db, "SELECT count(*) FROM warehouse_exports")


async def queued_jobs(db: Database) -> int:
    return await count(db, "SELECT count(*) FROM procrastinate_jobs"
                           " WHERE task_name = 'exports.run'")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_create_run_and_download(api: httpx.AsyncClient, fresh_db: Database,
                                       settings: Settings, fmt: str) -> None:
    ids = await add_orders(fresh_db, [at("2026-11-10", n) for n in range(len(AWKWARD))],
                           coupons=list(AWKWARD))

    asked = await api.post("/v1/admin/exports", headers=as_admin(), json={**BODY, "format": fmt})
    assert asked.status_code == 202, asked.text
    export = asked.json()
    assert export["status"] == "queued" and export["requested_by_kind"] == "admin"
    assert export["requested_by"] == str(uuid.UUID(int=1))
    early = await api.get(f"/v1/admin/exports/{export['id']}/download", headers=as_admin())
    assert early.status_code == 409 and early.json()["code"] == "export_not_ready"

    assert await run_jobs(fresh_db, settings) == ["done"]
    assert await run_jobs(fresh_db, settings) == []  # one job, run once

    shown = (await api.get(f"/v1/admin/exports/{export['id']}", headers=as_admin())).json()
    assert shown["status"] == "done" and shown["rows"] == len(ids)
    assert shown["started_at"] <= shown["finished_at"]
    got = await api.get(f"/v1/admin/exports/{export['id']}/download", headers=as_admin())
    assert got.status_code == 200
    assert got.headers["content-disposition"] == \
        f'attachment; filename="orders_2026-11-10_2026-11-11.{fmt}"'
    assert len(got.content) == shown["bytes"]
    assert hashlib.sha256(got.content).hexdigest() == shown["checksum"]
    rows = read_csv(got.content) if fmt == "csv" else read_parquet(got.content)
    assert [r["id"] for r in rows] == [str(i) for i in ids]
    assert [r["coupon_code"] for r in rows] == AWKWARD

    actions = await count(fresh_db, "SELECT count(*) FROM audit_log WHERE entity_type ="
                                    " 'warehouse_export' AND action IN"
                                    " ('exports.export.create', 'exports.export.download')")
    assert actions == 2


async def test_the_run_log_lists_newest_first_by_page(api: httpx.AsyncClient,
                                                      fresh_db: Database) -> None:
    made = []
    for dataset in ("orders", "cashbacks", "withdrawals"):
        answer = await api.post("/v1/admin/exports", headers=as_admin(),
                                json={**BODY, "dataset": dataset})
        made.append(answer.json()["id"])

    first = (await api.get("/v1/admin/exports?limit=2", headers=as_admin())).json()
    rest = (await api.get(f"/v1/admin/exports?limit=2&cursor={first['next_cursor']}",
                          headers=as_admin())).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == made[::-1]
    assert rest["next_cursor"] is None
    only = (await api.get("/v1/admin/exports?dataset=cashbacks", headers=as_admin())).json()
    assert [e["id"] for e in only["items"]] == [made[1]]
    done = (await api.get("/v1/admin/exports?status=done", headers=as_admin())).json()
    assert done["items"] == []


async def test_each_route_needs_its_permission(api: httpx.AsyncClient,
                                               fresh_db: Database) -> None:
    made = (await api.post("/v1/admin/exports", headers=as_admin(), json=BODY)).json()
    before = await logged(fresh_db)
    reader, runner = as_admin("exports.read"), as_admin("exports.run")
    refused = [
        await api.post("/v1/admin/exports", headers=reader, json=BODY),
        await api.post("/v1/admin/exports", headers=as_admin("payouts.read"), json=BODY),
        await api.get("/v1/admin/exports", headers=runner),
        await api.get(f"/v1/admin/exports/{made['id']}", headers=runner),
        await api.get(f"/v1/admin/exports/{made['id']}/download", headers=runner),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert {r.json()["code"] for r in refused} == {"forbidden"}
    assert await logged(fresh_db) == before and await queued_jobs(fresh_db) == 1
    unsigned = await api.get("/v1/admin/exports", headers={})
    assert unsigned.status_code == 403  # the header-less admin of the test app holds nothing


BAD_BODIES: list[Any] = [
    {**BODY, "dataset": "users"},
    {**BODY, "dataset": "orders\x00"},
    b'{"dataset": "\\ud800", "since": "2026-11-10", "until": "2026-11-11"}',
    b'{"dataset": "orders", "since": "2026-11-10", "until": "2026-11-11"',
    {**BODY, "format": "xlsx"},
    {**BODY, "until": "2026-11-10"},
    {**BODY, "until": "2026-11-09"},
    {**BODY, "since": "2026-13-01"},
    {**BODY, "since": "99999-01-01"},
    {**BODY, "since": 20261110},
    {**BODY, "since": None},
    {**BODY, "since": "2026-11-10T00:00:00\x00"},
    {**BODY, "extra": 1},
    {k: v for k, v in BODY.items() if k != "dataset"},
    {**BODY, "dataset": ["orders"]},
    {**BODY, "dataset": {"a": DEEP}},
    [BODY],
]


async def test_bad_input_is_refused_and_writes_nothing(api: httpx.AsyncClient,
                                                       fresh_db: Database) -> None:
    for body in BAD_BODIES:
        if isinstance(body, bytes):
            answer = await api.post("/v1/admin/exports", content=body, headers={
                **as_admin(), "content-type": "application/json"})
        else:
            answer = await api.post("/v1/admin/exports", headers=as_admin(), json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert answer.json()["code"] in ("validation_error", "invalid_export_period",
                                         "malformed_json"), answer.text
    assert await logged(fresh_db) == 0 and await queued_jobs(fresh_db) == 0


async def test_a_period_that_ends_before_it_starts_names_the_field(
        api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/admin/exports", headers=as_admin(),
                            json={**BODY, "until": "2026-11-01"})
    assert answer.json()["code"] == "invalid_export_period"
    assert answer.json()["field"] == "until"


BAD_PATHS = [
    "/v1/admin/exports/not-a-uuid", "/v1/admin/exports/not-a-uuid/download",
    "/v1/admin/exports?cursor=nope", "/v1/admin/exports?limit=0",
    "/v1/admin/exports?limit=100000000000000000000", "/v1/admin/exports?status=lost",
    "/v1/admin/exports?dataset=%00",
]


async def test_bad_paths_and_queries_are_refused(api: httpx.AsyncClient) -> None:
    for path in BAD_PATHS:
        answer = await api.get(path, headers=as_admin())
        assert answer.status_code == 422, (path, answer.text)


async def test_an_unknown_export_is_not_found(api: httpx.AsyncClient) -> None:
    for suffix in ("", "/download"):
        answer = await api.get(f"/v1/admin/exports/{uuid.uuid4()}{suffix}", headers=as_admin())
        assert answer.status_code == 404 and answer.json()["code"] == "export_not_found"
