"""`gullak doctor`: what stands between this installation and a healthy one, each problem
with its fix. Every check returns a `Check`; `run` gives them all, the database's checks
skipped (not failed one by one) when the database cannot be reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import croniter  # type: ignore[import-untyped]  # procrastinate's own
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gullak import worker
from gullak.db import migrate
from gullak.db import partitions as partitions_of
from gullak.db.engine import Database
from gullak.kit import clock
from gullak.settings import SECRET_NAMES, ConfigError, Settings, check_startup
from gullak.system import service

Status = Literal["ok", "warn", "fail", "skipped"]

OLDEST_POSTGRES = 15
CONNECT_SECONDS = 10.0
# A runnable job older than this means no worker is taking jobs (or too few for the load).
QUEUE_LAG = dt.timedelta(minutes=10)
FAILED_SINCE = dt.timedelta(days=7)
MAX_SKEW_SECONDS = 2.0
GIB = 1024**3
DISK_WARN, DISK_FAIL = (0.10, 2 * GIB), (0.05, 1 * GIB)
# Generated secrets are 43 characters; anything this short was typed by a person.
MIN_SECRET_LENGTH = 32
WORKER_FIX = "run `gullak worker` (or `gullak run`), and keep it running"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def report(checks: list[Check]) -> dict[str, Any]:
    """The `--json` shape: ok unless a check failed."""
    return {"ok": not any(c.status == "fail" for c in checks),
            "checks": [asdict(c) for c in checks]}


def to_json(checks: list[Check]) -> str:
    return json.dumps(report(checks), indent=2)


# -- the installation ------------------------------------------------------------------------

def invalid_settings(error: ValidationError) -> Check:
    """Settings that do not parse. The values are left out: one may be a secret."""
    problems = "; ".join(f"GULLAK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                         for e in error.errors())
    return Check("configuration", "fail", problems, "correct these environment variables")


def configuration(settings: Settings) -> Check:
    try:
        check_startup(settings)
    except ConfigError as exc:
        return Check("configuration", "fail", f"start-up refuses: {exc}",
                     "set what the message names")
    return Check("configuration", "ok", f"GULLAK_ENV={settings.env}")


def production_settings(settings: Settings) -> Check:
    """What works in development but is unsafe (or a pretence) in production."""
    if not settings.is_production:
        return Check("production settings", "ok",
                     f"GULLAK_ENV={settings.env}: these apply when GULLAK_ENV=production")
    found = _weak_secrets(settings) + _unsafe_options(settings)
    if not found:
        return Check("production settings", "ok", "no development settings in production")
    status: Status = "fail" if any(s == "fail" for s, _, _ in found) else "warn"
    return Check("production settings", status, "; ".join(d for _, d, _ in found),
                 "; ".join(f for _, _, f in found))


Finding = tuple[Status, str, str]


def _weak_secrets(settings: Settings) -> list[Finding]:
    stored = _development_secrets(settings.data_dir)
    found: list[Finding] = []
    for name in SECRET_NAMES:
        env, value = f"GULLAK_{name.upper()}", getattr(settings, name)
        fix = f"set {env} to a new random value (`python -c 'import secrets; " \
              "print(secrets.token_urlsafe(32))'`)"
        if value is None:
            found.append(("fail", f"{env} is not set", fix))
            continue
        parts = [p for p in value.get_secret_value().split(",") if p]
        if stored.get(name) in parts:
            found.append(("fail", f"{env} is the development secret of "
                                  f"{settings.data_dir / 'secrets.json'}", fix))
        elif any(len(p) < MIN_SECRET_LENGTH for p in parts):
            found.append(("fail", f"{env} is shorter than {MIN_SECRET_LENGTH} characters", fix))
    return found


def _development_secrets(data_dir: Path) -> dict[str, str]:
    # Read only: settings.secret() would generate the file, which production never has.
    try:
        stored = json.loads((data_dir / "secrets.json").read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _unsafe_options(settings: Settings) -> list[Finding]:
    found: list[Finding] = []
    sandboxes: list[tuple[str, Status, str]] = [
        ("payment_gateway", "fail", "payments succeed with nothing charged"),
        ("payout_provider_in", "fail", "withdrawals to Indian accounts are marked paid, unpaid"),
        ("payout_provider_id", "fail", "withdrawals to bank channels are marked paid, unpaid"),
        ("sms_provider", "fail", "sign-in codes never reach users' phones"),
        ("push_provider", "warn", "push notifications are kept, not sent"),
        ("email_provider", "warn", "emails are kept, not sent"),
    ]
    for name, status, why in sandboxes:
        if getattr(settings, name) == "sandbox":
            env = f"GULLAK_{name.upper()}"
            found.append((status, f"{env}=sandbox: {why}", f"set {env} to a real provider"))
    if settings.docs_enabled:
        found.append(("warn", "GULLAK_API_DOCS=true: /docs, /redoc and /openapi.json are public",
                      "unset GULLAK_API_DOCS"))
    if settings.partners_webhook_allow_private:
        found.append(("fail", "GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE=true: partners' webhooks "
                              "may call into the private network",
                      "set GULLAK_PARTNERS_WEBHOOK_ALLOW_PRIVATE=false"))
    if settings.log_level == "debug":
        found.append(("warn", "GULLAK_LOG_LEVEL=debug: verbose logs of every job and request",
                      "set GULLAK_LOG_LEVEL=info"))
    if settings.apns_development:
        found.append(("warn", "GULLAK_APNS_DEVELOPMENT=true: iOS pushes reach development "
                              "builds only", "set GULLAK_APNS_DEVELOPMENT=false"))
    if not settings.https:
        found.append(("warn", "GULLAK_HTTPS=false: browsers are not told to keep to HTTPS",
                      "set GULLAK_HTTPS=true once served over HTTPS (directly or by a proxy)"))
    return found


Usage = Callable[[Path], Any]


def disk_space(data_dir: Path, usage: Usage = shutil.disk_usage) -> Check:
    path = Path(data_dir).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    disk = usage(path)
    share = disk.free / disk.total if disk.total else 0.0
    detail = f"{disk.free / GIB:.1f} GiB free ({share:.0%}) on {path}"
    fix = "free space on that disk or grow it: the database, exports and attachments need room"
    if share < DISK_FAIL[0] or disk.free < DISK_FAIL[1]:
        return Check("disk space", "fail", detail, fix)
    if share < DISK_WARN[0] or disk.free < DISK_WARN[1]:
        return Check("disk space", "warn", detail, fix)
    return Check("disk space", "ok", detail)


# -- the database ----------------------------------------------------------------------------

DbCheck = Callable[[Database], Awaitable[Check]]
DB_CHECKS = ("migrations", "extensions", "partitions", "job queue", "failed jobs",
             "periodic jobs", "clock")


async def run(settings: Settings, db: Database | None, *, unreachable: str = "") -> list[Check]:
    """Every check; `db` None (with the reason) when no database could even be named."""
    checks = [configuration(settings), production_settings(settings),
              disk_space(settings.data_dir)]
    reached = Check("database", "fail", unreachable or "no database",
                    "set GULLAK_DATABASE_URL") if db is None else await database(db)
    checks.append(reached)
    if db is None or reached.status == "fail":
        return checks + [Check(name, "skipped", "the database cannot be reached")
                         for name in DB_CHECKS]
    steps: list[DbCheck] = [migrations, extensions, partitions, job_queue, failed_jobs,
                            periodic_jobs, clock_skew]
    for name, step in zip(DB_CHECKS, steps, strict=True):
        try:
            checks.append(await step(db))
        except Exception as exc:  # a check that cannot run is a problem to look into
            checks.append(Check(name, "fail", f"could not check: {_first_line(exc)}"))
    return checks


async def run_url(settings: Settings, url: str | None, *, unreachable: str = "") -> list[Check]:
    if url is None:
        return await run(settings, None, unreachable=unreachable)
    db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
    try:
        return await run(settings, db)
    finally:
        await db.dispose()


async def database(db: Database) -> Check:
    fix = "check GULLAK_DATABASE_URL and that PostgreSQL runs and accepts this client"
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            async with db.engine.connect() as conn:
                number = int(await conn.scalar(text("SHOW server_version_num")) or 0)
                version = await conn.scalar(text("SHOW server_version"))
    except Exception as exc:
        return Check("database", "fail", _scrub(f"cannot connect: {_first_line(exc)}", db.url),
                     fix)
    where = make_url(db.url).render_as_string(hide_password=True)
    if number // 10_000 < OLDEST_POSTGRES:
        return Check("database", "fail", f"PostgreSQL {version} at {where}",
                     f"upgrade to PostgreSQL {OLDEST_POSTGRES} or newer")
    return Check("database", "ok", f"PostgreSQL {version} at {where}")


async def migrations(db: Database) -> Check:
    state = await service.readiness(db.engine)
    current, head = ", ".join(state.current) or "none", ", ".join(state.head)
    if state.migrations:
        return Check("migrations", "ok", f"at head ({head})")
    unknown = set(state.current) - set(migrate.revisions())
    if unknown:
        return Check("migrations", "fail", f"at {current}, which this version of Gullak does "
                     f"not know (its newest is {head})",
                     "run the version of Gullak that migrated this database, or newer")
    return Check("migrations", "fail", f"at {current}, the newest is {head}",
                 "run `gullak db upgrade`")


def required_extensions() -> list[str]:
    """The extensions the migrations create."""
    found = {name for path in (migrate.MIGRATIONS / "versions").glob("*.py")
             for name in re.findall(r"CREATE EXTENSION IF NOT EXISTS (\w+)", path.read_text())}
    return sorted(found)


async def extensions(db: Database) -> Check:
    need = required_extensions()
    async with db.engine.connect() as conn:
        have = set((await conn.scalars(text("SELECT extname FROM pg_extension"))).all())
    missing = [name for name in need if name not in have]
    if missing:
        names = ", ".join(missing)
        return Check("extensions", "fail", f"missing: {names}",
                     f"as a superuser: CREATE EXTENSION {names} (in the package "
                     "postgresql-contrib where the server's packages split it out), then "
                     "`gullak db upgrade`")
    return Check("extensions", "ok", ", ".join(need) or "none needed")


_PARTITIONED = text("""
SELECT c.oid, c.relname, p.partstrat, p.partnatts, format_type(a.atttypid, NULL) AS keytype
FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
WHERE NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY c.relname
""")
_BOUNDS = text("""
SELECT i.inhparent, pg_get_expr(k.relpartbound, k.oid) FROM pg_inherits i
JOIN pg_class k ON k.oid = i.inhrelid WHERE k.relispartition AND i.inhparent = ANY(:parents)
""")
_RANGE = re.compile(r"^FOR VALUES FROM \((.+)\) TO \((.+)\)$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
Range = tuple[dt.datetime | None, dt.datetime | None]  # None: MINVALUE, MAXVALUE


async def partitions(db: Database) -> Check:
    """Every table partitioned by a time (or a UUIDv7 id) has partitions for the rest of this
    month and all of the next; a DEFAULT partition does not count, it only catches strays."""
    now = clock.now()
    until = partitions_of.next_month(partitions_of.next_month(now))
    async with db.engine.connect() as conn:
        tables = (await conn.execute(_PARTITIONED)).all()
        rows = (await conn.execute(_BOUNDS, {"parents": [t.oid for t in tables]})).all()
    bounds: dict[int, list[str]] = {}
    for parent, bound in rows:
        bounds.setdefault(parent, []).append(bound)
    missing, unchecked, checked = [], [], 0
    for table in tables:
        ranges = [_range(b, table.keytype) for b in bounds.get(table.oid, [])]
        if table.partstrat != "r" or table.partnatts != 1 or _convert(table.keytype) is None:
            unchecked.append(table.relname)
            continue
        checked += 1
        gap = _first_gap([r for r in ranges if r is not None], now, until)
        if gap is not None:
            missing.append(f"{table.relname} has no partition from {gap:%Y-%m-%d}")
    if missing:
        return Check("partitions", "fail", "; ".join(missing),
                     f"{WORKER_FIX}: its daily jobs make the months ahead "
                     "(activity events at once: `gullak analytics partitions`)")
    detail = f"{checked} partitioned tables ready up to {until:%Y-%m-%d}"
    if unchecked:
        detail += f" (not by time: {', '.join(unchecked)})"
    return Check("partitions", "ok", detail)


def _convert(keytype: str | None) -> Callable[[str], dt.datetime] | None:
    """How a bound's literal becomes a time, for the key types the platform partitions by."""
    if keytype == "uuid":  # a UUIDv7 starts with its Unix time in milliseconds
        return lambda s: _EPOCH + dt.timedelta(milliseconds=uuid.UUID(s).int >> 80)
    if keytype in ("timestamp with time zone", "timestamp without time zone", "date"):
        return lambda s: _utc(dt.datetime.fromisoformat(s))
    return None


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _range(bound: str, keytype: str | None) -> Range | None:
    found, convert = _RANGE.match(bound), _convert(keytype)
    if found is None or convert is None:
        return None  # DEFAULT, or not a range of one column
    ends = [None if v in ("MINVALUE", "MAXVALUE") else convert(v.strip("'"))
            for v in found.groups()]
    return ends[0], ends[1]


