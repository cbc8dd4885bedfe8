"""The command line, and `gullak run` end to end: start, serve /ready, stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gullak import __version__
from gullak.cli import app

runner = CliRunner()
COMMANDS = [["run"], ["serve"], ["worker"], ["seed"], ["version"], ["db"], ["db", "upgrade"],
            ["db", "downgrade"], ["db", "current"], ["db", "url"], ["db", "stop"],
            ["bench", "http"], ["bench", "checkout"], ["bench", "rewards"], ["bench", "activity"],
            ["payments", "reconcile"], ["payouts", "reconcile"], ["reseal"], ["doctor"],
            ["db", "backup"], ["db", "restore"], ["db", "stats"], ["admin", "code"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    doc = result.output.split("Usage", 1)[1]
    assert len(doc.split()) > 8  # more than the usage line: a sentence about what it does


def test_admin_code_is_the_authenticator_code_of_the_secret() -> None:
    import pyotp

    from gullak.access.seed import DEMO_ADMIN_TOTP

    result = runner.invoke(app, ["admin", "code"])
    assert result.exit_code == 0
    assert pyotp.TOTP(DEMO_ADMIN_TOTP).verify(result.output.strip(), valid_window=1)
    assert runner.invoke(app, ["admin", "code", "not base32!"]).exit_code == 2


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def gullak(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gullak.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def base_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GULLAK_")}
    env.update(GULLAK_DATABASE_URL=url, GULLAK_DATA_DIR=str(tmp_path / "data"),
               GULLAK_LOG_FORMAT="json")
    return env


def test_db_commands(fresh_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = base_env(tmp_path, fresh_db.url)
    out = gullak("db", "current", env=env)
    assert out.returncode == 0, out.stderr
    current, head = out.stdout.splitlines()
    assert current.split()[1] == head.split()[1]
    assert gullak("db", "url", env=env).stdout.strip() == fresh_db.url


def test_production_without_secrets_is_a_clear_start_up_error(tmp_path: Path) -> None:
    env = base_env(tmp_path, "postgresql://postgres@127.0.0.1:1/x")
    env["GULLAK_ENV"] = "production"
    out = gullak("run", env=env)
    assert out.returncode == 2
    assert "GULLAK_SECRET_KEY" in out.stderr
    assert "Traceback" not in out.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_ready_and_stops_on_ctrl_c(fresh_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = base_env(tmp_path, fresh_db.url)
    env["GULLAK_PORT"] = str(port)
    proc = subprocess.Popen([sys.executable, "-m", "gullak.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240  # a first start on a busy machine migrates and seeds
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert status == 200
        r = httpx.post(f"http://127.0.0.1:{port}/v1/anything", content=b"{bad")
        assert r.status_code == 415
        assert r.headers["content-type"] == "application/problem+json"
        # The spelling dictionary was built from the demo data as it loaded.
        found = httpx.get(f"http://127.0.0.1:{port}/v1/search", params={"q": "bombey brew"})
        assert found.status_code == 200 and found.json()["corrected_query"] == "bombay brew"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output
    assert '"request_id"' in output  # json access lines carry the request id
