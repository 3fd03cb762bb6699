"""Library versions, the digest of our own engine code, and the machine a number was measured on (provenance)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

# The libraries whose versions can change a unit's scores, by backend.
_COMMON = ("lm_eval", "datasets")
_BY_BACKEND = {
    "transformers": ("torch", "transformers", "accelerate", "tokenizers"),
    "llamacpp": ("llama_cpp_python",),
}
_RECORDED = ("lm_eval", "torch", "transformers", "llama_cpp_python", "ray", "prefect", "polars", "deltalake")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def library_versions(backend: str) -> dict[str, str]:
    """The versions that belong in a unit's cache key for this backend."""
    return {name: _version(name) for name in _COMMON + _BY_BACKEND.get(backend, ())}


# Our own code that can change a unit's outcome, relative to the repo root: what loads and runs
# the model, how a unit is evaluated and filed, the task overrides and the offline pack's generator.
# Part of every unit's cache key (``WorkUnit.cache_key``), so an edit to any of it misses the cache.
ENGINE_SOURCES = (
    "evals/backends",
    "evals/engine/worker.py",
    "evals/engine/execution.py",
    "evals/engine/cache.py",
    "evals/catalog/overrides",
    "evals/catalog/pack",
    "evals/catalog/task_data.py",  # loads each unit's task at its dataset revision
)
# What decides whether a generated program passes: part of code units' keys only.
SANDBOX_SOURCES = ("evals/sandbox/launcher.py",)
REPO_ROOT = Path(__file__).resolve().parent.parent


def source_digest(root: Path, sources: tuple[str, ...]) -> str:
    """sha256 over the code under ``root`` at ``sources`` (files, or folders taken whole).

    Python files count by their syntax tree without docstrings, so a comment, a
    docstring or a reformat leaves the digest (and hours of cached units) alone,
    while any change to what the code does changes it. Other files (task YAML,
    templates) count by their bytes. Each file enters with its path, so a rename
    or a new file changes the digest too.
    """
    digest = hashlib.sha256()
    for relative in sources:
        path = root / relative
        files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        for file in files if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(_code_bytes(file) + b"\0")
    return digest.hexdigest()


def _code_bytes(file: Path) -> bytes:
    data = file.read_bytes()
    if file.suffix != ".py":
        return data
    tree = ast.parse(data, filename=str(file))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False).encode()


@cache
def engine_digest(executes_code: bool = False) -> str:
    """The digest of this checkout's engine code (once per process); with the sandbox's for code units."""
    if not executes_code:
        return source_digest(REPO_ROOT, ENGINE_SOURCES)
    engine = engine_digest(executes_code=False)
    return hashlib.sha256(f"{engine}+{source_digest(REPO_ROOT, SANDBOX_SOURCES)}".encode()).hexdigest()


@cache
def recorded_versions() -> dict[str, str]:
    """The versions recorded with every run."""
    return {name: _version(name) for name in _RECORDED}


@cache
def repo_commit() -> str:
    """This repo's commit, with ``-dirty`` when the working tree has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def hardware_profile() -> dict[str, object]:
    """CPU, memory, OS and GPU of this process's machine."""
    import psutil

    profile: dict[str, object] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": None,
    }
    if not _has_gpu_driver():
        return profile  # no GPU to ask torch about: spare the run its 2-second import
    try:
        import torch

        if torch.cuda.is_available():
            profile["gpu"] = torch.cuda.get_device_name(0)
            profile["gpu_count"] = torch.cuda.device_count()
            profile["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return profile


def _has_gpu_driver() -> bool:
    """Whether an NVIDIA (CUDA) or AMD (ROCm) GPU driver is loaded: torch can see a GPU only then."""
    return any(Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd"))


def hardware_json() -> str:
    return json.dumps(hardware_profile(), sort_keys=True)
