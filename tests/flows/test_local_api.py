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
