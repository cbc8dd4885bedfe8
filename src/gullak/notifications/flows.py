"""Sending a delivery, between units of work: claim it (committed), call the provider with
the delivery's id as idempotency key (no transaction open), record the outcome (committed)."""

from __future__ import annotations

import uuid

import structlog

from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.notifications import deliveries
from gullak.notifications.deliveries import Outcome
from gullak.notifications.providers.apns import ApnsSender
from gullak.notifications.providers.base import Sender, Senders
from gullak.notifications.providers.email import SmtpSender
from gullak.notifications.providers.fcm import FcmSender
from gullak.notifications.providers.sandbox import SandboxEmailSender, SandboxPushSender
from gullak.notifications.providers.sms import SmsChannel
from gullak.settings import Settings

log = structlog.get_logger("gullak.notifications")


def senders_from(settings: Settings, db: Database) -> Senders:
    """The configured senders; sandboxes unless live push or SMTP is set up. Live push sends
    iOS through APNs when it is configured, else through FCM (apps that take FCM tokens on
    iOS too)."""
    android: Sender = SandboxPushSender(db)
    ios: Sender = android
    if settings.push_provider == "live":
        fcm: Sender | None = None
        apns: Sender | None = None
        if settings.fcm_project_id and settings.fcm_service_account_json:
            fcm = FcmSender(settings.fcm_project_id,
                            settings.fcm_service_account_json.get_secret_value())
        if (settings.apns_team_id and settings.apns_key_id and settings.apns_private_key
                and settings.apns_topic):
            apns = ApnsSender(settings.apns_team_id, settings.apns_key_id,
                              settings.apns_private_key.get_secret_value(), settings.apns_topic,
                              development=settings.apns_development)
        if fcm is None and apns is None:
            raise ValueError("GULLAK_PUSH_PROVIDER=live needs GULLAK_FCM_PROJECT_ID and "
                             "GULLAK_FCM_SERVICE_ACCOUNT_JSON, or the GULLAK_APNS_* settings")
        android = fcm or android
        ios = apns or fcm or ios
    email: Sender = SandboxEmailSender(db)
    if settings.email_provider == "smtp":
        if not settings.smtp_host:
            raise ValueError("GULLAK_EMAIL_PROVIDER=smtp needs GULLAK_SMTP_HOST")
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        email = SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_from,
                           username=settings.smtp_username, password=password,
                           starttls=settings.smtp_starttls)
    return Senders(android=android, ios=ios, sms=SmsChannel(identity.sms_sender(settings)),
                   email=email)


async def deliver(db: Database, settings: Settings, senders: Senders,
                  delivery_id: uuid.UUID) -> str:
    """Send one delivery if it is due and free; its status after, or 'skipped'."""
    async with unit_of_work(db) as session:
        message = await deliveries.claim(session, settings, delivery_id)
    if message is None:
        return "skipped"
    sender = senders.for_message(message)
    try:
        outcome = await sender.send(message)
    except Exception as exc:  # an unexpected answer is a temporary failure, not a lost one
        log.warning("notification_send_error", delivery_id=str(delivery_id),
                    channel=message.channel, error=type(exc).__name__)
        outcome = Outcome("retry", sender.name, error=type(exc).__name__)
    async with unit_of_work(db) as session:
        return await deliveries.record(session, settings, delivery_id, outcome)


async def deliver_due(db: Database, settings: Settings, senders: Senders,
                      limit: int = 500) -> int:
    """Send what is due now (quiet hours over, retries, expired leases); how many were sent."""
    async with unit_of_work(db) as session:
        due = await deliveries.due_deliveries(session, limit)
    sent = 0
    for delivery_id in due:
        sent += await deliver(db, settings, senders, delivery_id) == "sent"
    return sent
