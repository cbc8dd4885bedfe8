"""The push and email adapters against the providers' documented contracts (FCM HTTP v1,
APNs token auth, SMTP message shape), faked at HTTP with httpx.MockTransport; a token the
provider calls dead is retired from the user's device and never tried again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from sqlalchemy import select

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity.models import Device
from gullak.notifications import flows, service
from gullak.notifications.deliveries import Message
from gullak.notifications.models import NotificationDelivery
from gullak.notifications.providers.apns import ApnsSender
from gullak.notifications.providers.base import Senders
from gullak.notifications.providers.email import SmtpSender
from gullak.notifications.providers.fcm import FcmSender
from gullak.notifications.providers.sandbox import SandboxEmailSender
from gullak.settings import Settings
from tests.helpers.identity import rsa_key
from tests.notifications.support import deliveries
from tests.notifications.test_delivery import _notified

Handler = Callable[[httpx.Request], httpx.Response]
KEY = str(uuid.UUID("01a2479d-0000-7000-8000-0000000000d1"))
PUSH = Message(key=KEY, channel="push", platform="android", target="device-token-1",
               content={"title": "Hi", "body": "There", "data": {"notification_id": "n1"}},
               attempt=1)
ACCOUNT_KEY = rsa_key("fcm")
ACCOUNT = json.dumps({
    "type": "service_account", "client_email": "push@demo.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
    "private_key": ACCOUNT_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()})
APNS_KEY = ec.generate_private_key(ec.SECP256R1())
APNS_PEM = APNS_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()


def fcm(answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
        ) -> FcmSender:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "oauth2.googleapis.com":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            claims = jwt.decode(form["assertion"], ACCOUNT_KEY.public_key(), algorithms=["RS256"],
                                audience="https://oauth2.googleapis.com/token")
            assert claims["iss"] == "push@demo.iam.gserviceaccount.com"
            assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
            return httpx.Response(200, json={"access_token": "ya29.token", "expires_in": 3599})
        return answer(request)
    return FcmSender("demo-project", ACCOUNT,
                     client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def fcm_error(status: int, name: str, code: str | None = None, text: str = "") -> httpx.Response:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code}] if code else []
    return httpx.Response(status, json={"error": {"code": status, "status": name,
                                                  "message": text, "details": details}})


async def test_fcm_sends_as_documented() -> None:
    seen: list[httpx.Request] = []
    sender = fcm(lambda r: httpx.Response(
        200, json={"name": "projects/demo-project/messages/0:123"}), seen)
    outcome = await sender.send(PUSH)
    assert (outcome.status, outcome.provider_id) == ("sent", "projects/demo-project/messages/0:123")
    token_call, send_call = seen
    assert token_call.method == "POST" and b"jwt-bearer" in token_call.content
    assert str(send_call.url) == (
        "https://fcm.googleapis.com/v1/projects/demo-project/messages:send")
    assert send_call.headers["authorization"] == "Bearer ya29.token"
    body = json.loads(send_call.content)["message"]
    assert body["token"] == "device-token-1"
    assert body["notification"] == {"title": "Hi", "body": "There"}
    assert body["data"] == {"notification_id": "n1", "gullak_key": KEY}
    await sender.send(PUSH)
    assert len(seen) == 3  # the access token is reused


async def test_fcm_errors_are_classified() -> None:
    cases = [
        (fcm_error(404, "NOT_FOUND", "UNREGISTERED"), "invalid_target"),
        (fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                   "The registration token is not a valid FCM registration token"),
         "invalid_target"),
        (fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid JSON payload"),
         "failed"),
        (fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), "retry"),
        (fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), "retry"),
        (fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), "retry"),
    ]
    for response, expected in cases:
        outcome = await fcm(lambda r, answer=response: answer, []).send(PUSH)
        assert outcome.status == expected, (response.status_code, outcome)
        assert "ya29" not in (outcome.error or "")


def apns(answer: Handler, seen: list[httpx.Request]) -> ApnsSender:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)
    return ApnsSender("TEAM123456", "KEY1234567", APNS_PEM, "com.example.app",
                      client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_apns_sends_as_documented() -> None:
    seen: list[httpx.Request] = []
    sender = apns(lambda r: httpx.Response(200, headers={"apns-id": r.headers["apns-id"]}), seen)
    ios = Message(KEY, "push", "ios", "abcdef0123", PUSH.content, 1)
    outcome = await sender.send(ios)
    assert (outcome.status, outcome.provider_id) == ("sent", KEY)
    [request] = seen
    assert str(request.url) == "https://api.push.apple.com/3/device/abcdef0123"
    assert request.headers["apns-id"] == KEY  # the idempotency key, as Apple's id
    assert request.headers["apns-topic"] == "com.example.app"
    assert request.headers["apns-push-type"] == "alert"
    token = request.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "KEY1234567"
    assert jwt.decode(token, APNS_KEY.public_key(), algorithms=["ES256"])["iss"] == "TEAM123456"
    body = json.loads(request.content)
    assert body["aps"]["alert"] == {"title": "Hi", "body": "There"}


async def test_apns_errors_are_classified() -> None:
    cases = [(410, "Unregistered", "invalid_target"), (400, "BadDeviceToken", "invalid_target"),
             (400, "DeviceTokenNotForTopic", "invalid_target"), (400, "BadTopic", "failed"),
             (403, "ExpiredProviderToken", "retry"), (429, "TooManyRequests", "retry"),
             (503, "ServiceUnavailable", "retry")]
    for status, reason, expected in cases:
        sender = apns(lambda r, s=status, why=reason: httpx.Response(s, json={"reason": why}), [])
        outcome = await sender.send(Message(KEY, "push", "ios", "t", PUSH.content, 1))
        assert outcome.status == expected, (status, reason, outcome)


def test_email_carries_the_key_as_message_id() -> None:
    sender = SmtpSender("smtp.example.com", 587, "Gullak <no-reply@gullak.example>")
    mail = sender.build(Message(KEY, "email", None, "asha@example.com", {
        "subject": "Hello", "text": "Plain", "html": "<p>Rich</p>"}, 1))
    assert mail["Message-ID"] == f"<{KEY}@gullak.example>"
    assert (mail["To"], mail["Subject"]) == ("asha@example.com", "Hello")
    assert mail.is_multipart() and "<p>Rich</p>" in mail.as_string()


async def test_a_dead_token_is_retired(fresh_db: Database, settings: Settings) -> None:
    found = await _notified(fresh_db, phone=False, devices=("android", "ios"))
    android = fcm(lambda r: fcm_error(404, "NOT_FOUND", "UNREGISTERED"), [])
    ios = apns(lambda r: httpx.Response(410, json={"reason": "Unregistered"}), [])
    senders = Senders(android=android, ios=ios, sms=android,
                      email=SandboxEmailSender(fresh_db))
    for delivery in found:
        await flows.deliver(fresh_db, settings, senders, delivery.id)
    async with unit_of_work(fresh_db) as session:
        rows = {d.channel + (d.platform or ""): d for d in await session.scalars(
            select(NotificationDelivery).where(
                NotificationDelivery.id.in_([d.id for d in found])))}
        devices = list(await session.scalars(select(Device).where(
            Device.user_id == found[0].user_id)))
    assert rows["pushandroid"].status == rows["pushios"].status == "failed"
    assert rows["email"].status == "sent"
    assert [d.push_token for d in devices] == [None, None]
    assert {d.push_enabled for d in devices} == {True}  # the device stays, without a token
    # The next notification is not pushed to the dead tokens.
    async with unit_of_work(fresh_db) as session:
        again = await service.notify(session, found[0].user_id, "marketing.offer",
                                     {"title": "T", "body": "B"})
        assert again is not None
        assert [d.channel for d in await deliveries(session, again)] == ["email"]


def test_the_configured_senders(settings: Settings) -> None:
    db = None  # the sandboxes only use it when sending
    chosen = flows.senders_from(settings, db)  # type: ignore[arg-type]
    assert (chosen.android.name, chosen.ios.name, chosen.email.name) == (
        "sandbox", "sandbox", "sandbox")
    only_fcm = settings.model_copy(update={
        "push_provider": "live", "fcm_project_id": "demo",
        "fcm_service_account_json": SecretStr(ACCOUNT), "email_provider": "smtp",
        "smtp_host": "smtp.example.com"})
    chosen = flows.senders_from(only_fcm, db)  # type: ignore[arg-type]
    assert (chosen.android.name, chosen.ios.name, chosen.email.name) == ("fcm", "fcm", "smtp")
    for broken in ({"push_provider": "live"}, {"email_provider": "smtp"}):
        with pytest.raises(ValueError) as refused:
            flows.senders_from(settings.model_copy(update=broken), db)  # type: ignore[arg-type]
        assert "GULLAK_" in str(refused.value)
