"""`gullak bench rewards` runs end to end for a second: orders' rewards evaluated and posted,
a batch of cashbacks confirmed through the poster, the ledger verified, and the figures
reported (their size is the benchmark's business, not the suite's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_rewards_bench_runs_briefly(admin_url: str, tmp_path: Path) -> None:
    # The server itself, never a pooler: a benchmark makes its own scratch database there.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=admin_url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_LEVEL="warning")
    out = subprocess.run([sys.executable, "-m", "gullak.cli", "bench", "rewards",
                          "--seconds", "1", "--clients", "2", "--confirmations", "200",
                          "--json"],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["verified"] is True and figures["active_rules"] == 200
    assert figures["evaluations"] > 0 and figures["rewards_posted"] >= figures["evaluations"]
    assert 0 < figures["evaluation_p50_ms"] <= figures["evaluation_p99_ms"]
    assert figures["cold_session_tps"] > 0 and figures["evaluation_ratio"] > 0
    assert figures["cashback_confirmed"] == 200 and figures["cashback_confirmations_s"] > 0
