"""The `gullak` command: run the platform, manage its database, load demo data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gullak import __version__
from gullak.settings import ConfigError, Settings, check_startup, get_settings

app = typer.Typer(help="Gullak: rewards, wallet and loyalty platform.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="The database: migrations, URL, embedded server.", no_args_is_help=True)
app.add_typer(db_app, name="db")
ledger_app = typer.Typer(help="The ledger: verification.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
admin_app = typer.Typer(help="Back-office admins.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
sms_app = typer.Typer(help="Text messages.", no_args_is_help=True)
app.add_typer(sms_app, name="sms")
payments_app = typer.Typer(help="Payments: reconciliation with the gateways.",
                           no_args_is_help=True)
app.add_typer(payments_app, name="payments")
payouts_app = typer.Typer(help="Payouts: reconciliation with the providers.",
                          no_args_is_help=True)
app.add_typer(payouts_app, name="payouts")
bench_app = typer.Typer(help="Benchmarks, measured against a reference in the same run.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
# Never wrap: the banner's URLs, ids and secrets must stay whole when piped to a file.
console = Console(stderr=True, soft_wrap=True)

HostOpt = Annotated[str | None, typer.Option(help="Address to listen on [GULLAK_HOST].")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on [GULLAK_PORT].")]
WorkersOpt = Annotated[int | None, typer.Option(
    min=1, help="API processes on the port; default one per core [GULLAK_WEB_WORKERS].")]
ProfileOpt = Annotated[str | None, typer.Option(
    help="An app profile's demo data too: rtmn, fitkart, rez, couponali or userstate.")]


def _settings() -> Settings:
    from gullak.kit import logging as gullak_logging

    settings = get_settings()
    gullak_logging.configure(settings.log_level, settings.log_format)
    try:
        check_startup(settings)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    return settings


def _url(settings: Settings, *, keep_running: bool = False, migrated: bool = False) -> str:
    """The database URL; with `migrated`, refuse a database whose schema is not at head."""
    from gullak.db import migrate
    from gullak.db.engine import resolve_url

    if settings.database_url is None:
        console.print(f"[dim]embedded PostgreSQL in {Path(settings.data_dir).resolve() / 'pg'}[/dim]")
    url = resolve_url(settings, keep_running=keep_running)
    if migrated and migrate.current(url) != migrate.heads():
        console.print("[red]the database schema is not at the newest migration:[/red] "
                      "run `gullak db upgrade` first")
        raise typer.Exit(2)
    if migrated:  # a command that runs services authorises and audits as the API does
        from gullak import domains

        domains.install()
    return url


@app.command()
def run(
    host: HostOpt = None,
    port: PortOpt = None,
    seed: Annotated[bool, typer.Option(help="Load demo data sets not yet loaded.")] = True,
    workers: WorkersOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run everything: database (embedded unless GULLAK_DATABASE_URL), migrations, demo
    data, the API (several processes) and the background worker (one more). Ctrl-C stops it;
    the data stays for next time."""
    from gullak.db import migrate

    started = time.perf_counter()
    settings = _settings()
    _check_profile(profile, 0)
    url = _url(settings)
    with console.status("applying migrations"):
        migrate.upgrade(url)
    notes = _seed(settings, url, profile) if seed and settings.seed_demo else []
    host, port = host or settings.host, port or settings.port
    console.rule("[bold]Gullak is running")
    console.print(f"API        http://{host}:{port}/v1")
    console.print(f"API docs   http://{host}:{port}/docs")
    console.print(f"Console    http://{host}:{port}/console   (admins: password + TOTP code)")
    console.print(f"Merchants  http://{host}:{port}/merchant  (merchant users)")
    console.print(f"Readiness  http://{host}:{port}/ready")
    console.print(f"Database   {_masked(url)}   (psql: `gullak db url`)")
    for line in notes:
        console.print(line)
    console.print(f"[dim]ready in {time.perf_counter() - started:.1f}s; Ctrl-C stops[/dim]")
    _serve(settings, url, host, port, workers=workers or settings.api_processes,
           with_worker=True)
    console.print("stopped")


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = None) -> None:
    """Serve the API alone (no worker, no migrations: see `gullak db upgrade`), in several
    processes on one port."""
    settings = _settings()
    url = _url(settings, migrated=True)
    _serve(settings, url, host or settings.host, port or settings.port,
           workers=workers or settings.api_processes, with_worker=False)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once.")] = None,
    until_idle: Annotated[bool, typer.Option(
        help="Stop once no job is waiting (for a cron-driven or one-off run).")] = False,
) -> None:
    """Run the background worker alone: queued jobs and periodic schedules."""
    from gullak import worker as gullak_worker

    settings = _settings()
    url = _url(settings, migrated=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gullak_worker.run(url, concurrency=concurrency or settings.worker_concurrency,
                                      pgbouncer=settings.database_pgbouncer,
                                      stop_after_idle=until_idle))


