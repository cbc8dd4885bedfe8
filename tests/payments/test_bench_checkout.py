"""`gullak bench checkout` runs end to end for a second: orders placed and paid, every webhook
applied, the ledger verified, and the figures reported (their size is the benchmark's
business, not the suite's)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench import run_bench


def test_the_checkout_bench_runs_briefly(admin_url: str, tmp_path: Path) -> None:
    figures = run_bench(admin_url, tmp_path, "checkout", "--seconds", "1", "--clients", "2")
    assert figures["verified"] is True and figures["unpaid_orders"] == 0
    assert figures["checkouts"] > 0 and figures["events"] == figures["checkouts"]
    assert 0 < figures["placement_p50_ms"] <= figures["placement_p99_ms"]
    assert figures["cold_session_tps"] > 0 and figures["checkout_ratio"] > 0
