"""Identity jobs: hand queued text messages to the SMS provider after their cause committed."""

from __future__ import annotations

import uuid

from gullak.db.uow import unit_of_work
from gullak.identity import service
from gullak.identity.sms import sender_from
from gullak.settings import get_settings
from gullak.worker import queue, worker_db


@queue.task(name="identity.send_sms", retry=5, pass_context=False)
async def send_sms(message_id: str) -> str:
    async with unit_of_work(worker_db()) as session:
        return await service.send_sms(session, uuid.UUID(message_id),
                                      sender_from(get_settings()))
