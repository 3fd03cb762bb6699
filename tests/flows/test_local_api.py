"""Prefect's local server started first by the CLI: a real server, reachable, and gone with the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from flows import local_api

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, urllib.request
from flows import local_api
api = local_api.start()
api.wait_ready()
import prefect  # reads PREFECT_API_URL: the command's flows go to this server
from prefect.settings import PREFECT_API_URL
with urllib.request.urlopen(api.url + "/health") as answer:
    print(json.dumps({"pid": api.process.pid, "url": api.url, "status": answer.status, "prefect": PREFECT_API_URL.value()}))
"""


def test_the_server_answers_prefect_uses_it_and_it_stops_with_the_command(tmp_path: Path) -> None:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200 and seen["prefect"] == seen["url"]
    assert not psutil.pid_exists(seen["pid"]) or psutil.Process(seen["pid"]).status() == psutil.STATUS_ZOMBIE


def test_nothing_starts_where_an_api_is_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    assert local_api.configured_api() == "http://prefect.example:4200/api"
    assert local_api.start() is None
    monkeypatch.delenv("PREFECT_API_URL")
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://team:4200/api"\n')
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    assert local_api.configured_api() == "http://team:4200/api"
    profiles.write_text('active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n')
    assert local_api.configured_api() is None


def test_the_server_dies_with_a_command_killed_outright(tmp_path: Path) -> None:
    """SIGKILL runs no exit handler: the server must go by itself (PR_SET_PDEATHSIG), not linger for ever."""
    import json
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    holder = SCRIPT + "import sys, time\nsys.stdout.flush()\ntime.sleep(600)\n"
    command = subprocess.Popen(
        [sys.executable, "-c", holder], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    server = None
    try:
        assert command.stdout is not None
        seen = json.loads(command.stdout.readline())
        server = psutil.Process(seen["pid"])
        assert server.is_running() and server.ppid() == command.pid
        command.send_signal(signal.SIGKILL)
        command.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.is_running() and server.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.1)
        assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE, "the server outlived the command"
    finally:
        if command.poll() is None:
            command.kill()
        if server is not None and server.is_running():
            server.kill()  # a failed run of this test leaves no server behind
