"""A user's devices and their push tokens."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.models import Device
from gullak.identity.schemas import PushDeviceIn, PushDeviceOut


async def put_device(session: AsyncSession, user_id: uuid.UUID, device_id: str,
                     data: PushDeviceIn) -> PushDeviceOut:
    device = await session.scalar(select(Device).where(Device.user_id == user_id,
                                                       Device.device_id == device_id))
    if device is None:
        device = Device(user_id=user_id, device_id=device_id, platform=data.platform)
        session.add(device)
    if data.push_token is not None:
        # A push token names one app on one phone: whoever registers it last is who it
        # reaches. Kept on another's row (signed out on a shared or resold phone), it would
        # carry their notifications to the person now holding the phone.
        await session.execute(update(Device).where(
            Device.push_token == data.push_token,
            (Device.user_id != user_id) | (Device.device_id != device_id))
            .values(push_token=None))
    for name, value in data.model_dump().items():
        setattr(device, name, value)
    await session.flush()
    await session.refresh(device)
    return _device_out(device)


def _device_out(device: Device) -> PushDeviceOut:
    return PushDeviceOut(device_id=device.device_id, platform=device.platform, name=device.name,
                         app_version=device.app_version, push_enabled=device.push_enabled,
                         has_push_token=bool(device.push_token), updated_at=device.updated_at)


async def list_devices(session: AsyncSession, user_id: uuid.UUID) -> list[PushDeviceOut]:
    rows = await session.scalars(select(Device).where(Device.user_id == user_id)
                                 .order_by(Device.updated_at.desc()))
    return [_device_out(d) for d in rows]


async def delete_device(session: AsyncSession, user_id: uuid.UUID, device_id: str) -> None:
    device = await session.scalar(select(Device).where(Device.user_id == user_id,
                                                       Device.device_id == device_id))
    if device is None:
        raise errors.ItemNotFound("No such device.")
    await session.delete(device)


async def push_targets(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The push tokens to notify a user on (enabled devices only)."""
    rows = await session.scalars(select(Device.push_token).where(
        Device.user_id == user_id, Device.push_enabled, Device.push_token.is_not(None)))
    return [t for t in rows if t]
