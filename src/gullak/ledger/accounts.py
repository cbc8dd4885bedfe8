"""Ledger assets and accounts: opening, freezing, limits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.kit import clock
from gullak.kit.errors import InvalidInput
from gullak.kit.ids import uuid7
from gullak.kit.sql import Array
from gullak.ledger import errors
from gullak.ledger.common import check_amount, rows
from gullak.ledger.models import Account, Asset
from gullak.ledger.schemas import AccountIn, AccountOut, AssetIn, AssetOut, OwnerType

PLATFORM_SHARDS = 16  # platform accounts take the hot traffic (issuance, breakage...)


async def create_asset(session: AsyncSession, data: AssetIn) -> AssetOut:
    if data.expires and data.lifetime_days is None:
        raise InvalidInput("An expiring asset needs lifetime_days.", field="lifetime_days")
    # ON CONFLICT: two first uses at once (a merchant's branded coins) get one asset and one
    # clean refusal, never a unique violation.
    created = await session.scalar(
        insert(Asset).values(**data.model_dump()).on_conflict_do_nothing(
            index_elements=[Asset.code]).returning(Asset.code))
    if created is None:
        raise errors.AssetExists(field="code")
    return await get_asset(session, data.code)


async def get_asset(session: AsyncSession, code: str) -> AssetOut:
    asset = await session.get(Asset, code)
    if asset is None:
        raise errors.AssetNotFound(field="asset_code")
    return AssetOut.model_validate(asset)


_ASSET_COLUMNS = tuple(AssetOut.model_fields)
_ASSETS = f"SELECT {', '.join(_ASSET_COLUMNS)} FROM ledger_assets ORDER BY code"


async def list_assets(session: AsyncSession) -> list[AssetOut]:
    """Every asset, by code: read by every order's pricing, so on the driver."""
    return [AssetOut.model_validate(dict(zip(_ASSET_COLUMNS, row)))
            for row in await rows(session, _ASSETS, ())]


async def open_account(session: AsyncSession, data: AccountIn) -> AccountOut:
    """The account of this owner, asset and purpose; opened on first use."""
    platform = data.owner_type == OwnerType.platform
    if platform != (data.owner_id is None):
        raise InvalidInput("owner_id is required, except for platform accounts.",
                                  field="owner_id")
    # Nearly every call finds the account open: one read, where opening takes three.
    found = await _find(session, data, platform)
    if found is not None:
        return found
    asset = await get_asset(session, data.asset_code)
    shards = PLATFORM_SHARDS if platform else 1
    account_id = uuid7()
    inserted = (await session.execute(
        text("""INSERT INTO ledger_accounts (id, asset_code, owner_type, owner_id, purpose,
                    allow_negative, shards, lots, daily_limit, monthly_limit)
                VALUES (:id, :asset, :otype, :oid, :purpose, :neg, :shards, :lots, :dl, :ml)
                ON CONFLICT ON CONSTRAINT uq_ledger_accounts_owner DO NOTHING RETURNING id"""),
        {"id": account_id, "asset": asset.code, "otype": data.owner_type.value,
         "oid": data.owner_id, "purpose": data.purpose, "neg": platform, "shards": shards,
         "lots": asset.expires and not platform, "dl": data.daily_limit,
         "ml": data.monthly_limit},
    )).first()
    if inserted is not None:
        await session.execute(
            text("INSERT INTO ledger_balances (account_id, shard, asset_code, shards,"
                 " allow_negative, lots, limited)"
                 " SELECT :id, s, :asset, :shards, :neg, :lots, :limited"
                 " FROM generate_series(0, :shards - 1) AS s"),
            {"id": account_id, "asset": asset.code, "neg": platform, "shards": shards,
             "lots": asset.expires and not platform,
             "limited": data.daily_limit is not None or data.monthly_limit is not None},
        )
    account = await _find(session, data, platform)
    assert account is not None
    return account


# Every posting finds its accounts first (a payment's capture finds four): one statement on
# the driver, written once, where building an ORM select each time cost more than the read.
_COLUMNS = tuple(AccountOut.model_fields)
_FIND_OWNED = f"""SELECT {", ".join(_COLUMNS)} FROM ledger_accounts
WHERE owner_type = %s AND owner_id = %s AND asset_code = %s AND purpose = %s"""
_FIND_PLATFORM = f"""SELECT {", ".join(_COLUMNS)} FROM ledger_accounts
WHERE owner_type = 'platform' AND owner_id IS NULL AND asset_code = %s AND purpose = %s"""


