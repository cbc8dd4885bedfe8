"""A user's addresses, one of them the default whenever there are any."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.identity import errors
from gullak.identity.models import Address
from gullak.identity.schemas import AddressIn, AddressOut
from gullak.kit.errors import InvalidInput
from gullak.kit.sql import Array


async def _own_address(session: AsyncSession, user_id: uuid.UUID,
                       address_id: uuid.UUID) -> Address:
    address = await session.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise errors.ItemNotFound("No such address.")
    return address


async def _clear_default(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(update(Address).where(Address.user_id == user_id, Address.is_default)
                          .values(is_default=False))


async def add_address(session: AsyncSession, user_id: uuid.UUID, data: AddressIn) -> AddressOut:
    _check_coordinates(data.latitude, data.longitude)
    first = await session.scalar(select(Address.id).where(Address.user_id == user_id)) is None
    if data.is_default or first:
        await _clear_default(session, user_id)
    address = Address(user_id=user_id,
                      **{**data.model_dump(), "is_default": data.is_default or first})
    session.add(address)
    await session.flush()
    return AddressOut.model_validate(address)


def _check_coordinates(lat: float | None, lng: float | None) -> None:
    if (lat is None) != (lng is None):
        raise InvalidInput("Give both latitude and longitude, or neither.",
                           code="invalid_coordinates", field="latitude")


async def update_address(session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID,
                         data: AddressIn) -> AddressOut:
    address = await _own_address(session, user_id, address_id)
    _check_coordinates(data.latitude, data.longitude)
    values = data.model_dump()
    if "is_default" not in data.model_fields_set:
        values["is_default"] = address.is_default  # not mentioned: unchanged
    if values["is_default"] and not address.is_default:
        await _clear_default(session, user_id)
    was_default = address.is_default
    for name, value in values.items():
        setattr(address, name, value)
    await session.flush()
    if was_default and not address.is_default:
        await _promote_default(session, user_id, exclude=address.id)
    return AddressOut.model_validate(address)


async def _promote_default(session: AsyncSession, user_id: uuid.UUID,
                           exclude: uuid.UUID | None = None) -> None:
    """Someone with addresses always has a default one: the newest other one takes over."""
    query = select(Address).where(Address.user_id == user_id).order_by(Address.created_at.desc())
    if exclude is not None:
        query = query.where(Address.id != exclude)
    other = await session.scalar(query.limit(1))
    if other is not None:
        other.is_default = True
        await session.flush()


async def list_addresses(session: AsyncSession, user_id: uuid.UUID) -> list[AddressOut]:
    rows = await session.scalars(select(Address).where(Address.user_id == user_id)
                                 .order_by(Address.is_default.desc(), Address.created_at))
    return [AddressOut.model_validate(a) for a in rows]


async def delete_address(session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
    address = await _own_address(session, user_id, address_id)
    was_default = address.is_default
    await session.delete(address)
    await session.flush()
    if was_default:
        await _promote_default(session, user_id)


_NAMES_AND_CITIES = text("""
SELECT u.id, coalesce(nullif(u.name, ''), u.username) AS shown, a.city
FROM users u LEFT JOIN LATERAL (
  SELECT city FROM addresses WHERE user_id = u.id
  ORDER BY is_default DESC, created_at LIMIT 1) a ON true
WHERE u.id = ANY(:ids) AND u.deleted_at IS NULL
""")


async def names_and_cities(session: AsyncSession, user_ids: Sequence[uuid.UUID]
                           ) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """For many users at once: the name shown (else the username) and the city of the first
    address `list_addresses` gives; users that do not exist (or were deleted) are left out."""
    rows = await session.execute(_NAMES_AND_CITIES, {"ids": Array(user_ids)})
    return {id_: (shown, city) for id_, shown, city in rows}