def _first_gap(ranges: list[Range], start: dt.datetime, until: dt.datetime) -> dt.datetime | None:
    """The first time in [start, until) that no range holds; None when they hold it all."""
    at = start
    for low, high in sorted(ranges, key=lambda r: r[0] or dt.datetime.min.replace(tzinfo=dt.UTC)):
        if (low is None or low <= at) and (high is None or at < high):
            if high is None:
                return None
            at = high
    return at if at < until else None


_RUNNABLE = text("""
SELECT count(*) AS jobs, min(greatest(j.scheduled_at, e.at)) AS since, now() AS now
FROM procrastinate_jobs j LEFT JOIN LATERAL (
  SELECT min(at) AS at FROM procrastinate_events WHERE job_id = j.id AND type = 'deferred'
) e ON true
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
""")


async def job_queue(db: Database) -> Check:
    async with db.engine.connect() as conn:
        row = (await conn.execute(_RUNNABLE)).one()
    waited = row.now - row.since if row.since is not None else dt.timedelta(0)
    detail = f"{row.jobs} runnable, the oldest waiting {_duration(waited)}"
    if row.jobs and waited > QUEUE_LAG:
        return Check("job queue", "fail", detail,
                     f"{WORKER_FIX}; if one runs, add workers or GULLAK_WORKER_CONCURRENCY")
    return Check("job queue", "ok", detail if row.jobs else "empty")


_FAILED = text("""
SELECT j.id, j.task_name FROM procrastinate_jobs j
WHERE j.status = 'failed' AND EXISTS (SELECT 1 FROM procrastinate_events e
  WHERE e.job_id = j.id AND e.type = 'failed' AND e.at > now() - make_interval(secs => :since))
ORDER BY j.id
""")


async def failed_jobs(db: Database) -> Check:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_FAILED, {"since": FAILED_SINCE.total_seconds()})).all()
    if not rows:
        return Check("failed jobs", "ok", f"none in the last {FAILED_SINCE.days} days")
    tasks = sorted({r.task_name for r in rows})
    ids = ", ".join(str(r.id) for r in rows[:10])
    return Check("failed jobs", "warn",
                 f"{len(rows)} failed in the last {FAILED_SINCE.days} days: {', '.join(tasks)}",
                 f"the worker's log says why; fix the cause, then retry them (UPDATE "
                 f"procrastinate_jobs SET status = 'todo' WHERE id IN ({ids})) or delete them")


_LAST_DEFERS = text("""
SELECT d.task_name, d.periodic_id, max(d.defer_timestamp) AS at
FROM procrastinate_periodic_defers d GROUP BY 1, 2
""")
_CREATED = text("""
SELECT (pg_stat_file('base/' || oid || '/PG_VERSION')).modification
FROM pg_database WHERE datname = current_database()
""")


