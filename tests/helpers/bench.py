"""Running a benchmark for a moment, as its smoke test does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_bench(admin_url: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """`gullak bench <args> --json` against the server itself, never a pooler (a benchmark
    makes its own scratch databases there and measures the server); its figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=admin_url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_LEVEL="warning")
    out = subprocess.run([sys.executable, "-m", "gullak.cli", "bench", *args, "--json"],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures
