"""`gullak bench events` runs end to end at a small size: the COPY reference, batches over
HTTP stored (and found in the table), a day summarised whose platform row counts every
event made, and the figures reported with the targets they meet or miss."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench import run_bench


def test_the_events_bench_runs_briefly(admin_url: str, tmp_path: Path) -> None:
    figures = run_bench(admin_url, tmp_path, "events", "--seconds", "1", "--clients", "2",
                        "--workers", "1", "--events", "5000")
    assert figures["copy_events_s"] > 0 and figures["http_events_s"] > 0
    assert 0 < figures["http_batch_p50_ms"] <= figures["http_batch_p99_ms"]
    assert figures["http_failed"] == 0 and figures["stored_ok"] is True
    assert figures["http_ratio"] > 0
    assert figures["summary_events"] == 5000 and figures["summary_s"] > 0
    assert set(figures["targets_met"]) == {"http_events_s"}  # the 10M figure needs 10M
