"""A real multi-node Ray cluster on this machine, for tests and benchmarks: ``ray start --head`` plus ``ray start --address``.

Each node is its own ``ray start --block`` process group with its own temporary
folder, CPU count and custom resource (``slmb_<name>``: 1), so a test can tell
the nodes apart and pin work to one. A worker node can be given folders to
hide: it then runs in a mount namespace of its own where each of them is an
empty tmpfs, with its own HOME and working directory, so anything that reads
the driver's disk by path (fixtures, task pack, cache, run folder) fails there
the way it would on another machine. The code (this checkout and its venv)
stays visible, as it is in the worker image of a real cluster.

Hiding needs ``unshare --mount``: root, or unprivileged user namespaces
(``unshare -rm``). Where neither works the node starts unhidden and
``Node.hidden`` says so.

Nothing here calls ``ray stop``: it would stop every Ray on the machine. Each
node is ended through its own process group.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.servers import free_port

RAY = str(Path(sys.executable).with_name("ray"))
# Fast failure detection, so a test that kills a raylet does not wait the default ~15 s.
SYSTEM_CONFIG = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_timeout_ms": 1000}


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path
    hidden: tuple[str, ...] = ()
    node_dir: Path | None = None  # where the node lands shipped files (SLMBENCH_NODE_DIR)

    @property
    def resource(self) -> str:
        return f"slmb_{self.name}"

    def processes(self) -> list[psutil.Process]:
        try:
            return [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def raylet(self) -> psutil.Process:
        return next(p for p in self.processes() if p.name() == "raylet")

    def busy_workers(self, actor: str = "ModelWorker", window_s: float = 0.3) -> list[psutil.Process]:
        """Actor processes of this node that have finished loading and are computing now.

        By CPU, not by process title: an actor that answers a second call meanwhile (``max_concurrency``)
        sets its title back to idle while its unit still runs.
        """
        actors = []
        for proc in self.processes():
            try:
                title = " ".join(proc.cmdline())
                if title.startswith(f"ray::{actor}") and "__init__" not in title:
                    actors.append((proc, sum(proc.cpu_times()[:2])))
            except psutil.NoSuchProcess:
                continue
        time.sleep(window_s if actors else 0.05)
        busy = []
        for proc, before in actors:
            try:
                if sum(proc.cpu_times()[:2]) - before > window_s / 10:  # a tenth of a core: busy, on a loaded machine
                    busy.append(proc)
            except psutil.NoSuchProcess:
                continue
        return busy

    def terminate(self) -> None:
        """Ask the node to stop (``ray start --block`` drains it, then stops its processes)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        """Whatever is left of this node's process group and descendants, at once."""
        for proc in self.processes():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


