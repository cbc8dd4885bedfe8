"""`gullak bench activity` runs end to end at a small size: samples ingested, a day converted,
boards built and read on PostgreSQL (and Redis where one answers), and the figures reported
with the targets they meet or miss (their size is the benchmark's business)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench import run_bench


def test_the_activity_bench_runs_briefly(admin_url: str, tmp_path: Path) -> None:
    figures = run_bench(admin_url, tmp_path, "activity", "--seconds", "1", "--clients", "2",
                        "--users", "50", "--board-users", "2000", "--samples", "20")
    assert figures["samples_s"] > 0 and 0 < figures["batch_p50_ms"] <= figures["batch_p99_ms"]
    assert figures["users_converted_s"] > 0 and figures["million_users_convert_s"] > 0
    assert 0 < figures["pg_top100_p99_ms"] and 0 < figures["pg_rank_p99_ms"]
    on_redis = "redis_users_converted_s" in figures  # else a note says Redis did not answer
    assert on_redis or figures["redis_conversion"].startswith("Redis skipped")
    assert not on_redis or figures["redis_users_converted_s"] > 0
    assert set(figures["targets_met"]) == {"samples_s", "pg_top100_p99_ms", "pg_rank_p99_ms",
                                           "million_users_convert_s"} | (
        {"redis_million_users_convert_s"} if on_redis else set())
    assert figures["conversion_python_cpu_us_per_user"] > 0