async def _find(session: AsyncSession, data: AccountIn, platform: bool) -> AccountOut | None:
    found = await rows(session, _FIND_PLATFORM, (data.asset_code, data.purpose)) if platform \
        else await rows(session, _FIND_OWNED, (data.owner_type.value, data.owner_id,
                                                data.asset_code, data.purpose))
    return AccountOut.model_validate(dict(zip(_COLUMNS, found[0]))) if found else None


async def user_account(session: AsyncSession, user_id: uuid.UUID, asset_code: str) -> AccountOut:
    return await open_account(session, AccountIn(asset_code=asset_code, owner_type=OwnerType.user,
                                                 owner_id=user_id))


_USERS = text("""
SELECT owner_id, id FROM ledger_accounts WHERE owner_type = 'user'
  AND owner_id = ANY(CAST(:owners AS uuid[])) AND asset_code = :asset AND purpose = 'main'
""")
_OPEN_USERS = text("""
WITH made AS (
  INSERT INTO ledger_accounts (id, asset_code, owner_type, owner_id, purpose, allow_negative,
                               shards, lots)
  SELECT id, :asset, 'user', owner, 'main', false, 1, :lots
  FROM unnest(CAST(:ids AS uuid[]), CAST(:owners AS uuid[])) AS t(id, owner)
  ON CONFLICT ON CONSTRAINT uq_ledger_accounts_owner DO NOTHING RETURNING id)
INSERT INTO ledger_balances (account_id, shard, asset_code, shards, allow_negative, lots, limited)
SELECT id, 0, :asset, 1, false, :lots, false FROM made
""")


async def user_accounts(session: AsyncSession, user_ids: Sequence[uuid.UUID],
                        asset_code: str) -> dict[uuid.UUID, uuid.UUID]:
    """Each user's main account in the asset, as `user_account` gives it, for many users at
    once (a daily job's thousands): one read when all are open, three when some are not."""
    wanted = sorted(set(user_ids))

    async def read() -> dict[uuid.UUID, uuid.UUID]:
        rows = await session.execute(_USERS, {"owners": Array(wanted), "asset": asset_code})
        return {owner: id_ for owner, id_ in rows}

    found = await read() if wanted else {}
    missing = [u for u in wanted if u not in found]
    if not missing:
        return found
    asset = await get_asset(session, asset_code)
    await session.execute(_OPEN_USERS, {"asset": asset.code, "lots": asset.expires,
                                        "ids": Array([uuid7() for _ in missing]),
                                        "owners": Array(missing)})
    return await read()


async def platform_account(session: AsyncSession, asset_code: str, purpose: str) -> AccountOut:
    return await open_account(session, AccountIn(asset_code=asset_code,
                                                 owner_type=OwnerType.platform, purpose=purpose))


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    account = await session.get(Account, account_id)
    if account is None:
        raise errors.AccountNotFound(field="account_id")
    return AccountOut.model_validate(account)


async def freeze(session: AsyncSession, account_id: uuid.UUID, reason: str) -> AccountOut:
    """No debits until unfrozen. The balance rows carry the flag, so a transfer that locks
    them sees the freeze the moment it commits."""
    await get_account(session, account_id)
    await session.execute(text("UPDATE ledger_balances SET frozen = true WHERE account_id = :a"),
                          {"a": account_id})
    await session.execute(
        text("UPDATE ledger_accounts SET frozen_reason = :r, frozen_at = :t WHERE id = :a"),
        {"a": account_id, "r": reason, "t": clock.now()},
    )
    return await _refreshed(session, account_id)


async def unfreeze(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    await get_account(session, account_id)
    await session.execute(text("UPDATE ledger_balances SET frozen = false WHERE account_id = :a"),
                          {"a": account_id})
    await session.execute(
        text("UPDATE ledger_accounts SET frozen_reason = NULL, frozen_at = NULL WHERE id = :a"),
        {"a": account_id},
    )
    return await _refreshed(session, account_id)


async def set_limits(session: AsyncSession, account_id: uuid.UUID, *, daily: int | None,
                     monthly: int | None) -> AccountOut:
    for value, field in ((daily, "daily_limit"), (monthly, "monthly_limit")):
        if value is not None:
            check_amount(value, field)
    await get_account(session, account_id)
    await session.execute(
        text("UPDATE ledger_accounts SET daily_limit = :d, monthly_limit = :m WHERE id = :a"),
        {"a": account_id, "d": daily, "m": monthly},
    )
    await session.execute(text("UPDATE ledger_balances SET limited = :l WHERE account_id = :a"),
                          {"a": account_id, "l": daily is not None or monthly is not None})
    return await _refreshed(session, account_id)


async def _refreshed(session: AsyncSession, account_id: uuid.UUID) -> AccountOut:
    account = await session.get(Account, account_id, populate_existing=True)
    assert account is not None
    return AccountOut.model_validate(account)
