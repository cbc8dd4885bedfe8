"""Reads from a streaming replica, with read-your-writes.

With GULLAK_DATABASE_REPLICA_URL set, endpoints that only read (balances, history, the wallet,
listings) take `ReadSessionDep` and run on the replica, unless the replica may not show a write
of this very client yet; those reads go to the primary.

How a write is known to have reached the replica, exactly and with no round trip on the write
path: every process samples the primary's WAL position (`pg_current_wal_lsn()`) and, right
after, the replica's replayed position (`pg_last_wal_replay_lsn()`) every `TICK` seconds. The
replica is fresh as of the newest sample time whose primary position it has replayed: anything
committed before that time is on the replica. A response to a write carries the time it was
answered (after its commit), as a cookie that browsers send back and a `Gullak-Wrote` header
that API clients may echo; the process also remembers it per credential for clients that do
neither (per process only: several workers share nothing). A read goes to the replica when the
client's last write is older than the replica's freshness; and no read goes there when the
replica lags more than `MAX_LAG` or does not answer. Only a client's own writes are covered:
another client's write shows on the replica within the lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.db.engine import Database
from gullak.db.uow import SessionDep, autocommit, beside, unit_of_work
from gullak.settings import Settings

TICK = 0.25  # seconds between samples: how long a client's reads stay on the primary, at least
MAX_LAG = 10.0  # a replica further behind than this serves nobody
# Processes on different hosts compare their clocks: NTP keeps them far closer than this.
CLOCK_MARGIN = 0.5
COOKIE = "gullak_wrote"
HEADER = "gullak-wrote"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

_PRIMARY_LSN = text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
# A replica that is not in recovery (promoted, or the primary itself) has replayed everything.
_REPLAYED_LSN = text(
    "SELECT coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()) - '0/0'::pg_lsn")

log = structlog.get_logger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


class Replica:
    """The replica's database and how fresh it is, as this process last saw."""

    def __init__(self, db: Database, primary: Database) -> None:
        self.db = db
        self.primary = primary
        self.fresh_as_of = 0.0  # wall-clock seconds; 0 until the first sample
        self.writes: dict[int, float] = {}  # hash of a credential -> time of its last write
        # Oldest first. Dropping the oldest of a long backlog only keeps reads on the primary
        # longer, never sends one to a replica without its write.
        self._samples: deque[tuple[float, int]] = deque(maxlen=1000)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.db.dispose()

    async def sample(self) -> None:
        """Take one sample of both positions and move `fresh_as_of` on."""
        taken = time.time()  # before the query: what committed earlier is at or below its LSN
        async with self.primary.engine.connect() as conn:
            self._samples.append((taken, int((await conn.execute(_PRIMARY_LSN)).scalar_one())))
        async with self.db.engine.connect() as conn:
            replayed = int((await conn.execute(_REPLAYED_LSN)).scalar_one())
        while self._samples and self._samples[0][1] <= replayed:
            self.fresh_as_of = self._samples.popleft()[0]
        # A write older than this is on the replica whenever the replica serves at all.
        forget = time.time() - MAX_LAG - CLOCK_MARGIN
        for key in [k for k, at in self.writes.items() if at < forget]:
            del self.writes[key]

    async def _watch(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # the replica (or primary) is away: read from the primary
                self.fresh_as_of = 0.0
                self._samples.clear()
                log.warning("replica_unavailable", error=str(exc))
            await asyncio.sleep(TICK)

    def serves(self, request: Request) -> bool:
        """Whether this read may go to the replica (see the module's docstring)."""
        if time.time() - self.fresh_as_of > MAX_LAG:
            return False
        wrote = last_write(request, self.writes)
        return wrote is None or wrote + CLOCK_MARGIN < self.fresh_as_of


def last_write(request: Request, writes: dict[int, float]) -> float | None:
    """When this client last wrote, as far as the request or this process tells."""
    times = [_seconds(request.cookies.get(COOKIE)), _seconds(request.headers.get(HEADER))]
    auth = request.headers.get("authorization")
    if auth:
        times.append(writes.get(hash(auth)))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _seconds(value: str | None) -> float | None:
    # Milliseconds since the epoch; anything else is ignored (a forged value only moves the
    # client's own reads between the primary and the replica).
    if value is None or not value.isdigit() or len(value) > 15:
        return None
    return int(value) / 1000


async def read_session(request: Request, primary: SessionDep) -> AsyncSession:
    """The session of a read-only endpoint: on the replica when it may serve this client, else
    the request's own unit of work on the primary (the one authentication used). Either runs
    each statement on its own (`uow.autocommit`) when the method is safe."""
    replica: Replica | None = getattr(request.app.state, "replica", None)
    session = primary
    if replica is not None and replica.serves(request):
        session = await beside(primary, unit_of_work(replica.db))
    if request.method in SAFE:
        await autocommit(session)
    return session


ReadSessionDep = Annotated[AsyncSession, Depends(read_session)]


class WriteMarker:
    """Marks the answer to every write with its time (cookie and header) and remembers it for
    the credential that made it."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.attributes = f"Max-Age={math.ceil(MAX_LAG + CLOCK_MARGIN)}; Path=/; HttpOnly; " \
                          f"SameSite=Lax{'; Secure' if secure else ''}"

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                now = time.time()
                ms = str(int(now * 1000)).encode()
                message["headers"] = [*message.get("headers", ()), (HEADER.encode(), ms),
                                      (b"set-cookie", COOKIE.encode() + b"=" + ms + b"; "
                                       + self.attributes.encode())]
                replica: Replica | None = getattr(scope["app"].state, "replica", None)
                auth = dict(scope["headers"]).get(b"authorization")
                if replica is not None and auth:
                    replica.writes[hash(auth.decode("latin-1"))] = now
            await send(message)

        await self.app(scope, receive, marked)


def install(app: FastAPI, settings: Settings) -> None:
    """Mark writes when a replica is configured; the replica itself opens with the app."""
    if settings.database_replica_url:
        app.add_middleware(WriteMarker, secure=settings.https)


async def open_replica(settings: Settings, primary: Database,
                       database: Callable[[Settings], Database]) -> Replica | None:
    """The configured replica, watched from now on; None when there is none. `database` opens
    the primary's pool from settings: the replica's gets the same sizes and driver options."""
    if not settings.database_replica_url:
        return None
    replica = Replica(database(settings.model_copy(
        update={"database_url": settings.database_replica_url})), primary)
    replica.start()
    return replica
