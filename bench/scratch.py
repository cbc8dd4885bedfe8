"""What the benchmarks share: a scratch database that is dropped whatever happens, and
clients split over forked processes. bench/ is not a package: a benchmark loads this module,
and any other, with `gullak.cli.bench_module("scratch")`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console

from gullak.db import embedded, migrate

err = Console(stderr=True)
START_TIMEOUT = 300.0  # seconds a process may take to warm up before the timed run


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new database (gullak_bench_<random>) on `url`'s server, migrated to head; its URL.
    Dropped at the end whatever happens: a closed terminal or a `kill` becomes the
    KeyboardInterrupt that Ctrl-C raises, so a user's data is never touched or left behind."""
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    admin = embedded.libpq_url(url)
    name = f"gullak_bench_{secrets.token_hex(4)}"
    err.print(f"[dim]scratch database {name} (dropped at the end)[/dim]")
    try:
        embedded.ensure_database(admin, name)
        try:
            bench_url = embedded.with_database(admin, name)
            with err.status("migrating the scratch database"):
                migrate.upgrade(bench_url)
            yield bench_url
        finally:
            # WITH (FORCE) also ends connections a killed worker process may have left.
            with err.status(f"dropping {name}"):
                embedded.drop_database(admin, name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


Work = Callable[[list[int], Callable[[], object]], tuple[Any, ...]]


def forked(work: Work, clients: int, processes: int, name: str) -> list[tuple[Any, ...]]:
    """`work(its clients, ready)` in `processes` forked processes, the clients dealt out in
    turn; each calls `ready()` once warmed up, and the timed run starts when all have. One
    Python process is one core's worth of CPU: the clients of a CPU-bound workload need more.
    Returns what each process's `work` returned."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    groups = [g for g in (list(range(clients))[p::processes] for p in range(processes)) if g]
    barrier = ctx.Barrier(len(groups) + 1)

    def child(group: list[int]) -> None:
        try:
            results.put(("ok", tuple(work(group, lambda: barrier.wait(timeout=START_TIMEOUT)))))
        except BaseException as exc:
            results.put(("error", f"{type(exc).__name__}: {exc}"))
            barrier.abort()  # a parent still waiting at the start learns it now
            raise

    children = [ctx.Process(target=child, args=(g,), daemon=True) for g in groups]
    for c in children:
        c.start()
    try:
        with err.status(f"{name}: {clients} clients warming up"):
            try:
                barrier.wait(timeout=START_TIMEOUT)
            except threading.BrokenBarrierError:
                raise RuntimeError(f"{name} failed: {results.get(timeout=10)[1]}") from None
        found: list[tuple[Any, ...]] = []
        with err.status(f"{name}: {clients} clients in {len(children)} processes"):
            while len(found) < len(children):
                try:
                    status, value = results.get(timeout=1.0)
                except queue.Empty:
                    if any(c.exitcode not in (None, 0) for c in children):
                        raise RuntimeError(f"a {name} process died") from None
                    continue
                if status != "ok":
                    raise RuntimeError(f"{name} failed: {value}")
                found.append(value)
        return found
    finally:
        for c in children:
            c.join(timeout=10)
            if c.is_alive():
                c.kill()
