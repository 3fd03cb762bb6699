"""Library versions and the machine a number was measured on (provenance)."""

from __future__ import annotations

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
