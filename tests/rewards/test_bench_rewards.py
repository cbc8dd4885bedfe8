"""`gullak bench rewards` runs end to end for a second: orders' rewards evaluated and posted,
a batch of cashbacks confirmed through the poster, the ledger verified, and the figures
reported (their size is the benchmark's business, not the suite's)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.bench import run_bench


def test_the_rewards_bench_runs_briefly(admin_url: str, tmp_path: Path) -> None:
    figures = run_bench(admin_url, tmp_path, "rewards", "--seconds", "1", "--clients", "2",
                        "--confirmations", "200")
    assert figures["verified"] is True and figures["active_rules"] == 200
    assert figures["evaluations"] > 0 and figures["rewards_posted"] >= figures["evaluations"]
    assert 0 < figures["evaluation_p50_ms"] <= figures["evaluation_p99_ms"]
    assert figures["cold_session_tps"] > 0 and figures["evaluation_ratio"] > 0
    assert figures["cashback_confirmed"] == 200 and figures["cashback_confirmations_s"] > 0