@app.command("seed")
def seed_command(
    profile: ProfileOpt = None,
    scale: Annotated[int, typer.Option(
        min=0, help="With --profile: N more users of that app with history, for load tests.")] = 0,
) -> None:
    """Load the demo data sets that this database has not loaded yet (and a profile's)."""
    settings = _settings()
    _check_profile(profile, scale)
    url = _url(settings, migrated=True)
    for line in _seed(settings, url, profile):
        console.print(line)
    if profile and scale:
        for line in _scale(settings, url, profile, scale):
            console.print(line)


def _check_profile(profile: str | None, scale: int) -> None:
    from gullak import profiles

    if profile is not None and profile not in profiles.NAMES:
        console.print(f"[red]unknown profile {profile!r}:[/red] one of {', '.join(profiles.NAMES)}")
        raise typer.Exit(2)
    if scale and profile is None:
        console.print("[red]--scale needs --profile[/red]")
        raise typer.Exit(2)


@app.command()
def demo() -> None:
    """Print the demo credentials and ids again (the start-up banner scrolls away)."""
    from gullak import seed
    from gullak.db.engine import Database

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go() -> list[str]:
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await seed.notes(db)
        finally:
            await db.dispose()

    lines = asyncio.run(go())
    if not lines:
        console.print("no demo data in this database: `gullak seed` loads it")
        raise typer.Exit(1)
    for line in lines:
        typer.echo(line)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from gullak.db import migrate

    settings = _settings()
    migrate.upgrade(_url(settings), revision)
    console.print(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, '-1' or 'base'.")] = "-1",
) -> None:
    """Undo migrations down to REVISION (default: the last one applied)."""
    from gullak.db import migrate

    settings = _settings()
    migrate.downgrade(_url(settings), revision)
    console.print(f"database downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at, and the newest one."""
    from gullak.db import migrate

    settings = _settings()
    current = migrate.current(_url(settings))
    typer.echo(f"current: {', '.join(sorted(current)) or 'none'}")
    typer.echo(f"head:    {', '.join(sorted(migrate.heads()))}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (for psql). Starts the embedded server if needed and leaves it
    running; `gullak db stop` stops it."""
    settings = _settings()
    typer.echo(_url(settings, keep_running=True))


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server of this data folder, if it runs."""
    from gullak.db import embedded

    settings = _settings()
    stopped = embedded.stop(Path(settings.data_dir))
    console.print("embedded server stopped" if stopped else "embedded server was not running")


@db_app.command("backup")
def db_backup(
    file: Annotated[Path | None, typer.Argument(
        help="Where to write it; default gullak-<database>-<UTC time>.dump here.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Back up the database to FILE: pg_dump's custom format, one consistent snapshot even
    under traffic. `gullak db restore FILE` restores it into an empty database."""
    from rich.markup import escape
    from rich.progress import Progress

    from gullak.db import backup

    settings = _settings()
    url = _url(settings)
    target = file or backup.default_file(url)
    try:
        # No bar when not on a terminal (cron, a log file): only the summary line.
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"backing up to {target}", total=None)
            result = backup.backup(url, target, force=force, progress=lambda done, total:
                                   bar.update(task, completed=done, total=total))
    except backup.BackupError as exc:
        console.print(f"[red]backup failed:[/red] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from exc
    if result.note:
        console.print(f"[yellow]{result.note}[/yellow]")
    console.print(f"{result.path}: {result.size / 1e6:.1f} MB, {result.tables} tables, "
                  f"{result.seconds:.1f}s, migration {result.revision or 'none'} "
                  f"(pg_dump {result.tool.major})")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup from `gullak db backup`.")],
    url: Annotated[str | None, typer.Option(
        help="Restore into this database instead of the configured one.")] = None,
    create: Annotated[str | None, typer.Option(
        metavar="NAME", help="Create database NAME on the same server and restore there.")] = None,
    # 4 restored a 640 MB database in 14s against 24s for 1, even on 2 cores: the server
    # writes one table while it sorts another's index.
    jobs: Annotated[int, typer.Option(
        min=1, help="Tables and indexes restored at once.")] = 4,
) -> None:
    """Restore FILE into an empty database (the configured one, --url, or a new one with
    --create), then check its migrations and verify its ledger; exits 1 if it does not
    verify."""
    from rich.markup import escape
    from rich.progress import Progress

    from gullak.db import backup, embedded, migrate

    settings = _settings()
    server = target = url or _url(settings)
    created = False
    try:
        if create:
            target, created = backup.create_database(server, create)
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"restoring {file}", total=None)
            result = backup.restore(target, file, jobs=jobs, progress=lambda done, total:
                                    bar.update(task, completed=done, total=total))
    except backup.BackupError as exc:
        if created:  # a database this command made holds nothing worth keeping
            embedded.drop_database(server, create or "")
        console.print(f"[red]restore failed:[/red] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from exc
    if result.note:
        console.print(f"[yellow]{result.note}[/yellow]")
    console.print(f"restored {result.entries} entries into {_masked(target)} in "
                  f"{result.seconds:.1f}s (pg_restore {result.tool.major})")
    current, heads = migrate.current(target), migrate.heads()
    if current != heads:
        known = set(migrate.revisions())
        advice = ("run `gullak db upgrade` on it, then `gullak ledger verify`" if current <= known
                  else "it is newer than this Gullak: restore it with the version that made it")
        console.print(f"[yellow]the backup is at migration {', '.join(sorted(current)) or 'none'},"
                      f" this Gullak at {', '.join(sorted(heads))}:[/yellow] {advice}")
        return

    report = _verified(settings, target)
    for check in report.checks:
        if not check.ok:
            console.print(f"[red]{check.name}: {check.failures} differences[/red] {check.sample}")
    if not report.ok:
        console.print("[red]the restored ledger does not verify[/red]")
        raise typer.Exit(1)
    console.print(f"ledger verified: {report.transfers} transfers, {report.accounts} accounts, "
                  f"{len(report.checks)} checks ok")


@db_app.command("stats")
def db_stats(
    limit: Annotated[int, typer.Option(
        min=1, max=500, help="How many tables, indexes and statements.")] = 20,
    partitions: Annotated[bool, typer.Option(
        "--partitions", help="List each partitioned table's partitions after it.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of tables.")] = False,
) -> None:
    """Table and index sizes, row estimates, dead tuples, unused indexes, and the slowest
    statements when pg_stat_statements is loaded. Partitioned tables are rolled up."""
    from rich.markup import escape
    from rich.table import Table

    from gullak.db.engine import Database
    from gullak.system import service as system

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with db.sessionmaker() as session, session.begin():
                return await system.database_stats(session, limit=limit, partitions=partitions)
        finally:
            await db.dispose()

    stats = asyncio.run(go())
    if json_out:
        typer.echo(stats.model_dump_json())
        return

    def size(n: int) -> str:
        if n < 1024:
            return f"{n} B"
        value = float(n)
        for unit in ("kB", "MB", "GB", "TB"):
            value /= 1024
            if value < 1024 or unit == "TB":
                break
        return f"{value:.1f} {unit}"

    def when(at: dt.datetime | None) -> str:
        return at.strftime("%Y-%m-%d %H:%M") if at else "never"

    out = Console()
    reset = f", counted since {when(stats.stats_reset)}" if stats.stats_reset else ""
    out.print(f"[bold]{escape(stats.database)}[/bold]: {size(stats.size_bytes)},"
              f" PostgreSQL {escape(stats.server_version)}{reset}")
    tables = Table(title="tables (partitioned ones summed over their partitions)")
    for column in ("table", "rows (est.)", "total", "data", "toast", "indexes", "dead",
                   "dead %", "vacuumed", "analyzed"):
        tables.add_column(column, justify="left" if column in ("table", "vacuumed", "analyzed")
                          else "right")
    for t in stats.tables:
        name = f"  └ {t.schema_name}.{t.name}" if t.parent else (
            f"{t.name} ({t.partitions} partitions)" if t.kind == "partitioned" else t.name)
        tables.add_row(escape(name), "unknown" if t.rows_estimate is None else f"{t.rows_estimate:,}",
                       size(t.total_bytes), size(t.table_bytes), size(t.toast_bytes),
                       size(t.index_bytes), f"{t.dead_tuples:,}",
                       "" if t.dead_ratio is None else f"{t.dead_ratio:.1%}",
                       when(t.last_vacuum), when(t.last_analyze))
    out.print(tables)
    indexes = Table(title=f"unused indexes ({stats.unused_index_count}: never scanned, not"
                          " unique, backing no constraint)")
    for column in ("index", "table", "size"):
        indexes.add_column(column, justify="right" if column == "size" else "left")
    for i in stats.unused_indexes:
        indexes.add_row(escape(i.name), escape(i.table), size(i.bytes))
    out.print(indexes)
    largest = Table(title="largest indexes")
    for column in ("index", "table", "size", "scans"):
        largest.add_column(column, justify="right" if column in ("size", "scans") else "left")
    for i in stats.indexes:
        largest.add_row(escape(i.name), escape(i.table), size(i.bytes), f"{i.scans:,}")
    out.print(largest)
    if not stats.statements.available:
        out.print(f"slowest statements: not available: {escape(stats.statements.reason or '')}")
        return
    slow = Table(title="slowest statements (by total time)")
    for column in ("total ms", "calls", "mean ms", "rows", "statement"):
        slow.add_column(column, justify="left" if column == "statement" else "right")
    for s in stats.statements.slowest:
        slow.add_row(f"{s.total_ms:,.1f}", f"{s.calls:,}", f"{s.mean_ms:,.2f}", f"{s.rows:,}",
                     escape(" ".join(s.query.split())))
    out.print(slow)


@app.command()
def doctor(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object, for monitoring.")]
    = False,
) -> None:
    """Check the installation (settings, disk, database, migrations, extensions, partitions,
    jobs, clocks) and explain each problem with its fix. Exits 1 if a check fails, 0 when
    there are only warnings. Migrates nothing and loads no demo data."""
    from pydantic import ValidationError
    from rich.table import Table

    from gullak.kit import logging as gullak_logging
    from gullak.system import doctor as checks

    try:
        settings = get_settings()
    except ValidationError as exc:
        results = [checks.invalid_settings(exc)]
    else:
        gullak_logging.configure(settings.log_level, settings.log_format)
        url, reason = None, "GULLAK_DATABASE_URL is not set (production has no embedded server)"
        if settings.database_url or not settings.is_production:
            try:
                url = _url(settings)
            except Exception as exc:  # the embedded server did not start: a finding, not a crash
                reason = f"the embedded server did not start: {exc}"
        results = asyncio.run(checks.run_url(settings, url, unreachable=reason))
    if json_out:
        typer.echo(checks.to_json(results))
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}
        table = Table("status", "check")
        for column in ("detail", "fix"):  # folded, never cut: a URL or a name must stay whole
            table.add_column(column, overflow="fold")
        for c in results:
            table.add_row(f"[{colours[c.status]}]{c.status}[/]", c.name, c.detail, c.fix)
        Console().print(table)
    raise typer.Exit(0 if checks.report(results)["ok"] else 1)


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from the entries and check every ledger invariant; exits 1
    on any difference."""
    from rich.table import Table


    settings = _settings()
    url = _url(settings, migrated=True)

    report = _verified(settings, url)
    table = Table(title=f"ledger: {report.transfers} transfers, {report.accounts} accounts")
    table.add_column("check")
    table.add_column("result")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok
                      else f"[red]{check.failures} differences[/red]")
    Console().print(table)
    for check in report.checks:
        for row in check.sample:
            console.print(f"[red]{check.name}:[/red] {row}")
    raise typer.Exit(0 if report.ok else 1)


@admin_app.command("code")
def admin_code(
    secret: Annotated[str | None, typer.Argument(
        help="A TOTP secret (base32); the demo admin's when left out.")] = None,
) -> None:
    """Print the authenticator code of a TOTP secret now, as an authenticator app would: for
    signing in to the console as the demo admin without a phone."""
    import pyotp

    from gullak.access.seed import DEMO_ADMIN_TOTP

    try:
        typer.echo(pyotp.TOTP(secret or DEMO_ADMIN_TOTP).now())
    except (ValueError, TypeError) as exc:
        console.print("[red]invalid_secret:[/red] not a base32 TOTP secret")
        raise typer.Exit(2) from exc


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email, used to sign in.")],
    name: Annotated[str, typer.Option(help="The admin's name.")],
    role: Annotated[list[str] | None, typer.Option(help="Role to give (repeatable).")] = None,
) -> None:
    """Create an admin (by default a super_admin) and print the password and the TOTP secret,
    once: the only way in before any admin exists."""
    from gullak.access import service as access
    from gullak.access.schemas import AdminIn
    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work
    from gullak.kit.errors import GullakError

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with unit_of_work(db) as session:
                return await access.create_admin(session, settings, AdminIn(
                    email=email, name=name, roles=role or ["super_admin"]))
        finally:
            await db.dispose()

    try:
        out = asyncio.run(go())
    except GullakError as exc:
        console.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise typer.Exit(2) from exc
    typer.echo(f"admin     {out.email} ({', '.join(out.roles)})")
    typer.echo(f"password  {out.password}")
    typer.echo(f"totp      {out.totp_secret}")
    typer.echo(f"totp uri  {out.totp_uri}")


@app.command("reseal")
def reseal() -> None:
    """Re-seal encrypted values (KYC numbers, TOTP secrets, gift card codes and PINs, bank
    account numbers and UPI ids) under the first key of GULLAK_ENCRYPTION_KEY. To rotate: put
    the new key first, the old one after a comma, run this, then drop the old key."""
    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work
    from gullak.identity.service import keyring
    from gullak.kit.rotation import Sealed
    from gullak.kit.rotation import reseal as reseal_columns

    columns = [Sealed("kyc_records", "document_number", "kyc.document_number"),
               Sealed("kyc_records", "pan", "kyc.pan"),
               Sealed("kyc_records", "bank_account", "kyc.bank_account"),
               Sealed("users", "totp_secret", "users.totp_secret"),
               Sealed("admin_users", "totp_secret", "admin.totp"),
               Sealed("gift_cards", "code_sealed", "gift_cards.code"),
               Sealed("gift_cards", "pin_sealed", "gift_cards.pin"),
               Sealed("merchant_bank_accounts", "account_number",
                      "merchant_bank_accounts.account_number"),
               Sealed("payout_methods", "account_number", "payouts.destination"),
               Sealed("payout_methods", "upi_id", "payouts.destination")]
    settings = _settings()
    url = _url(settings, migrated=True)

    async def go() -> int:
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with unit_of_work(db) as session:
                return await reseal_columns(session, keyring(settings), columns)
        finally:
            await db.dispose()

    console.print(f"re-sealed {asyncio.run(go())} values")


@sms_app.command("outbox")
def sms_outbox(
    phone: Annotated[str | None, typer.Option(help="Only messages to this number.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 10,
) -> None:
    """Show messages the sandbox sender kept (nothing was sent): where a developer reads an
    OTP code."""
    from sqlalchemy import text

    from gullak.db.engine import Database

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with db.engine.connect() as conn:
                return (await conn.execute(text(
                    "SELECT created_at, phone, status, body FROM sms_outbox"
                    " WHERE body IS NOT NULL AND (CAST(:p AS text) IS NULL OR phone = :p)"
                    " ORDER BY created_at DESC LIMIT :n"), {"p": phone, "n": limit})).all()
        finally:
            await db.dispose()

    for row in asyncio.run(go()):
        typer.echo(f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.phone}  {row.status:8}  {row.body}")


push_app = typer.Typer(help="Push notifications.", no_args_is_help=True)
app.add_typer(push_app, name="push")
email_app = typer.Typer(help="Email.", no_args_is_help=True)
app.add_typer(email_app, name="email")


def _sandbox_rows(query: str, params: dict[str, object]):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from gullak.db.engine import Database

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with db.engine.connect() as conn:
                return (await conn.execute(text(query), params)).all()
        finally:
            await db.dispose()

    return asyncio.run(go())


@push_app.command("outbox")
def push_outbox(
    token: Annotated[str | None, typer.Option(help="Only pushes to this device token.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 10,
) -> None:
    """Show pushes the sandbox sender kept (nothing was sent), one per delivery."""
    rows = _sandbox_rows(
        "SELECT created_at, token, sends, title, body FROM sandbox_push_outbox"
        " WHERE CAST(:t AS text) IS NULL OR token = :t ORDER BY created_at DESC LIMIT :n",
        {"t": token, "n": limit})
    for row in rows:
        typer.echo(f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.token[:16]}…  x{row.sends}  "
                   f"{row.title} — {row.body}")


@email_app.command("outbox")
def email_outbox(
    to: Annotated[str | None, typer.Option(help="Only mail to this address.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 10,
) -> None:
    """Show mail the sandbox sender kept (nothing was sent), one per delivery."""
    rows = _sandbox_rows(
        "SELECT created_at, to_address, sends, subject, text_body FROM sandbox_email_outbox"
        " WHERE CAST(:a AS text) IS NULL OR lower(to_address) = lower(:a)"
        " ORDER BY created_at DESC LIMIT :n", {"a": to, "n": limit})
    for row in rows:
        typer.echo(f"{row.created_at:%Y-%m-%d %H:%M:%S}  {row.to_address}  x{row.sends}  "
                   f"{row.subject}\n    {row.text_body}")


@payments_app.command("reconcile")
def payments_reconcile(
    day: Annotated[str | None, typer.Option(
        help="The UTC day to check, YYYY-MM-DD; default yesterday.")] = None,
) -> None:
    """Compare what the gateways say was captured and refunded with our payments and the
    gateway clearing account, for one day; exits 1 on any difference."""
    from gullak.db.engine import Database
    from gullak.payments import flows

    when = _day(day)
    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await flows.reconcile_day(db, when, settings=settings)
        finally:
            await db.dispose()

    report = asyncio.run(go())
    typer.echo(f"day {report.day}: captured {report.captured}, refunded {report.refunded},"
               f" clearing moved {report.clearing_movement}, {report.checked} payments checked")
    for d in report.differences:
        console.print(f"[red]{d.what}[/red] payment {d.payment_id or '-'}: ours {d.ours},"
                      f" gateway {d.theirs}")
    raise typer.Exit(0 if report.ok else 1)


def _day(day: str | None) -> dt.date:
    """A --day option: YYYY-MM-DD, default yesterday (UTC); exits 2 on anything else."""
    try:
        return dt.date.fromisoformat(day) if day else dt.datetime.now(dt.UTC).date() \
            - dt.timedelta(days=1)
    except ValueError as exc:
        console.print(f"[red]--day must be YYYY-MM-DD, not {day!r}[/red]")
        raise typer.Exit(2) from exc


@payouts_app.command("reconcile")
def payouts_reconcile(
    day: Annotated[str | None, typer.Option(
        help="The UTC day to check, YYYY-MM-DD; default yesterday.")] = None,
) -> None:
    """Compare each payouts provider's statement with our disbursements, and the payout
    clearing account with what they paid and got back, for one day; exits 1 on any
    difference."""
    from gullak.db.engine import Database
    from gullak.payouts import flows

    when = _day(day)
    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await flows.reconcile_day(db, settings, when)
        finally:
            await db.dispose()

    report = asyncio.run(go())
    paid = ", ".join(f"{v} {k}" for k, v in sorted(report.paid.items())) or "nothing"
    typer.echo(f"day {report.day}: paid {paid}, {report.checked} disbursements checked"
               f" with {', '.join(report.providers)}")
    for d in report.differences:
        console.print(f"[red]{d.what}[/red] {d.disbursement_id or d.provider_ref or '-'}:"
                      f" ours {d.ours}, theirs {d.theirs}")
    raise typer.Exit(0 if report.ok else 1)


support_app = typer.Typer(help="Support tickets.", no_args_is_help=True)
app.add_typer(support_app, name="support")


@support_app.command("breaches")
def support_breaches() -> None:
    """Flag tickets whose SLA timers ran out, as the worker does every five minutes, and
    count the tickets still open with a breach."""
    from gullak import domains
    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work
    from gullak.support import service

    settings = _settings()
    url = _url(settings, migrated=True)
    domains.install()

    async def go() -> tuple[int, int]:
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with unit_of_work(db) as session:
                flagged = await service.flag_breaches(session)
                return flagged, await service.count_breached(session)
        finally:
            await db.dispose()

    flagged, open_breached = asyncio.run(go())
    typer.echo(f"{flagged} tickets newly flagged, {open_breached} open tickets breached")


campaigns_app = typer.Typer(help="Marketing campaigns.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


@campaigns_app.command("send")
def campaigns_send() -> None:
    """Run one pass of the campaigns' sender, as the worker does each minute: due campaigns
    start, and each sending campaign sends what its throttle allows now."""
    from gullak import domains
    from gullak.campaigns.jobs import send_due
    from gullak.db.engine import Database

    settings = _settings()
    url = _url(settings, migrated=True)
    domains.install()

    async def go() -> int:
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await send_due(db, settings)
        finally:
            await db.dispose()

    typer.echo(f"{asyncio.run(go())} users reached")


@app.command("export")
def export(
    dataset: Annotated[str, typer.Argument(
        help="transfers, orders, cashbacks, withdrawals, or user_, merchant_, offer_ or"
             " platform_summaries.")],
    since: Annotated[str, typer.Option(help="First UTC day, YYYY-MM-DD (included).")],
    until: Annotated[str, typer.Option(help="Last UTC day, YYYY-MM-DD (excluded).")],
    format: Annotated[str, typer.Option(help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(
        help="The file to write; default the exports storage [GULLAK_EXPORT_DIR].")] = None,
) -> None:
    """Export a dataset's rows of a period as CSV or Parquet, streamed, and log the run like
    an export asked for in the back office; exits 1 if it failed, 2 on bad input."""
    from gullak.db.engine import Database
    from gullak.exports import runner
    from gullak.exports.storage import storage_for
    from gullak.kit.errors import GullakError

    try:
        first, last = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    except ValueError as exc:
        console.print("[red]--since and --until must be YYYY-MM-DD[/red]")
        raise typer.Exit(2) from exc
    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=2, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await runner.export_now(db, settings, dataset, first, last, format, out=out)
        finally:
            await db.dispose()

    try:
        done = asyncio.run(go())
    except GullakError as exc:
        console.print(f"[red]{exc.code}:[/red] {exc.detail}")
        raise typer.Exit(2) from exc
    if done.status != "done":
        console.print(f"[red]export {done.id} failed:[/red] {done.error}")
        raise typer.Exit(1)
    typer.echo(f"export {done.id}: {done.rows} rows, {done.bytes} bytes, sha256 {done.checksum}")
    where = done.path if done.location == "file" else storage_for(settings).describe(
        done.path or "")
    typer.echo(f"  {where}")


@bench_app.callback()
def bench_process() -> None:
    """A benchmark's process collects garbage as the API's and the worker's do."""
    from gullak.kit import collector

    collector.settle()


@bench_app.command("ledger")
def bench_ledger(
    seconds: Annotated[float, typer.Option(help="Length of each timed workload.")] = 20.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 16,
    entries: Annotated[int, typer.Option(help="Entries in the account read back.")] = 1_000_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Ledger throughput and read latency, against pgbench's bare transfer on the same
    server as the reference."""
    settings = _settings()
    bench_module("ledger").main(_url(settings), seconds=seconds, clients=clients,
                                 entries=entries, json_out=json_out)


@bench_app.command("discovery")
def bench_discovery(
    queries: Annotated[int, typer.Option(help="Queries per kind of query.")] = 500,
    scale: Annotated[float, typer.Option(help="Fraction of the full catalog to build.")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Search, autocomplete and nearby latency over a catalog of 10,000 merchants, 50,000
    outlets, 100,000 products and 50,000 offers, built in a scratch database."""
    settings = _settings()
    bench_module("discovery").main(_url(settings), queries=queries, scale=scale,
                                    json_out=json_out)


@bench_app.command("http")
def bench_http(
    seconds: Annotated[float, typer.Option(help="Length of each timed workload.")] = 15.0,
    workers: Annotated[int | None, typer.Option(
        help="API processes of `gullak serve` (default: one per core).")] = None,
    connections: Annotated[int, typer.Option(
        help="wrk's connections, and the clients of the direct workloads.")] = 16,
    json_out: Annotated[bool, typer.Option(
        "--json", help="One JSON line instead of tables.")] = False,
) -> None:
    """The API as its clients see it: `gullak serve` driven by wrk (transfers, balance reads,
    a user's wallet, search), against pgbench and the direct ledger transfer of the same run.
    Needs wrk (apt-get install wrk)."""
    settings = _settings()
    bench_module("http").main(_url(settings), seconds=seconds, workers=workers,
                               connections=connections, json_out=json_out)


@bench_app.command("checkout")
def bench_checkout(
    seconds: Annotated[float, typer.Option(help="Length of the timed checkouts.")] = 20.0,
    clients: Annotated[int, typer.Option(help="Concurrent users checking out.")] = 16,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Users placing and paying orders (coins and a sandbox gateway webhook) through the
    services as requests and the worker run them, against the ledger's per-request transfer
    rate of the same run."""
    settings = _settings()
    bench_module("checkout").main(_url(settings), seconds=seconds, clients=clients,
                                   json_out=json_out)


@bench_app.command("rewards")
def bench_rewards(
    seconds: Annotated[float, typer.Option(help="Length of the timed evaluations.")] = 20.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients completing orders.")] = 16,
    confirmations: Annotated[int, typer.Option(
        help="Pending cashbacks confirmed in one batch.")] = 100_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Rule evaluation and reward posting for completed orders with 200 active rules, and a
    bulk confirmation of pending cashbacks through the group-committing poster, against the
    ledger's per-request transfer rate of the same run."""
    settings = _settings()
    bench_module("rewards").main(_url(settings), seconds=seconds, clients=clients,
                                  confirmations=confirmations, json_out=json_out)


@bench_app.command("activity")
def bench_activity(
    seconds: Annotated[float, typer.Option(help="Length of the timed ingestion.")] = 20.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients syncing steps.")] = 16,
    users: Annotated[int, typer.Option(help="Users whose day the conversion settles.")] = 5_000,
    board_users: Annotated[int, typer.Option(help="Users on the leaderboards read.")] = 1_000_000,
    samples: Annotated[int, typer.Option(help="Timed reads of each kind of board read.")] = 1_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Step samples ingested through the service, the daily conversion into coins through the
    group-committing poster, and leaderboard reads (top 100, own rank) on PostgreSQL and Redis
    at a million users, each in a scratch database."""
    settings = _settings()
    bench_module("activity").main(_url(settings), seconds=seconds, clients=clients,
                                   users=users, board_users=board_users, samples=samples,
                                   json_out=json_out)


@bench_app.command("risk")
def bench_risk(
    rounds: Annotated[int, typer.Option(help="Units of work timed per path.")] = 2_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """What the risk guard adds to a sign-in, redemption or withdrawal, and what keeping a
    blocking finding apart from its refused action costs, against a bare unit of work."""
    bench_module("risk").main(_url(_settings()), rounds=rounds, json_out=json_out)


@bench_app.command("campaigns")
def bench_campaigns(
    rounds: Annotated[int, typer.Option(help="Units of work timed per path.")] = 2_000,
    users: Annotated[int, typer.Option(help="Users the segment count runs over.")] = 100_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """What attributing a paid order to the campaigns that reached its user adds to the
    order's unit of work, and what a segment count costs over many users, against a bare
    unit of work."""
    bench_module("campaigns").main(_url(_settings()), rounds=rounds, users=users,
                                   json_out=json_out)


@bench_app.command("events")
def bench_events(
    seconds: Annotated[float, typer.Option(help="Length of the timed ingestion.")] = 20.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients sending batches.")] = 16,
    workers: Annotated[int | None, typer.Option(
        help="API processes of `gullak serve`; default one per core.")] = None,
    events: Annotated[int, typer.Option(help="Events of the day summarised.")] = 10_000_000,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """Activity events ingested over HTTP in batches of 100 (POST /v1/events against
    `gullak serve`), against the same rows copied in by psycopg's COPY, and one day of
    `--events` events summarised, in a scratch database."""
    settings = _settings()
    bench_module("events").main(_url(settings), seconds=seconds, clients=clients,
                                 workers=workers, events=events, json_out=json_out)


analytics_app = typer.Typer(help="Analytics: daily summaries and event partitions.",
                            no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")


@analytics_app.command("summarise")
def analytics_summarise(
    day: Annotated[str | None, typer.Option(
        help="The UTC day, YYYY-MM-DD; default yesterday.")] = None,
    until: Annotated[str | None, typer.Option(
        help="The last day of a range from --day, YYYY-MM-DD (at most 366 days).")] = None,
) -> None:
    """Rebuild the user, merchant, offer and platform summaries of a day (or of each day of a
    range, each in its own transaction); a rerun replaces them."""
    from gullak.analytics import service as analytics
    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work

    first = _day(day)
    last = _day(until) if until else first
    if last < first or (last - first).days >= 366:
        console.print("[red]--until must be on or after --day, at most 366 days on[/red]")
        raise typer.Exit(2)
    settings = _settings()
    url = _url(settings, migrated=True)

    async def go() -> int:
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            when = first
            while when <= last:
                async with unit_of_work(db) as session:
                    await analytics.summarise_day(session, when)
                typer.echo(f"summarised {when}")
                when += dt.timedelta(days=1)
            return (last - first).days + 1
        finally:
            await db.dispose()

    typer.echo(f"{asyncio.run(go())} day(s) summarised")


@analytics_app.command("partitions")
def analytics_partitions() -> None:
    """Make the months of activity events ahead and drop those past the retention
    (GULLAK_ANALYTICS_RETENTION_DAYS); list the months kept."""
    from gullak.analytics import service as analytics
    from gullak.db.engine import Database
    from gullak.db.uow import unit_of_work

    settings = _settings()
    url = _url(settings, migrated=True)

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            async with unit_of_work(db) as session:
                return await analytics.maintain_partitions(session, settings)
        finally:
            await db.dispose()

    out = asyncio.run(go())
    typer.echo(f"made: {', '.join(out.made) or 'none'}; dropped: {', '.join(out.dropped) or 'none'}")
    for name, rows in out.months.items():
        typer.echo(f"  {name}  ~{rows:,} rows")


@bench_app.command("exports")
def bench_exports(
    rows: Annotated[int, typer.Option(min=1, help="Orders in the exported day.")] = 200_000,
    rounds: Annotated[int, typer.Option(min=1, help="Runs of each way; the best is kept.")] = 3,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False,
) -> None:
    """How fast a day's orders become a CSV or Parquet file, against PostgreSQL's own COPY."""
    bench_module("exports").main(_url(_settings()), rows=rows, rounds=rounds, json_out=json_out)


def bench_module(name: str):  # type: ignore[no-untyped-def]
    """Benchmarks live in bench/ of the source tree, next to src/; they load each other (and
    bench/scratch.py, what they share) through this too."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    if not path.exists():
        console.print(f"[red]{path} not found:[/red] benchmarks run from a source checkout")
        raise typer.Exit(2)
    spec = importlib.util.spec_from_file_location(f"gullak_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(settings: Settings, url: str, profile: str | None = None) -> list[str]:
    from gullak import seed
    from gullak.db.engine import Database

    async def go() -> list[str]:
        db = Database(url, pool_size=2, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            with console.status("loading demo data") as status:
                return await seed.load(db, progress=lambda name: status.update(f"loading {name}"),
                                       profile=profile)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _scale(settings: Settings, url: str, profile: str, n: int) -> list[str]:
    from rich.progress import Progress

    from gullak.db.engine import Database
    from gullak.profiles import scale

    async def go() -> list[str]:
        db = Database(url, pool_size=4, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"{profile}: {n} users", total=n)
                return await scale.generate(
                    db, profile, n, lambda done, total: bar.update(task, completed=done,
                                                                   total=total))
        finally:
            await db.dispose()

    return asyncio.run(go())


def _serve(settings: Settings, url: str, host: str, port: int, *, workers: int,
           with_worker: bool) -> None:
    """The API in `workers` processes under uvicorn's supervisor (one socket shared by all,
    children restarted if they die, SIGINT/SIGTERM passed on), and with `with_worker` the job
    worker in a process of its own. Returns once all have stopped."""
    import multiprocessing

    import uvicorn

    # The API processes build their app from the environment (gullak.app:factory): the
    # resolved URL (an embedded server started here) and their number, to share the pool.
    os.environ["GULLAK_DATABASE_URL"] = url
    os.environ["GULLAK_WEB_WORKERS"] = str(workers)
    jobs = None
    if with_worker:
        jobs = multiprocessing.get_context("spawn").Process(
            target=_jobs, args=(url, settings.worker_concurrency), name="gullak-worker")
        jobs.start()
    # uvicorn stops on SIGTERM and then raises it again, which would kill this process before
    # it stops the job worker: as an interrupt it unwinds instead.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # proxy_headers=False: uvicorn would believe X-Forwarded-For from any loopback peer;
        # the app reads it itself, from GULLAK_TRUSTED_PROXIES only.
        # http: httptools, each response's head and body in one write (kit/serving.py).
        uvicorn.run("gullak.app:factory", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http="gullak.kit.serving:Protocol", log_config=None,
                    access_log=False, server_header=False, proxy_headers=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if jobs is not None:
            _stop(jobs)


def _jobs(url: str, concurrency: int) -> None:
    """The job worker's process (`gullak run`): stops, finishing running jobs, on SIGINT or
    SIGTERM."""
    from gullak import domains
    from gullak import worker as gullak_worker

    settings = _settings()
    domains.install()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await gullak_worker.run(url, concurrency=concurrency,
                                    pgbouncer=settings.database_pgbouncer)

    asyncio.run(main())


def _stop(process) -> None:  # type: ignore[no-untyped-def]
    if process.is_alive():
        os.kill(process.pid, signal.SIGTERM)
    process.join(20)
    if process.is_alive():
        process.kill()
        process.join()


def _verified(settings: Settings, url: str):  # type: ignore[no-untyped-def]
    """`gullak ledger verify` of the database at `url`: its report."""
    from gullak.db.engine import Database
    from gullak.ledger.verify import verify_database

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url, pool_size=1, max_overflow=0, pgbouncer=settings.database_pgbouncer)
        try:
            return await verify_database(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()
