"""Logical backups: pg_dump's custom format, restored by pg_restore into an empty database.

pg_dump reads the whole database in one snapshot, so a backup taken under traffic is
consistent: every transaction is in it whole or not at all. The tools are PostgreSQL's own,
of the server's major version where one is found (the embedded server's, the system's);
the connection goes to them through the libpq environment, never on their command line.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from gullak.db import embedded

Progress = Callable[[int, int], None]

# The URL's query parameters that libpq also reads from the environment.
QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE",
             "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
             "application_name": "PGAPPNAME", "connect_timeout": "PGCONNECT_TIMEOUT",
             "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS"}
CONNECTION_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
                  "PGSERVICE", "PGOPTIONS")
# The verbose lines that mark one more table dumped, and one more archive entry restored
# (one at a time, or with --jobs, where the entries after the schema run in workers).
DUMPED = re.compile(r"^pg_dump: dumping contents of table ")
RESTORED = re.compile(r"^pg_restore: (creating |processing data |executing )")
RESTORED_PARALLEL = re.compile(r"^pg_restore: (processing|finished) item ")
# Lines that say what went wrong, kept for the error message (verbose lines are not).
PROBLEM = re.compile(r"(error|warning|detail|hint): |^Command was: ")


class BackupError(Exception):
    """A backup or restore that failed; the message says why."""

    exit_code = 1


class Refused(BackupError):
    """A backup or restore not attempted; the message says what to do instead."""

    exit_code = 2


@dataclass(frozen=True)
class Tool:
    path: Path
    major: int


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    tables: int
    seconds: float
    revision: str | None
    tool: Tool
    note: str | None  # why the tool is not of the server's own major version


@dataclass(frozen=True)
class Archive:
    entries: int
    dumped_by: int  # major version of the pg_dump that wrote it
    dumped_from: int  # major version of the server it was taken from


@dataclass(frozen=True)
class RestoreResult:
    entries: int
    seconds: float
    tool: Tool
    note: str | None


def libpq_env(url: str) -> dict[str, str]:
    """The process environment with the connection of `url` in libpq's variables."""
    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if k not in CONNECTION_ENV}
    values = {"PGHOST": parsed.host, "PGPORT": parsed.port, "PGUSER": parsed.username,
              "PGPASSWORD": parsed.password, "PGDATABASE": parsed.database}
    for key, value in parsed.query.items():
        if key in QUERY_ENV:
            values[QUERY_ENV[key]] = value if isinstance(value, str) else value[0]
    env.update({k: str(v) for k, v in values.items() if v is not None})
    return env


