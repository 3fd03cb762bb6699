"""Files that travel to Ray workers on other nodes: weights and task folders, through Ray's object store.

A cluster shares no disk: a worker on another node cannot read the driver's
model files or its task pack. So when the cluster has a node besides the
driver's (or the driver reaches it through Ray Client), the driver puts each
file into Ray's object store in chunks (:func:`ship`), and a worker on
another node writes them into a folder of its own node (:func:`land`):

- **content-addressed**: the landing folder is named by the files' digest, the
  same sha256 as ``evals.models.variants.weights_digest`` (names and bytes), checked
  before the folder is renamed into place; a second actor on the node, or a
  later run of the same weights, reuses it without fetching anything;
- **one transfer per node**: Ray moves an object to a node once; every actor
  there reads it from the node's own store; a file lock lets one actor land a
  folder while the others wait for it;
- **chunked** (64 MiB): neither the driver nor a worker holds a whole 3B model
  in memory at once, and Ray Client's message limit is never reached;
- task folders name their data files by absolute path (lm-eval hands them to
  ``datasets.load_dataset``), so in a landed task folder the driver's path is
  replaced by the landing path, in the YAML files only, after the digest check.

Why the object store and not a shared volume or the hub: it needs nothing of
the cluster but Ray, works the same for local, fixture and hub weights, and
the digest check covers the bytes that are evaluated. What it costs: the
driver's node keeps the weights in its object store while the run's actors
start (Ray spills what does not fit to its local disk), and the bytes cross
the network once per node. The landing folder is ``$SLMBENCH_NODE_DIR``, or
``slmbench-node-<uid>`` in the node's temporary folder.

Results come back the other way as return values (``UnitOutcome``,
``EdgeReport``); the driver writes the cache and the run folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK_BYTES = 64 * 2**20
# Text files in a task folder that may name the folder by its absolute path.
_TASK_TEXT_SUFFIXES = (".yaml", ".yml")


class LandingError(RuntimeError):
    """Files that arrived on a node differ from the ones the driver sent."""


@dataclass(frozen=True)
class ShippedFiles:
    """A file or folder put into the object store: its path on the driver, digest and chunks."""

    origin: str
    digest: str
    is_dir: bool
    files: tuple[tuple[str, tuple[Any, ...]], ...]  # (path relative to origin, "" for a single file; chunk refs)
    kind: str  # "weights" | "tasks": the landing subfolder

    @property
    def name(self) -> str:
        return Path(self.origin).name


@dataclass(frozen=True)
class Shipment:
    """What a worker on another node needs from the driver's disk: its variant's weights and the task folders."""

    origin_node: str | None  # the driver's Ray node; None when the driver is on no node (Ray Client)
    weights: ShippedFiles
    tasks: tuple[ShippedFiles, ...]

    def applies_here(self) -> bool:
        """True on any node but the driver's: there, the driver's paths are read as they are."""
        return self.origin_node is None or self.origin_node != current_node()

    def land(self) -> tuple[Path, tuple[str, ...]]:
        """The weights path and the task folders on this node, landed where needed."""
        return land(self.weights), tuple(str(land(t)) for t in self.tasks)


def tree_files(path: Path) -> list[Path]:
    """The files of a folder in digest order, or the file itself."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def tree_digest(path: Path) -> str:
    """sha256 over a file's bytes, or over a folder's files (relative names, then bytes, in name order)."""
    digest = hashlib.sha256()
    for file in tree_files(path):
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def current_node() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def uses_ray_client() -> bool:
    """Whether this driver reaches its cluster through Ray Client, and so is on none of its nodes.

    The one test of it: the address it connects to (``RAY_ADDRESS``) before it is connected,
    Ray Client's own state after.
    """
    from ray.util.client import ray as client

    return client.is_connected() or os.environ.get("RAY_ADDRESS", "").startswith("ray://")


def driver_node() -> str | None:
    """The driver's node, or None when it talks to the cluster through Ray Client (it is on no node)."""
    return None if uses_ray_client() else current_node()


def cluster_spans_nodes() -> bool:
    """True when a worker may land on a node that cannot see this process's disk."""
    import ray

    origin = driver_node()
    return origin is None or any(n["Alive"] and n["NodeID"] != origin for n in ray.nodes())


def ship(path: Path, kind: str, digest: str | None = None) -> ShippedFiles:
    """Put ``path`` (a file or a folder) into the object store, chunk by chunk."""
    import ray

    path = Path(path).resolve()
    files = []
    for file in tree_files(path):
        refs = []
        with file.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                refs.append(ray.put(chunk))
        files.append(("" if not path.is_dir() else file.relative_to(path).as_posix(), tuple(refs)))
    return ShippedFiles(str(path), digest or tree_digest(path), path.is_dir(), tuple(files), kind)


def node_dir() -> Path:
    """Where this node keeps landed files: ``$SLMBENCH_NODE_DIR`` or ``<tmp>/slmbench-node-<uid>``."""
    root = os.environ.get("SLMBENCH_NODE_DIR") or Path(tempfile.gettempdir()) / f"slmbench-node-{os.getuid()}"
    path = Path(root)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def land(shipped: ShippedFiles) -> Path:
    """The shipped file or folder on this node, fetched and checked unless an earlier landing is there."""
    home = node_dir() / shipped.kind / shipped.digest
    final = home / shipped.name
    if final.exists():
        return final
    home.parent.mkdir(parents=True, exist_ok=True)
    with _locked(home.parent / f"{shipped.digest}.lock"):
        if final.exists():  # another actor on this node landed it while we waited
            return final
        staging = Path(tempfile.mkdtemp(prefix=f".{shipped.digest[:12]}-", dir=home.parent))
        try:
            target = staging / shipped.name
            _write(shipped, target)
            if tree_digest(target) != shipped.digest:
                raise LandingError(
                    f"{shipped.origin}: the files that reached this node do not match the driver's digest "
                    f"{shipped.digest[:12]}; the object store or the disk corrupted them"
                )
            if shipped.kind == "tasks":
                _point_at(target, shipped.origin, final)
            os.replace(staging, home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def _write(shipped: ShippedFiles, target: Path) -> None:
    import ray

    for relative, refs in shipped.files:
        out = target / relative if shipped.is_dir else target
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as handle:
            for ref in refs:
                handle.write(ray.get(ref))  # one chunk in memory at a time
    if shipped.is_dir:
        target.mkdir(parents=True, exist_ok=True)  # an empty folder still lands


def _point_at(folder: Path, origin: str, final: Path) -> None:
    """Task YAML that names the driver's folder names the landed one instead."""
    for file in folder.rglob("*"):
        if file.suffix in _TASK_TEXT_SUFFIXES and file.is_file():
            text = file.read_text()
            if origin in text:
                file.write_text(text.replace(origin, str(final)))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
