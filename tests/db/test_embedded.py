"""The embedded server's lifecycle: start, reuse, stop, recover from a crash."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from gullak.db import embedded


def postmaster_pid(data_dir: Path) -> int:
    return int((embedded.pgdata_path(data_dir) / "postmaster.pid").read_text().split()[0])


def query(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT 41 + 1").fetchone()
        assert row is not None
        return int(row[0])


def test_start_reuse_stop_and_recover() -> None:
    # Not pytest's tmp_path: as root the server runs as another user, who must be able to
    # enter every folder above its data, and pytest makes its own base folder private.
    data_dir = Path(tempfile.mkdtemp(prefix="gullak-embedded-")) / "data"
    url = embedded.server_url(data_dir, keep_running=True)
    try:
        assert query(url) == 42
        first = postmaster_pid(data_dir)

        # A second start for the same folder joins the running server.
        assert embedded.server_url(data_dir, keep_running=True) == url
        assert postmaster_pid(data_dir) == first

        # Another process sees the same server too.
        out = subprocess.run(
            [sys.executable, "-c",
             "import sys; from pathlib import Path; from gullak.db import embedded;"
             "print(embedded.server_url(Path(sys.argv[1]), keep_running=True))", str(data_dir)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        assert out == url
        assert postmaster_pid(data_dir) == first

        # A crash: the postmaster dies without cleaning up; its pid file stays behind.
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(first, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                break
        time.sleep(0.5)  # let the orphaned backends notice and exit
        assert (embedded.pgdata_path(data_dir) / "postmaster.pid").exists()

        recovered = embedded.server_url(data_dir, keep_running=True)
        assert query(recovered) == 42
        assert postmaster_pid(data_dir) != first
    finally:
        assert embedded.stop(data_dir) is True
    assert not (embedded.pgdata_path(data_dir) / "postmaster.pid").exists()
    assert embedded.stop(data_dir) is False
    shutil.rmtree(data_dir.parent, ignore_errors=True)