def server_major(url: str) -> int:
    with _connect(url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def count_tables(url: str) -> int:
    """Tables whose rows pg_dump writes: every ordinary table (partitions included) except
    those an extension owns."""
    with _connect(url) as conn:
        row = conn.execute("""
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                              AND d.objid = c.oid AND d.deptype = 'e')""").fetchone()
    assert row is not None
    return int(row[0])


def revision(url: str) -> str | None:
    """The migration revision the database is at (alembic_version), if any."""
    with _connect(url) as conn:
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() == (None,):
            return None
        rows = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
    return ", ".join(sorted(r[0] for r in rows)) or None


def default_file(url: str, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"gullak-{make_url(url).database}-{stamp}.dump")


def tool_dirs() -> list[Path]:
    """Where PostgreSQL's programs are looked for, in order of preference."""
    dirs = []
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: harmless.
            warnings.simplefilter("ignore")
            dirs.append(embedded.bin_path())
    except ImportError:  # the embedded server's wheel is optional for an external server
        pass
    system = Path("/usr/lib/postgresql")
    if system.is_dir():
        found = [p / "bin" for p in system.iterdir() if p.name.isdigit()]
        dirs += sorted(found, key=lambda p: int(p.parent.name), reverse=True)
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return dirs


def find_tools(name: str, dirs: list[Path] | None = None) -> list[Tool]:
    """Every distinct `name` program found, with its major version, in order of preference."""
    tools: list[Tool] = []
    seen: set[Path] = set()
    for folder in tool_dirs() if dirs is None else dirs:
        path = folder / name
        if not path.is_file() or not os.access(path, os.X_OK) or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        major = _version(path)
        if major is not None:
            tools.append(Tool(path, major))
    return tools


def dump_tool(server: int, tools: list[Tool]) -> tuple[Tool, str | None]:
    """pg_dump of the server's major version; else the oldest newer one, since pg_dump reads
    older servers (never newer ones)."""
    for tool in tools:
        if tool.major == server:
            return tool, None
    newer = sorted((t for t in tools if t.major > server), key=lambda t: t.major)
    if newer:
        return newer[0], (f"no pg_dump {server} found: using pg_dump {newer[0].major}, whose "
                          f"backup only pg_restore {newer[0].major} or newer reads")
    raise Refused(f"no pg_dump of PostgreSQL {server} or newer found ({_listed(tools)}): "
                  f"install the PostgreSQL {server} client programs")


def restore_tool(archive: Archive, target: int, tools: list[Tool]) -> tuple[Tool, str | None]:
    """pg_restore that reads the archive (its major at least the dump's) and is of the target
    server's major version if possible: a newer one sends settings an older server rejects
    (pg_restore 18 sets transaction_timeout, unknown before PostgreSQL 17)."""
    if target < archive.dumped_from:
        raise Refused(f"the backup is of a PostgreSQL {archive.dumped_from} server and the "
                      f"target runs PostgreSQL {target}: restore into PostgreSQL "
                      f"{archive.dumped_from} or newer")
    readers = [t for t in tools if t.major >= archive.dumped_by]
    if not readers:
        raise Refused(f"the backup was written by pg_dump {archive.dumped_by}: install the "
                      f"PostgreSQL {archive.dumped_by} client programs ({_listed(tools)})")
    for tool in readers:
        if tool.major == target:
            return tool, None
    older = sorted((t for t in readers if t.major < target), key=lambda t: -t.major)
    if older:
        return older[0], None
    if archive.dumped_by > target:
        raise Refused(f"the backup was written by pg_dump {archive.dumped_by}, whose "
                      f"pg_restore cannot restore into PostgreSQL {target}: take the backup "
                      f"with pg_dump {target} (install the PostgreSQL {target} client programs)")
    tool = min(readers, key=lambda t: t.major)
    return tool, f"no pg_restore {target} found: using pg_restore {tool.major}"


def backup(url: str, file: Path, *, force: bool = False, progress: Progress | None = None,
           tools: list[Tool] | None = None) -> BackupResult:
    """Write a custom-format backup of the database at `url` to `file`; a failed run leaves
    neither `file` nor its `.part`."""
    if file.exists() and not force:
        raise Refused(f"{file} exists: choose another file, or --force to overwrite it")
    started = time.perf_counter()
    tool, note = dump_tool(_server_major(url), find_tools("pg_dump") if tools is None else tools)
    total = count_tables(url)
    rev = revision(url)
    part = file.with_name(file.name + ".part")
    done = 0
    try:
        for line in _run([str(tool.path), "--format=custom", "--verbose", f"--file={part}"],
                         url):
            if DUMPED.match(line):
                done += 1
                if progress:
                    progress(min(done, total), total)
        part.replace(file)
    finally:
        part.unlink(missing_ok=True)
    return BackupResult(file, file.stat().st_size, done, time.perf_counter() - started, rev,
                        tool, note)


def archive(file: Path, tools: list[Tool]) -> Archive:
    """What a backup file holds, read by the newest pg_restore (which reads every older one)."""
    if not file.is_file():
        raise Refused(f"{file}: no such file")
    if not tools:
        raise Refused("no pg_restore found: install the PostgreSQL client programs")
    newest = max(tools, key=lambda t: t.major)
    out = subprocess.run([str(newest.path), "--list", str(file)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise Refused(f"{file} is not a backup pg_restore {newest.major} reads: "
                      f"{out.stderr.strip()}")
    entries = sum(1 for line in out.stdout.splitlines() if line and not line.startswith(";"))
    by = re.search(r"Dumped by pg_dump version: (\d+)", out.stdout)
    source = re.search(r"Dumped from database version: (\d+)", out.stdout)
    if by is None or source is None:
        raise Refused(f"{file}: no versions in its header")
    return Archive(entries, int(by.group(1)), int(source.group(1)))


def user_tables(url: str) -> int:
    """Tables outside PostgreSQL's own schemas: a database to restore into has none."""
    with _connect(url) as conn:
        row = conn.execute("""
            SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%'""").fetchone()
    assert row is not None
    return int(row[0])


def restore(url: str, file: Path, *, jobs: int = 1, progress: Progress | None = None,
            tools: list[Tool] | None = None) -> RestoreResult:
    """Restore `file` into the empty database at `url`, then gather the planner's statistics
    (a backup holds none)."""
    started = time.perf_counter()
    tools = find_tools("pg_restore") if tools is None else tools
    held = archive(file, tools)
    tool, note = restore_tool(held, _server_major(url), tools)
    tables = user_tables(url)
    if tables:
        name = make_url(url).database
        raise Refused(f"database {name} is not empty ({tables} tables): restore into an "
                      "empty database, e.g. --create NEW_NAME makes one on the same server")
    marks = RESTORED_PARALLEL if jobs > 1 else RESTORED
    command = [str(tool.path), "--no-owner", "--no-privileges", "--exit-on-error", "--verbose",
               f"--jobs={jobs}", f"--dbname={make_url(url).database}", str(file)]
    done = 0
    for line in _run(command, url):
        if marks.match(line):
            done += 1
            if progress:
                progress(min(done, held.entries), held.entries)
    with _connect(url) as conn:
        conn.execute("ANALYZE")
    return RestoreResult(held.entries, time.perf_counter() - started, tool, note)


def create_database(url: str, name: str) -> tuple[str, bool]:
    """The URL of database `name` on the server of `url`, created unless it exists; True if
    created."""
    created = embedded.ensure_database(url, name)
    return embedded.with_database(url, name), created


def _run(command: list[str], url: str) -> Iterator[str]:
    """Run a PostgreSQL program on `url`'s connection, yielding its stderr lines; raises
    BackupError with its error lines if it fails."""
    problems: list[str] = []
    process = subprocess.Popen(command, env=libpq_env(url), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.rstrip("\n")
            if PROBLEM.search(line):
                problems.append(line)
            yield line
    finally:
        if process.poll() is None:  # the caller stopped (Ctrl-C): stop the program too
            process.terminate()
        process.wait()
    if process.returncode != 0:
        name = Path(command[0]).name
        raise BackupError("\n".join(problems[-10:]) or f"{name} exited with {process.returncode}")


def _server_major(url: str) -> int:
    try:
        return server_major(url)
    except psycopg.OperationalError as exc:
        raise BackupError(f"cannot connect to the database: {exc}") from exc


def _connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(embedded.libpq_url(url), autocommit=True)


def _version(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except OSError:
        return None
    found = re.search(r"\) (\d+)", out.stdout)
    return int(found.group(1)) if found else None


def _listed(tools: list[Tool]) -> str:
    return ", ".join(f"{t.major} in {t.path.parent}" for t in tools) or "none found"
