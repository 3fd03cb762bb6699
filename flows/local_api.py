"""Prefect's local API server, started at the very beginning of a command instead of at its first flow.

With no Prefect API configured, Prefect starts a temporary server (its
"ephemeral" mode) when the first flow runs, and the flow waits for it: 5-7 s
on 2 cores, most of a cached rerun. The command spends about as long before
that importing Prefect and checking its input. Started first, in its own
process, the server starts while the command does that work.

It is the same server Prefect would start (``SubprocessASGIServer``: uvicorn
over ``prefect.server.api.server:create_app``, the UI off, the same database),
started the same way, and stopped when the command exits. A command killed
outright (SIGKILL, the OOM killer) runs no exit handler, so the server is also
asked to die with its parent (Linux's ``PR_SET_PDEATHSIG``), instead of being
left running for ever at about 190 MB each. The command then
reaches it through ``PREFECT_API_URL``, set before Prefect is imported (Prefect
reads its settings at import), which also hands it to the Ray workers. Nothing
is started when an API is configured (``PREFECT_API_URL``, or the active
Prefect profile names one).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux; elsewhere a no-op).

    ``atexit`` stops the server when the command ends normally; this covers a command killed
    outright. If the parent died already, between the fork and here, the child exits at once.
    """
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)


@dataclass
class LocalApi:
    """A started server: its URL and process."""

    url: str
    process: subprocess.Popen[bytes]

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Block until the server answers its health check; a clear error if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local Prefect server exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the local Prefect server did not answer at {self.url} within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def configured_api() -> str | None:
    """The Prefect API the user configured (environment or active profile), or None for the local default."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(profiles.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    return (data.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")


def start() -> LocalApi | None:
    """Start the local server now and point this process at it; None when an API is configured.

    Call it before Prefect is imported; :meth:`LocalApi.wait_ready` before the first flow.
    """
    if configured_api() is not None or "prefect" in sys.modules:
        return None
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app_dir = str(Path(next(iter(spec.submodule_search_locations))).parent)
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory", "prefect.server.api.server:create_app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env,
        preexec_fn=functools.partial(_die_with, os.getpid()),
    )
    api = LocalApi(f"http://127.0.0.1:{port}/api", process)
    atexit.register(api.stop)
    os.environ["PREFECT_API_URL"] = api.url
    return api


@contextmanager
def flow_settings(api: LocalApi | None) -> Iterator[None]:
    """Flows on this command's own server (``api``) run without Prefect's heartbeats.

    Heartbeats let a lasting server mark a run whose process died as crashed; this server
    stops with the command, so they tell it nothing, and their thread holds each flow's end
    for up to a second (it sleeps in whole seconds). A configured API keeps them.
    """
    if api is None:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
