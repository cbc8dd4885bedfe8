"""`gullak bench http`: the API as its clients see it, against the direct ledger figures.

Everything runs in a scratch database (gullak_bench_<random>) on the given URL's server,
migrated, loaded with the demo data, and dropped at the end, whatever happens. The API runs as
a user runs it, `gullak serve` in a subprocess on a free loopback port, and wrk (C, one event
loop per thread, a few % of a core at these rates) drives it at a fixed number of connections
with Lua scripts generated here. The same run measures pgbench's bare transfer and
`service.transfer` with an idempotency key in a unit of work (bench/ledger.py's workloads), so
the HTTP figures read as a ratio of what the engine does on the same machine at the same time.
bench/README.md explains each figure.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import psycopg
from rich.console import Console
from rich.table import Table

from gullak.access.seed import DEMO_KEY, DEMO_KEY_HOLDER
from gullak.db import embedded, migrate
from gullak.db.engine import Database

CONNECTIONS = 16
WARMUP_SECONDS = 2.0  # per workload: every worker connects its pool and prepares its statements
READY_TIMEOUT = 90.0
FAILED_SHARE = 0.01  # more than 1% of responses not 2xx: the workload failed
# Words of the demo catalogue (merchants, products, offers), so every search finds something.
QUERIES = ["coffee", "cold brew", "kurta", "basmati rice", "masala", "cashback", "denim",
           "filter coffee"]
JSON_MARK = "GULLAK_BENCH_JSON "

TARGETS: dict[str, tuple[str, float]] = {
    "http_transfer_ratio": (">=", 0.5),
    "http_transfers_p99_ms": ("<=", 30.0),
    "http_balance_rps": (">=", 3_000),
    "http_balance_p99_ms": ("<=", 20.0),
    "http_wallet_rps": (">=", 2_000),
}

err = Console(stderr=True)


class Wrk(NamedTuple):
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]  # status code: responses
    socket_errors: int  # connect, read, write errors and timeouts: no response at all
    wrk_cpu_s: float  # wrk's own CPU time: what the load generator took from the machine

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bad(self) -> int:
        return self.socket_errors + sum(n for code, n in self.statuses.items()
                                        if not code.startswith("2"))

    @property
    def failed(self) -> bool:
        return self.bad > FAILED_SHARE * max(1, self.requests)


# -- the run --------------------------------------------------------------------------------

def main(url: str, *, seconds: float, workers: int | None, connections: int,
         json_out: bool) -> None:
    """Run every workload against a scratch database on `url`'s server, then print."""
    if seconds <= 0 or connections < 1 or (workers is not None and workers < 1):
        raise SystemExit("seconds, connections and workers must be positive")
    wrk = shutil.which("wrk")
    if wrk is None:
        err.print("[red]wrk not found:[/red] the load generator of this benchmark; on Debian "
                  "or Ubuntu: apt-get install wrk")
        raise SystemExit(2)
    started = time.perf_counter()
    ledger = ledger_module()
    # A terminal closed or a `kill` must drop the scratch database and stop the server too:
    # turn them into the KeyboardInterrupt that Ctrl-C raises, which every finally handles.
    previous = {sig: signal.signal(sig, ledger.interrupted)
                for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        results = in_scratch_database(url, ledger, wrk, seconds=seconds,
                                      workers=workers or os.cpu_count() or 1,
                                      connections=connections)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
    else:
        print_table(results)
    # Missed targets are figures; errors and a ledger that does not verify are a broken run.
    if results["failed"] or not results["verify_ok"]:
        raise SystemExit(1)


def ledger_module() -> ModuleType:
    """bench/ledger.py, loaded from its path as the CLI loads every benchmark."""
    path = Path(__file__).with_name("ledger.py")
    spec = importlib.util.spec_from_file_location("gullak_bench_ledger", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_scratch_database(url: str, ledger: ModuleType, wrk: str, *, seconds: float,
                        workers: int, connections: int) -> dict[str, Any]:
    admin = embedded.libpq_url(url)
    name = f"gullak_bench_{secrets.token_hex(4)}"
    err.print(f"[dim]scratch database {name} (dropped at the end)[/dim]")
    embedded.ensure_database(admin, name)
    try:
        bench_url = embedded.with_database(admin, name)
        with err.status("migrating the scratch database"):
            migrate.upgrade(bench_url)
        with tempfile.TemporaryDirectory(prefix="gullak_bench_http_") as tmp:
            return run_all(bench_url, ledger, wrk, Path(tmp), seconds=seconds, workers=workers,
                           connections=connections)
    finally:
        # WITH (FORCE) also ends the connections of a server that did not stop in time.
        with err.status(f"dropping {name}"):
            embedded.drop_database(admin, name)


def run_all(url: str, ledger: ModuleType, wrk: str, tmp: Path, *, seconds: float,
            workers: int, connections: int) -> dict[str, Any]:
    with err.status("loading the demo data"):
        ledger.run_async(ledger.load_demo(url))
    setup = ledger.run_async(ledger.prepare(url, connections))
    accounts = [str(a) for pool in setup.pools for a in pool]

    # The direct figures first, with no server running beside them.
    pgbench_tps = ledger.reference_tps(url, seconds=seconds, clients=connections)
    ledger.report("pgbench_tps", pgbench_tps, "tps")
    processes = max(1, min(ledger.PROCESSES, connections))
    keyed = ledger.timed(url, "keyed", setup, seconds=seconds, processes=processes)
    ledger.report("cold_keyed_tps", keyed, "tps")

    accepted = serve_takes_workers()
    if not accepted:
        err.print("[yellow]`gullak serve` does not take --workers yet: one process[/yellow]")
        workers = 1
    runs: dict[str, Wrk] = {}
    with server(url, tmp, workers if accepted else None) as base:
        key = "Basic " + base64.b64encode(f"{DEMO_KEY_HOLDER}:{DEMO_KEY}".encode()).decode()
        check_search(base)
        # Each script is built just before its workload: the wallet's access token is signed
        # in then, so it lives its full 15 minutes through the workload.
        scripts: dict[str, Callable[[], str]] = {
            "transfers": lambda: transfer_script(accounts, key),
            "balance": lambda: balance_script(accounts, key),
            "wallet": lambda: get_script(["/v1/me/wallet"], f"Bearer {sign_in(base, url)}"),
            "search": lambda: get_script(
                [f"/v1/search?q={q.replace(' ', '+')}" for q in QUERIES], None),
        }
        for workload, build in scripts.items():
            script = tmp / f"{workload}.lua"
            script.write_text(build() + DONE)
            if workload == "transfers":
                ledger.checkpoint(url)
            run_wrk(wrk, base, script, WARMUP_SECONDS, connections, ledger,
                    f"{workload}: warming up")
            runs[workload] = result = run_wrk(wrk, base, script, seconds, connections, ledger,
                                              f"{workload} ({connections} connections)")
            unit = "tps" if workload == "transfers" else "req/s"
            ledger.report(f"http_{workload}", result.rps, unit)
            if result.failed:
                err.print(f"  [red]{result.bad:,} of {result.requests:,} responses not 2xx: "
                          f"{result.statuses}, {result.socket_errors} socket errors[/red]")

    with err.status("gullak ledger verify"):
        report = ledger.run_async(verify(url))
    err.print(f"  ledger verify: {'clean' if report.ok else 'DIFFERENCES'} "
              f"({report.transfers:,} transfers, {report.accounts:,} accounts)")
    results = figures(runs, pgbench_tps=pgbench_tps, keyed=keyed, workers=workers,
                      connections=connections, seconds=seconds, report=report, wrk=wrk)
    results["processes"] = processes
    return results


def serve_takes_workers() -> bool:
    """Whether this checkout's `gullak serve` has a --workers option."""
    import typer.main

    from gullak import cli

    group: Any = typer.main.get_command(cli.app)
    serve = group.commands["serve"]
    return any("--workers" in param.opts for param in serve.params)


async def verify(url: str) -> Any:
    from gullak.ledger.verify import verify_database

    db = Database(url, pool_size=1, max_overflow=0)
    try:
        return await verify_database(db)
    finally:
        await db.dispose()


# -- the server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(url: str, tmp: Path, workers: int | None) -> Iterator[str]:
    """`gullak serve` on the scratch database until the block ends; yields its base URL."""
    port = free_port()
    script = Path(sys.executable).with_name("gullak")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gullak.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = {**os.environ, "GULLAK_DATABASE_URL": url}
    log = tmp / "server.log"
    base = f"http://127.0.0.1:{port}"
    err.print(f"[dim]gullak serve on {base}, "
              f"{'one process' if workers is None else f'{workers} worker(s)'}[/dim]")
    with log.open("wb") as out:
        # Its own session: this process stops it (and its workers) by its group, and a Ctrl-C
        # in the terminal reaches only this process, which then stops it in order.
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with err.status(f"waiting for {base}/ready"):
                wait_ready(base, proc, log)
            yield base
        finally:
            stop(proc)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gullak serve exited ({proc.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{base}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"gullak serve not ready after {READY_TIMEOUT:g} s:\n{tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None


def sign_in(base: str, url: str) -> str:
    """The demo user's access token, signed in as the app does: an OTP by SMS (kept in the
    sandbox outbox, where this reads it), then the code."""
    from gullak.identity.seed import DEMO_PHONE

    call(base, "POST", "/v1/auth/otp", {"phone": DEMO_PHONE})
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT body FROM sms_outbox WHERE phone = %s"
                           " ORDER BY created_at DESC LIMIT 1", (DEMO_PHONE,)).fetchone()
    match = re.match(r"(\d{6}) ", row[0] if row else "")
    if match is None:
        raise RuntimeError("no OTP for the demo user in sms_outbox")
    signed = call(base, "POST", "/v1/auth/otp/verify",
                  {"phone": DEMO_PHONE, "code": match.group(1)})
    token: str = signed["access_token"]
    wallet = call(base, "GET", "/v1/me/wallet", headers={"Authorization": f"Bearer {token}"})
    if not wallet:
        raise RuntimeError("the demo user's wallet is empty")
    return token


def check_search(base: str) -> None:
    """Every query finds something: a fast empty answer would time nothing."""
    for q in QUERIES:
        found = call(base, "GET", f"/v1/search?q={q.replace(' ', '+')}")
        if not found.get("hits"):
            raise RuntimeError(f"search for {q!r} found nothing in the demo catalogue")


# -- wrk ------------------------------------------------------------------------------------

def lua_list(items: list[str]) -> str:
    return "{" + ",".join(json.dumps(i) for i in items) + "}"


# Every thread counts its responses by status; done() (wrk's main thread) sums the threads'
# counts and prints one JSON line, so errors are counted, never hidden in a throughput.
# setup() runs in the main thread once per thread; init() and response() in each thread.
COUNTING = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  statuses = {}
  counter = 0
  math.randomseed(id * 1000003 + os.time())
  salt = string.format("%08x%08x", math.random(0, 2147483647), math.random(0, 2147483647))
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
"""

DONE = """
function done(summary, latency, requests)
  local totals, counts = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  for status, n in pairs(totals) do
    counts[#counts + 1] = string.format('"%d":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    '\\n""" + JSON_MARK + """{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"socket_errors":%d,"statuses":{%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(counts, ",")))
end
"""


def transfer_script(accounts: list[str], key: str) -> str:
    """1 coin between two random funded accounts, a fresh Idempotency-Key every request:
    thread, counter and a random salt (a retried run never replays an earlier key)."""
    return COUNTING + f"""
local accounts = {lua_list(accounts)}
local n = #accounts
function request()
  counter = counter + 1
  local a = math.random(n)
  local b = math.random(n - 1)
  if b >= a then b = b + 1 end
  local body = '{{"debit_account_id":"' .. accounts[a] .. '","credit_account_id":"'
    .. accounts[b] .. '","asset_code":"BENCH","amount":1,"kind":"transfer"}}'
  return wrk.format("POST", "/v1/ledger/transfers", {{
    ["Authorization"] = {json.dumps(key)},
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. id .. "-" .. salt .. "-" .. counter,
  }}, body)
end
"""


def balance_script(accounts: list[str], key: str) -> str:
    return COUNTING + f"""
local accounts = {lua_list(accounts)}
local n = #accounts
local headers = {{["Authorization"] = {json.dumps(key)}}}
function request()
  return wrk.format("GET", "/v1/ledger/accounts/" .. accounts[math.random(n)] .. "/balance",
                    headers)
end
"""


def get_script(paths: list[str], authorization: str | None) -> str:
    """GET the paths in turn, each thread from its own place in the list."""
    headers = f'["Authorization"] = {json.dumps(authorization)}' if authorization else ""
    return COUNTING + f"""
local paths = {lua_list(paths)}
local n = #paths
local headers = {{{headers}}}
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter + id) % n + 1], headers)
end
"""


def run_wrk(wrk: str, base: str, script: Path, seconds: float, connections: int,
            ledger: ModuleType, label: str) -> Wrk:
    # Two threads at most: wrk needs a small part of one core at these rates, and the server
    # needs the rest of the machine.
    threads = max(1, min(2, connections, os.cpu_count() or 1))
    duration = max(1, round(seconds))
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
               "--timeout", "10s", "-s", str(script), base]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ledger.time_bar(label, duration):
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(JSON_MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    data = json.loads(line[len(JSON_MARK):])
    return Wrk(requests=data["requests"], seconds=data["duration_us"] / 1e6,
               p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
               statuses=dict(sorted(data["statuses"].items())),
               socket_errors=data["socket_errors"], wrk_cpu_s=round(cpu, 2))


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return f"wrk {match.group(1)}" if match else "wrk"


# -- output ---------------------------------------------------------------------------------

def figures(runs: dict[str, Wrk], *, pgbench_tps: float, keyed: float, workers: int,
            connections: int, seconds: float, report: Any, wrk: str) -> dict[str, Any]:
    results: dict[str, Any] = {"pgbench_tps": round(pgbench_tps, 1),
                               "cold_keyed_tps": round(keyed, 1)}
    for workload, run in runs.items():
        rate = "tps" if workload == "transfers" else "rps"
        results[f"http_{workload}_{rate}"] = round(run.rps, 1)
        results[f"http_{workload}_p50_ms"] = round(run.p50_ms, 2)
        results[f"http_{workload}_p99_ms"] = round(run.p99_ms, 2)
    results["http_transfer_ratio"] = (round(results["http_transfers_tps"] / keyed, 3)
                                      if keyed else 0.0)
    failed = [w for w, run in runs.items() if run.failed]
    results["targets"] = {}
    for name, (op, bound) in TARGETS.items():
        value = results[name]
        met = value >= bound if op == ">=" else value <= bound
        # A figure of a failed workload meets nothing: its requests were errors.
        if any(name.startswith(f"http_{w}") or (w == "transfers" and name == "http_transfer_ratio")
               for w in failed):
            met = False
        results["targets"][name] = {"target": f"{op} {bound:g}", "met": met}
    results["responses"] = {w: {"requests": run.requests, "not_2xx": run.bad,
                                "statuses": run.statuses, "socket_errors": run.socket_errors,
                                "wrk_cpu_s": run.wrk_cpu_s}
                            for w, run in runs.items()}
    results["failed"] = failed
    results["verify_ok"] = bool(report.ok)
    results["verify"] = {"transfers": report.transfers, "accounts": report.accounts,
                         "differences": {c.name: c.failures for c in report.checks if not c.ok}}
    results.update(workers=workers, connections=connections, seconds=seconds,
                   load_generator=wrk_version(wrk))
    return results


def print_table(results: dict[str, Any]) -> None:
    table = Table(title="gullak bench http",
                  caption=f"{results['workers']} server worker(s), {results['connections']} "
                          f"connections, {results['seconds']:g} s per workload, "
                          f"{results['load_generator']}, whole run {results['elapsed_s']} s")
    table.add_column("workload")
    table.add_column("per second", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("not 2xx", justify="right")
    table.add_column("run", justify="center")
    table.add_row("pgbench_tps", f"{results['pgbench_tps']:,.0f}", "", "", "", "")
    table.add_row("cold_keyed_tps", f"{results['cold_keyed_tps']:,.0f}", "", "", "", "")
    labels = {"transfers": "POST transfers", "balance": "GET balance",
              "wallet": "GET /v1/me/wallet", "search": "GET /v1/search"}
    for workload, label in labels.items():
        rate = "tps" if workload == "transfers" else "rps"
        responses = results["responses"][workload]
        ok = "[red]failed[/red]" if workload in results["failed"] else "[green]ok[/green]"
        table.add_row(label, f"{results[f'http_{workload}_{rate}']:,.0f}",
                      f"{results[f'http_{workload}_p50_ms']:.2f}",
                      f"{results[f'http_{workload}_p99_ms']:.2f}",
                      f"{responses['not_2xx']:,} of {responses['requests']:,}", ok)
    Console().print(table)

    targets = Table(title="targets")
    targets.add_column("field")
    targets.add_column("value", justify="right")
    targets.add_column("target", justify="right")
    targets.add_column("met", justify="center")
    for name, target in results["targets"].items():
        value = results[name]
        shown = (f"{value:.3f}" if name.endswith("ratio") else
                 f"{value:.2f}" if name.endswith("_ms") else f"{value:,.0f}")
        targets.add_row(name, shown, target["target"],
                        "[green]yes[/green]" if target["met"] else "[red]no[/red]")
    verify = results["verify"]
    targets.add_row("gullak ledger verify", f"{verify['transfers']:,} transfers", "clean",
                    "[green]yes[/green]" if results["verify_ok"] else "[red]no[/red]")
    Console().print(targets)
