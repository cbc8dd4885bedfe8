"""Payment methods (UserState's payment types): checkout lists the enabled ones in order; an
admin with `payments.manage` turns one off, renames or moves it, and the change is audited."""

from __future__ import annotations

import uuid

import httpx

from gullak.db.engine import Database
from tests.helpers.problems import assert_problem
from tests.payments.support import ADMIN, as_user, count

MANAGER = {"x-admin": "payments.read,payments.manage"}


async def test_checkout_lists_what_admins_enable(pay: httpx.AsyncClient,
                                                fresh_db: Database) -> None:
    listed = (await pay.get("/v1/payment-methods")).json()
    codes = [m["code"] for m in listed]
    assert codes[:3] == ["CREDIT_CARD", "UPI", "NETBANKING"]
    assert "QR_CODE" not in codes and all(m["enabled"] for m in listed)
    every = (await pay.get("/v1/admin/payment-methods", headers=ADMIN)).json()
    assert {m["code"] for m in every} == {*codes, "QR_CODE"}

    r = await pay.patch("/v1/admin/payment-methods/UPI",
                        json={"enabled": False, "name": "UPI apps"}, headers=MANAGER)
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = await pay.patch("/v1/admin/payment-methods/QR_CODE",
                        json={"enabled": True, "position": 0}, headers=MANAGER)
    assert r.status_code == 200
    codes = [m["code"] for m in (await pay.get("/v1/payment-methods")).json()]
    assert codes[:2] == ["CREDIT_CARD", "QR_CODE"] and "UPI" not in codes
    assert await count(fresh_db, "audit_log", "action = 'payments.method.change'") == 2


async def test_changes_need_the_permission_and_a_known_method(pay: httpx.AsyncClient,
                                                              fresh_db: Database) -> None:
    off = {"enabled": False}
    assert_problem(await pay.patch("/v1/admin/payment-methods/UPI", json=off, headers=ADMIN),
                   403, "forbidden")
    assert_problem(await pay.patch("/v1/admin/payment-methods/UPI", json=off,
                                   headers=as_user(uuid.uuid4())), 403, "forbidden")
    assert_problem(await pay.patch("/v1/admin/payment-methods/PIGEON", json=off,
                                   headers=MANAGER), 404, "payment_method_not_found")
    assert_problem(await pay.patch("/v1/admin/payment-methods/upi", json=off,
                                   headers=MANAGER), 422, "validation_error", "code")
    assert_problem(await pay.patch("/v1/admin/payment-methods/UPI",
                                   json={"position": -1, "name": "x\u0000"}, headers=MANAGER),
                   422, "validation_error")
    codes = [m["code"] for m in (await pay.get("/v1/payment-methods")).json()]
    assert "UPI" in codes
    assert await count(fresh_db, "audit_log", "action = 'payments.method.change'") == 0
