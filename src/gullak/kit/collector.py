"""The garbage collector of a long-running process (the API, the worker, a benchmark).

What exists once the process is up (modules, routes, models, pools) lives as long as the
process: frozen, out of the collector's sight, a full collection walks only what was made
since. Unfrozen, a full collection over it stopped the event loop for about 100 ms and was
the whole of the API reads' p99. And CPython's thresholds (700, 10, 10) still ran a full
collection every hundred young ones or so: work that keeps thousands of objects alive for a
while (the daily conversion's chunk of a thousand users, its lists and ORM rows) paid about
45% of its client CPU for them (bench/README.md, "The daily conversion"). Young collections
now run every 10,000 allocations and full ones ten times more rarely: cyclic garbage lives a
little longer, which is memory the process has anyway.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 10, 100)


def settle() -> None:
    """Once the process has loaded what it keeps: collect, freeze what is left, and collect
    less often from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
