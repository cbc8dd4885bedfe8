"""Email over SMTP with the standard library (smtplib in a thread, so the event loop keeps
running). The Message-ID is built from the idempotency key, so a repeat after a lost record
is the same message to mail clients, which show one copy."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from gullak.notifications.deliveries import Message, Outcome


class SmtpSender:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = True, timeout: float = 20) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        content = message.content
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.target, content["subject"]
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message.key}@{domain}>"
        mail.set_content(content["text"])
        if content.get("html"):
            mail.add_alternative(content["html"], subtype="html")
        return mail

    def _send(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(mail)

    async def send(self, message: Message) -> Outcome:
        mail = self.build(message)
        try:
            await asyncio.to_thread(self._send, mail)
        except smtplib.SMTPRecipientsRefused:
            return Outcome("failed", self.name, error="recipient refused")
        except smtplib.SMTPResponseException as exc:
            # 4xx: try later; 5xx: the server will not take it.
            temporary = 400 <= exc.smtp_code < 500
            return Outcome("retry" if temporary else "failed", self.name,
                           error=f"smtp {exc.smtp_code}")
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome("retry", self.name, error=type(exc).__name__)
        return Outcome("sent", self.name, provider_id=str(mail["Message-ID"]))
