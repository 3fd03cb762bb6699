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

from contracts.backends import BACKENDS

# The libraries whose versions can change a unit's scores, by backend.
_COMMON = ("lm_eval", "datasets")
_RECORDED = ("lm_eval", "torch", "transformers", "llama_cpp_python", "ray", "prefect", "polars", "deltalake")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


@cache
def library_versions(backend: str) -> dict[str, str]:
    """The versions that belong in a unit's cache key for this backend."""
    return {name: _version(name) for name in _COMMON + BACKENDS[backend].libraries}


# Where the code that evaluates a unit starts, relative to the repo root: the worker and unit
# execution, every backend, and the task folders lm-eval loads at run time (our overrides and the
# offline pack's generator). The digest covers these and every module of the repo their imports
# reach (:func:`import_closure`), so no file that can change a score can be left out of the
# unit cache key (``WorkUnit.cache_key``) by a list kept by hand.
ENGINE_ROOTS = (
    "evals/engine/worker.py",
    "evals/engine/execution.py",
    "evals/backends",
    "evals/catalog/overrides",
    "evals/catalog/pack",
    "evals/catalog/task_data.py",  # loads each unit's task at its dataset revision
)
# What decides whether a generated program passes: part of code units' keys only, so the
# engine's closure stops at it (the pack's code task imports it lazily, to run programs).
SANDBOX_ROOTS = ("evals/sandbox",)
REPO_ROOT = Path(__file__).resolve().parent.parent
# The repo's own top-level packages: imports of anything else are libraries, versioned apart.
_FIRST_PARTY = ("evals", "contracts", "tasks", "flows")


def _files_under(root: Path, relative: str) -> list[Path]:
    path = root / relative
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
    return [path]


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(file: Path, root: Path) -> set[str]:
    """Every first-party module ``file`` imports anywhere (lazy imports in functions too), with its parents."""
    package = ".".join(file.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_bytes(), filename=str(file))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's own package upwards
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # ``from a import b``: b may be a submodule of a, or a name in it
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] in _FIRST_PARTY:
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def import_closure(root: Path, roots: tuple[str, ...], stop: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The files at ``roots`` and every repo file their imports reach, transitively; none under ``stop``.

    Read from the syntax trees, so it is computed without importing anything. Package
    ``__init__`` files count, as importing a module runs them.
    """
    stops = tuple(root / s for s in stop)
    seen: set[Path] = set()
    queue = [f for r in roots for f in _files_under(root, r)]
    while queue:
        file = queue.pop()
        if file in seen or any(file.is_relative_to(s) for s in stops):
            continue
        seen.add(file)
        if file.suffix == ".py":
            queue += [m for name in _imported_modules(file, root) if (m := _module_file(root, name)) is not None]
    return tuple(sorted(f.relative_to(root).as_posix() for f in seen))


def engine_sources(root: Path = REPO_ROOT) -> tuple[str, ...]:
    """The files whose code can change any unit's outcome (repo-relative)."""
    return import_closure(root, ENGINE_ROOTS, stop=SANDBOX_ROOTS)


def sandbox_sources(root: Path = REPO_ROOT) -> tuple[str, ...]:
    """The files whose code decides a generated program's verdict (code units only)."""
    return import_closure(root, SANDBOX_ROOTS)


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
        for file in _files_under(root, relative):
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
        return source_digest(REPO_ROOT, engine_sources())
    engine = engine_digest(executes_code=False)
    return hashlib.sha256(f"{engine}+{source_digest(REPO_ROOT, sandbox_sources())}".encode()).hexdigest()


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