async def periodic_jobs(db: Database) -> Check:
    """Each schedule the code defines has been deferred by a worker within two of its
    intervals (or the database is younger than that)."""
    worker.load_jobs()
    now = clock.now()
    async with db.engine.connect() as conn:
        last = {(r.task_name, r.periodic_id): r.at
                for r in (await conn.execute(_LAST_DEFERS)).all()}
        created = await _created(conn)
    schedules = worker.queue.periodic_registry.periodic_tasks
    late = []
    for (task, periodic_id), periodic in sorted(schedules.items()):
        interval = _interval(periodic.cron, now)
        at = last.get((task, periodic_id))
        since = _EPOCH + dt.timedelta(seconds=at) if at is not None else created
        if since is None or now - since > 2 * interval:
            when = "never" if at is None or since is None else f"last {_duration(now - since)} ago"
            late.append(f"{task} ({periodic.cron}): {when}")
    if not late:
        return Check("periodic jobs", "ok", f"{len(schedules)} schedules on time")
    status: Status = "fail" if len(late) == len(schedules) else "warn"
    return Check("periodic jobs", status, f"{len(late)} of {len(schedules)} late: "
                 + "; ".join(late), WORKER_FIX)


async def _created(conn: AsyncConnection) -> dt.datetime | None:
    """When this database was created; None where reading the server's files is not allowed
    (then a schedule that never ran counts as late)."""
    try:
        async with conn.begin_nested():
            created: dt.datetime | None = await conn.scalar(_CREATED)
            return created
    except Exception:
        return None


def _interval(cron: str, now: dt.datetime) -> dt.timedelta:
    times = croniter.croniter(cron, now)
    first = times.get_next(dt.datetime)
    return times.get_next(dt.datetime) - first  # type: ignore[no-any-return]


async def clock_skew(db: Database) -> Check:
    async with db.engine.connect() as conn:
        await conn.scalar(text("SELECT 1"))  # connected and warm: the round trip is the query
        before = clock.now()
        server: dt.datetime = await conn.scalar(text("SELECT clock_timestamp()"))
        after = clock.now()
    skew = (server - (before + (after - before) / 2)).total_seconds()
    detail = (f"the database's clock is {abs(skew):.3f} s "
              f"{'ahead of' if skew > 0 else 'behind'} this machine's")
    if abs(skew) > MAX_SKEW_SECONDS:
        return Check("clock", "fail", detail,
                     "synchronise both machines' clocks (NTP: chrony or systemd-timesyncd)")
    return Check("clock", "ok", detail)


def _duration(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _scrub(detail: str, url: str) -> str:
    password = make_url(url).password
    return detail.replace(str(password), "***") if password else detail