@dataclass
class LocalCluster:
    root: Path
    token: str
    port: int
    client_port: int
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The GCS address: for a driver on a node of the cluster (here, the head's machine)."""
        return f"127.0.0.1:{self.port}"

    @property
    def client_address(self) -> str:
        """The Ray Client address: for a driver outside the cluster, on no node (a flow-run pod)."""
        return f"ray://127.0.0.1:{self.client_port}"

    def env(self, client: bool = False) -> dict[str, str]:
        """What a driver needs to attach to this cluster (``RAY_ADDRESS``) and pass its token check."""
        address = self.client_address if client else self.address
        return {"RAY_ADDRESS": address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def start_node(self, name: str, cpus: int, hide: Sequence[Path] = (), env: dict[str, str] | None = None) -> Node:
        head = not self.nodes
        temp_dir = Path(tempfile.mkdtemp(prefix=f"{name[:6]}-", dir=self.root))
        home = temp_dir / "home"
        home.mkdir()
        node_dir = temp_dir / "landed"
        args = [
            RAY,
            "start",
            "--block",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--resources={json.dumps({f'slmb_{name}': 1})}",
            f"--temp-dir={temp_dir / 'ray'}",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
        ]
        if head:
            args += [
                "--head",
                f"--port={self.port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
                f"--ray-client-server-port={self.client_port}",
                f"--system-config={json.dumps(SYSTEM_CONFIG)}",
            ]
        else:
            args += [f"--address={self.address}", "--node-ip-address=127.0.0.1"]
        hidden: tuple[str, ...] = ()
        if hide:
            wrapper = _hiding_wrapper()
            if wrapper:
                hidden = tuple(str(p) for p in hide)
                script = 'for d in "$@"; do mkdir -p "$d" && mount -t tmpfs -o size=1m slmb-hidden "$d" || exit 97; done; exec {}'.format(
                    " ".join(_quote(a) for a in args)
                )
                args = [*wrapper, "sh", "-c", script, "hide", *hidden]
        node_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLMBENCH_", "PYTEST"))},
            "HOME": str(home),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "SLMBENCH_NODE_DIR": str(node_dir),
            **(env or {}),
        }
        log = temp_dir / "node.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, cwd=home, env=node_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        node = Node(name, process, temp_dir, log, hidden, node_dir)
        self.nodes.append(node)
        self._wait_for(node, head)
        return node

    def _wait_for(self, node: Node, head: bool) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise RuntimeError(
                    f"node {node.name} exited ({node.process.returncode}):\n{node.log.read_text()[-3000:]}"
                )
            if head and _port_open(self.port) and "Ray runtime started" in node.log.read_text(errors="replace"):
                return
            if not head and "Ray runtime started" in node.log.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"node {node.name} did not start:\n{node.log.read_text()[-3000:]}")

    def driver_env(self, client: bool = False, **extra: str) -> dict[str, str]:
        """The environment of a driver process attached to this cluster (through Ray Client with ``client``).

        Drivers run as processes of their own: Ray keeps one token per process, so the
        test process, which may hold a local Ray's, cannot attach to a cluster with another.
        """
        return {**os.environ, **self.env(client), **extra}

    def query(self, code: str, timeout_s: float = 120) -> object:
        """Run ``code`` (a function body that ``return``s JSON-able data) in a driver attached to the cluster."""
        body = "\n".join("    " + line for line in code.strip().splitlines())
        script = (
            "import json, ray\n"
            "ray.init(include_dashboard=False, log_to_driver=False)\n"
            f"def main():\n{body}\n"
            "print('RESULT ' + json.dumps(main()))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=self.driver_env(),
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"cluster query failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(lines[-1].removeprefix("RESULT "))

    def node_ids(self) -> dict[str, str]:
        """Node name -> Ray node id, for the live nodes."""
        ids = self.query("return {n['NodeID']: sorted(n['Resources']) for n in ray.nodes() if n['Alive']}")
        assert isinstance(ids, dict)
        return {node.name: nid for nid, keys in ids.items() for node in self.nodes if node.resource in keys}

    def shutdown(self, grace_s: float = 8) -> None:
        for node in self.nodes:
            node.terminate()
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(n.process.poll() is None for n in self.nodes):
            time.sleep(0.2)
        for node in self.nodes:
            node.kill()
        self.nodes.clear()


@contextmanager
def local_cluster(head_cpus: int = 2) -> Iterator[LocalCluster]:
    """A head node (``head``) of ``head_cpus`` CPUs; add workers with ``start_node``. Everything ends on exit."""
    root = Path(tempfile.mkdtemp(prefix="slmbray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    cluster = LocalCluster(root, _cluster_token(), free_port(), free_port())
    try:
        cluster.start_node("head", head_cpus)
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _cluster_token() -> str:
    """The cluster's own token (Ray's token authentication): its nodes and drivers get it in ``RAY_AUTH_TOKEN``."""
    return secrets.token_hex(32)


def _hiding_wrapper() -> list[str] | None:
    """How to start a process in a mount namespace of its own, where mounting is allowed; None if it is not."""
    for wrapper in (["unshare", "--mount", "--propagation", "private"], ["unshare", "-rm"]):
        if shutil.which("unshare") is None:
            return None
        probe = subprocess.run(
            [*wrapper, "sh", "-c", "mount -t tmpfs probe /mnt"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return wrapper
    return None


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
