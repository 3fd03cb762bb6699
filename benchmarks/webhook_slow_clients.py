"""Slow clients against the webhook receiver: 600 connections that trickle their headers, under ``ulimit -n 256``.

    python -m benchmarks.webhook_slow_clients [--connections 600] [--seconds 80] [--open-files 256]

Each client sends a partial request line and headers, then one more header byte every 5 s,
for ``--seconds``. Meanwhile ``/healthz`` is asked once a second (2 s timeout). The receiver
runs in its own process with its open-files limit (soft and hard) set to ``--open-files``, in
two ways, one after the other in the same run:

- ``plain``: ``uvicorn.run(app)`` with uvicorn's defaults (how ``slmbench webhook`` ran before);
- ``receiver``: ``slmbench webhook`` (``flows.chatops.server``: header deadline, connection cap).

It prints, for each: how long the slow connections stayed open, how many were still open at
the end, how many ``/healthz`` probes answered and how fast, and the receiver's log volume
(lines, bytes, "Too many open files" lines).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import wait_until_healthy

ROOT = Path(__file__).parents[1]
PLAIN = (
    "import uvicorn, sys\n"
    "from flows.chatops.app import create_app\n"
    "from flows.chatops.config import ChatOpsConfig\n"
    "uvicorn.run(create_app(ChatOpsConfig.from_env()), host='127.0.0.1', port=int(sys.argv[1]), log_level='info')\n"
)


@dataclass
class Figures:
    open_for: list[float] = field(default_factory=list)  # seconds until the server closed each connection
    still_open: int = 0
    connect_failed: int = 0
    probes: list[float | None] = field(default_factory=list)  # latency, or None when it failed


async def slow_client(host: str, port: int, seconds: float, figures: Figures) -> None:
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=10)
    except (OSError, TimeoutError):
        figures.connect_failed += 1
        return
    try:
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        while time.monotonic() - start < seconds:
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), timeout=5) == b"":
                    figures.open_for.append(time.monotonic() - start)
                    return
            except TimeoutError:
                writer.write(b"x")  # one more byte: still "sending its headers"
        figures.still_open += 1
    except (ConnectionError, OSError):
        figures.open_for.append(time.monotonic() - start)
    finally:
        writer.close()


async def probe(url: str, seconds: float, figures: Figures) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                (await client.get(f"{url}/healthz")).raise_for_status()
                figures.probes.append(time.monotonic() - start)
            except httpx.HTTPError:
                figures.probes.append(None)
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - start)))


async def attack(port: int, connections: int, seconds: float) -> Figures:
    figures = Figures()
    clients = []
    for _ in range(connections):  # opened over about a second, as a flood would
        clients.append(asyncio.create_task(slow_client("127.0.0.1", port, seconds, figures)))
        await asyncio.sleep(1 / connections)
    await asyncio.gather(probe(f"http://127.0.0.1:{port}", seconds, figures), *clients)
    return figures


def run_receiver(mode: str, connections: int, seconds: float, open_files: int) -> tuple[Figures, str]:
    """The attack's figures and the receiver's log summary (its log is deleted: the plain one reaches 400 MB)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = Path(tempfile.mkdtemp(prefix=f"slow-{mode}-"))
    env = {
        **os.environ,
        "SLMBENCH_WEBHOOK_SECRET": "bench",
        "SLMBENCH_GITHUB_REPO": "slmbench/slmbench",
        "SLMBENCH_CHATOPS_DIR": str(state),
    }
    command = (
        [sys.executable, "-c", PLAIN, str(port)]
        if mode == "plain"
        else [sys.executable, "-m", "flows.cli", "webhook", "--port", str(port)]
    )
    log_path = state / "receiver.log"

    def limit() -> None:  # as `ulimit -n`: soft and hard, so the receiver cannot raise it
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    with log_path.open("wb") as log:
        receiver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, preexec_fn=limit)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", receiver)
            figures = asyncio.run(attack(port, connections, seconds))
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)
    lines = emfile = size = 0
    with log_path.open("rb") as log:
        for line in log:
            lines, size, emfile = lines + 1, size + len(line), emfile + (b"Too many open files" in line)
    shutil.rmtree(state)
    return figures, f"{lines} lines, {size:,} bytes, {emfile} 'Too many open files' lines"


def report(mode: str, figures: Figures, log_summary: str, connections: int) -> None:
    answered = [p for p in figures.probes if p is not None]
    held = sorted(figures.open_for)
    print(f"\n{mode}:")
    if held:
        print(
            f"  slow connections closed by the server: {len(held)} of {connections}, after "
            f"p50 {statistics.median(held):.1f} s, max {held[-1]:.1f} s"
        )
    else:
        print(f"  slow connections closed by the server: 0 of {connections}")
    print(f"  still open at the end: {figures.still_open}; connects that failed: {figures.connect_failed}")
    latency = (
        f", p50 {statistics.median(answered) * 1000:.0f} ms, max {max(answered) * 1000:.0f} ms" if answered else ""
    )
    print(f"  /healthz answered: {len(answered)} of {len(figures.probes)}{latency}")
    print(f"  receiver log: {log_summary}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=80)
    parser.add_argument("--open-files", type=int, default=256)
    parser.add_argument("--modes", default="plain,receiver")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process holds every client socket
    print(
        f"{args.connections} slow connections for {args.seconds:g} s against a receiver limited to "
        f"{args.open_files} open files; /healthz probed once a second"
    )
    for mode in args.modes.split(","):
        figures, log_summary = run_receiver(mode, args.connections, args.seconds, args.open_files)
        report(mode, figures, log_summary, args.connections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
