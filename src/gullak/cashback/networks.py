"""Affiliate networks: managed by admins, each with the secret its postbacks prove themselves
with, sealed (`kit.crypto`) and shown once.

Two ways of proving, one per network:
- `hmac`: the hex HMAC-SHA256 of the raw body under the network's secret, in the header the
  network names (`X-Signature` by default; a `sha256=` prefix is accepted);
- `token`: the shared token itself, in the query parameter named `token_param` or a header of
  that name.
Both compared in constant time. A postback that fails is counted on the network, not stored.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.cashback import errors
from gullak.cashback.models import Network
from gullak.cashback.schemas import NetworkIn, NetworkOut, NetworkPatch, NetworkSecretOut
from gullak.kit import audit, clock
from gullak.kit.crypto import Keyring, mask
from gullak.kit.security import Subject
from gullak.settings import get_settings

CONTEXT = "cashback_networks.secret"


def keyring() -> Keyring:
    # Older keys may follow the current one, comma-separated, while values are re-sealed.
    return Keyring([k for k in get_settings().secret("encryption_key").split(",") if k])


def secret_of(network: Network) -> str:
    return keyring().open(network.secret_sealed, context=CONTEXT)


def out(network: Network) -> NetworkOut:
    return NetworkOut.model_validate(network)


def _shown(network: Network) -> dict[str, object]:
    """What the audit log keeps of a network: never the secret, not even sealed."""
    return out(network).model_dump(mode="json", exclude={"refused_postbacks",
                                                         "last_refused_at", "created_at"})


async def create_network(session: AsyncSession, data: NetworkIn,
                         actor: Subject | None) -> NetworkSecretOut:
    if await session.scalar(select(Network.id).where(Network.code == data.code)) is not None:
        raise errors.NetworkExists(field="code")
    secret = data.secret or secrets.token_hex(32)
    now = clock.now()
    network = Network(
        code=data.code, name=data.name, auth_mode=data.auth_mode,
        secret_sealed=keyring().seal(secret, context=CONTEXT), secret_hint=mask(secret),
        signature_header=data.signature_header, token_param=data.token_param,
        status_map={k.lower(): v for k, v in data.status_map.items()},
        field_map=dict(data.field_map), active=True, refused_postbacks=0, created_at=now,
        updated_at=now)
    session.add(network)
    await session.flush()
    await audit.record(session, actor, "cashback_network.create", "cashback_network",
                       str(network.id), after=_shown(network))
    return NetworkSecretOut(**out(network).model_dump(), secret=secret)


async def by_code(session: AsyncSession, code: str, *, lock: bool = False) -> Network:
    query = select(Network).where(Network.code == code)
    if lock:
        query = query.with_for_update()
    network = await session.scalar(query.execution_options(populate_existing=True))
    if network is None:
        raise errors.NetworkNotFound(field="network")
    return network


async def update_network(session: AsyncSession, code: str, data: NetworkPatch,
                         actor: Subject | None) -> NetworkOut:
    network = await by_code(session, code, lock=True)
    before = _shown(network)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name != "active":
            continue
        if name == "status_map":
            value = {k.lower(): v for k, v in value.items()}
        setattr(network, name, value)
    network.updated_at = clock.now()
    await session.flush()
    await audit.record(session, actor, "cashback_network.update", "cashback_network",
                       str(network.id), before=before, after=_shown(network))
    return out(network)


async def rotate_secret(session: AsyncSession, code: str,
                        actor: Subject | None) -> NetworkSecretOut:
    """A new secret, shown this once; the old one stops verifying at once."""
    network = await by_code(session, code, lock=True)
    secret = secrets.token_hex(32)
    network.secret_sealed = keyring().seal(secret, context=CONTEXT)
    network.secret_hint, network.updated_at = mask(secret), clock.now()
    await session.flush()
    await audit.record(session, actor, "cashback_network.rotate_secret", "cashback_network",
                       str(network.id), after={"secret_hint": network.secret_hint})
    return NetworkSecretOut(**out(network).model_dump(), secret=secret)


async def list_networks(session: AsyncSession) -> list[NetworkOut]:
    return [out(n) for n in await session.scalars(select(Network).order_by(Network.code))]


async def get_network(session: AsyncSession, code: str) -> NetworkOut:
    return out(await by_code(session, code))


# -- verifying --------------------------------------------------------------------------------

def _same(expected: str, given: str | None) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def signature(secret: str, body: bytes) -> str:
    """The signature a network sends with `body` (hex HMAC-SHA256)."""
    return hmac.new(secret.encode(), body, "sha256").hexdigest()


def proves(network: Network, headers: Mapping[str, str], query: Mapping[str, str],
           body: bytes) -> bool:
    secret = secret_of(network)
    if network.auth_mode == "hmac":
        given = headers.get(network.signature_header.lower())
        if given is not None and given.strip().lower().startswith("sha256="):
            given = given.strip()[7:]
        return _same(signature(secret, body), given.lower() if given else None)
    given = query.get(network.token_param)
    if given is None:
        given = headers.get(network.token_param.lower())
    return _same(secret, given)


async def verify(session: AsyncSession, code: str, headers: Mapping[str, str],
                 query: Mapping[str, str], body: bytes) -> Network:
    """The network whose postback this is, if it proves itself; else the refusal is counted
    (and kept, however the request ends) and nothing else is written."""
    network = await by_code(session, code)
    if not proves(network, headers, query, body):
        await session.execute(update(Network).where(Network.id == network.id).values(
            refused_postbacks=Network.refused_postbacks + 1, last_refused_at=clock.now()))
        raise errors.InvalidSignature()
    if not network.active:
        raise errors.NetworkInactive()
    return network
