"""Text messages: written to the outbox with their cause, handed to the provider by a job.

Twilio is faked at its HTTP API (httpx.MockTransport): the request we send is the contract."""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak import worker
from gullak.app import create_app
from gullak.db.engine import Database
from gullak.identity import jobs, service
from gullak.identity.models import SmsMessage
from gullak.identity.sms import SandboxSms, Sent, TwilioSms, sender_from
from gullak.settings import ConfigError, Settings, check_startup
from tests.helpers.http import guarded_client
from tests.helpers.problems import assert_problem
from tests.helpers.users import new_phone

SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-token-not-real"
FROM = "+15005550006"


def fake_twilio(seen: list[httpx.Request], status: int = 201) -> httpx.AsyncClient:
    """An HTTP client whose requests reach a stand-in for Twilio's Messages API."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status >= 400:
            return httpx.Response(status, json={"code": 21211, "message": "Invalid 'To'"})
        return httpx.Response(status, json={"sid": f"SM{len(seen):032d}", "status": "queued"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def twilio_settings(tmp_path: Path, **given: Any) -> Settings:
    values: dict[str, Any] = {"twilio_account_sid": None, "twilio_auth_token": None,
                              "twilio_from": None, **given}
    return Settings(env="test", data_dir=tmp_path / "data", sms_provider="twilio", **values)


async def send_jobs(db: Database) -> list[tuple[str, dict[str, str]]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT status::text, args FROM procrastinate_jobs"
            " WHERE task_name = 'identity.send_sms' ORDER BY id"))
        return [(r[0], r[1]) for r in rows]


async def outbox(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT id, phone, body, provider, provider_id, status, sent_at FROM sms_outbox"
            " ORDER BY created_at, id"))).all())


CODE_MESSAGE = re.compile(r"^\d{6} is your Gullak code\.")


# -- the outbox and its job -------------------------------------------------------------------

async def test_a_code_request_writes_one_message_and_one_job_then_the_sandbox_keeps_it(
        fresh_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(settings, fresh_db)
    phone = new_phone()
    async with guarded_client(app) as c:
        assert (await c.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
        # Refused requests leave neither a message nor a job.
        assert_problem(await c.post("/v1/auth/otp", json={"phone": phone}), 429, "otp_cooldown")
        assert_problem(await c.post("/v1/auth/otp", json={"phone": "12345"}), 422, "invalid_phone",
                       "phone")
    [message] = await outbox(fresh_db)
    assert message.phone == phone and message.status == "queued"
    assert CODE_MESSAGE.match(message.body)
    assert await send_jobs(fresh_db) == [("todo", {"message_id": str(message.id)})]

    monkeypatch.setattr(jobs, "get_settings", lambda: settings)  # sms_provider="sandbox"
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    assert await send_jobs(fresh_db) == [("succeeded", {"message_id": str(message.id)})]
    [sent] = await outbox(fresh_db)
    # Nothing left the machine: the body stays for the developer to read.
    assert (sent.status, sent.provider, sent.provider_id) == ("sandbox", "sandbox", None)
    assert sent.body == message.body and sent.sent_at is not None


async def test_the_job_is_written_in_the_requests_transaction(
        client: httpx.AsyncClient, connection: AsyncConnection, db: Database) -> None:
    phone = new_phone()
    assert (await client.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    message_id = await connection.scalar(text("SELECT id FROM sms_outbox WHERE phone = :p"),
                                         {"p": phone})
    query = text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'identity.send_sms'"
                 " AND args->>'message_id' = :m")
    # Visible inside the transaction that wrote the message, and nowhere else until it commits.
    assert await connection.scalar(query, {"m": str(message_id)}) == 1
    async with db.engine.connect() as elsewhere:
        assert await elsewhere.scalar(query, {"m": str(message_id)}) == 0


async def test_the_job_hands_the_message_to_twilio_and_clears_the_body(
        fresh_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    http = fake_twilio(seen)
    twilio = TwilioSms(SID, AUTH_TOKEN, FROM, client=http)
    chosen: list[Settings] = []

    def sender(given: Settings) -> TwilioSms:
        chosen.append(given)
        return twilio

    monkeypatch.setattr(jobs, "sender_from", sender)
    app = create_app(settings, fresh_db)
    phone = new_phone()
    async with guarded_client(app) as c:
        assert (await c.post("/v1/auth/otp", json={"phone": phone})).status_code == 202
    [queued] = await outbox(fresh_db)
    await worker.run(fresh_db.url, concurrency=1, stop_after_idle=True)
    await http.aclose()

    assert len(seen) == 1 and chosen
    form = {k: v[0] for k, v in parse_qs(seen[0].content.decode()).items()}
    assert form == {"To": phone, "From": FROM, "Body": queued.body}
    [sent] = await outbox(fresh_db)
    assert (sent.status, sent.provider, sent.provider_id) == ("sent", "twilio", f"SM{1:032d}")
    assert sent.body is None and sent.sent_at is not None
    assert await send_jobs(fresh_db) == [("succeeded", {"message_id": str(sent.id)})]


# -- the Twilio adapter -----------------------------------------------------------------------

async def test_twilio_gets_the_documented_request() -> None:
    seen: list[httpx.Request] = []
    async with fake_twilio(seen) as http:
        sent = await TwilioSms(SID, AUTH_TOKEN, FROM, client=http).send(
            "+919812345678", "123456 is your Gullak code.")
    assert sent == Sent(provider="twilio", provider_id=f"SM{1:032d}", sandbox=False)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    expected = base64.b64encode(f"{SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "To": ["+919812345678"], "From": [FROM], "Body": ["123456 is your Gullak code."]}


async def queued_message(session: AsyncSession) -> uuid.UUID:
    message = SmsMessage(phone=new_phone(), body="654321 is your Gullak code.")
    session.add(message)
    await session.flush()
    return message.id


async def message_row(connection: AsyncConnection, message_id: uuid.UUID) -> Any:
    return (await connection.execute(text(
        "SELECT body, status, provider, provider_id, sent_at FROM sms_outbox WHERE id = :id"),
        {"id": message_id})).one()


async def test_a_refused_send_keeps_the_message_for_the_retry(
        session: AsyncSession, connection: AsyncConnection) -> None:
    message_id = await queued_message(session)
    seen: list[httpx.Request] = []
    async with fake_twilio(seen, status=400) as http:
        with pytest.raises(httpx.HTTPStatusError):
            await service.send_sms(session, message_id, TwilioSms(SID, AUTH_TOKEN, FROM,
                                                                  client=http))
    await session.flush()
    row = await message_row(connection, message_id)
    assert (row.status, row.body, row.sent_at) == ("queued", "654321 is your Gullak code.", None)

    async with fake_twilio(seen) as http:
        twilio = TwilioSms(SID, AUTH_TOKEN, FROM, client=http)
        assert await service.send_sms(session, message_id, twilio) == "sent"
        await session.flush()
        # Sent once: running the job again sends nothing.
        assert await service.send_sms(session, message_id, twilio) == "skipped"
    assert len(seen) == 2
    row = await message_row(connection, message_id)
    assert (row.status, row.body, row.provider) == ("sent", None, "twilio")


async def test_the_sandbox_sends_nothing_and_keeps_the_body(
        session: AsyncSession, connection: AsyncConnection) -> None:
    message_id = await queued_message(session)
    assert await service.send_sms(session, message_id, SandboxSms()) == "sandbox"
    await session.flush()
    row = await message_row(connection, message_id)
    assert (row.status, row.provider, row.body) == ("sandbox", "sandbox",
                                                    "654321 is your Gullak code.")
    assert await service.send_sms(session, message_id, SandboxSms()) == "skipped"
    assert await service.send_sms(session, uuid.uuid4(), SandboxSms()) == "skipped"


# -- configuration ----------------------------------------------------------------------------

def test_the_sender_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(sender_from(Settings(env="test", data_dir=tmp_path)), SandboxSms)
    twilio = sender_from(twilio_settings(tmp_path, twilio_account_sid=SID,
                                         twilio_auth_token=AUTH_TOKEN, twilio_from=FROM))
    assert isinstance(twilio, TwilioSms)
    assert (twilio.account_sid, twilio.auth_token, twilio.sender) == (SID, AUTH_TOKEN, FROM)


MISSING: list[dict[str, str]] = [
    {},
    {"twilio_account_sid": SID},
    {"twilio_account_sid": SID, "twilio_auth_token": AUTH_TOKEN},
    {"twilio_auth_token": AUTH_TOKEN, "twilio_from": FROM},
    {"twilio_account_sid": SID, "twilio_from": FROM},
]


def test_twilio_without_credentials_fails_clearly(tmp_path: Path) -> None:
    for given in MISSING:
        with pytest.raises(ValueError) as failure:
            sender_from(twilio_settings(tmp_path, **given))
        message = str(failure.value)
        for name in ("GULLAK_TWILIO_ACCOUNT_SID", "GULLAK_TWILIO_AUTH_TOKEN",
                     "GULLAK_TWILIO_FROM"):
            assert name in message, (given, message)
        assert AUTH_TOKEN not in message


def test_twilio_without_credentials_stops_the_app_at_start_up(tmp_path: Path) -> None:
    """Otherwise the app starts, answers 202 to every code request, and no code ever
    arrives: each send job fails in the background."""
    for given in MISSING:
        with pytest.raises(ConfigError, match="GULLAK_TWILIO"):
            check_startup(twilio_settings(tmp_path, **given))
