"""Hostile GGUF files: each fails in milliseconds, at validate and plan time, and leaves nothing behind.

The files are made here from the demo fixtures (patched with ``gguf.GGUFReader`` in ``r+``
mode, the package's own editing path) or written byte by byte: no binary is committed.
The real files (the demo fixtures, stories260K) must keep passing.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gguf
import pytest

from contracts.files import NotARegularFile
from evals.models.gguf_files import GGUFError, inspect_gguf
from flows.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_real_files_pass(demo_models, stories260k_path: Path) -> None:
    for model in demo_models.values():
        for quant, path in model.gguf.items():
            info = inspect_gguf(path)
            assert info.architecture == "llama" and len(info.tensors) == 21
            types = {t.type.name for t in info.tensors}
            assert {"Q4_K_M": "Q4_K"}.get(quant, quant) in types
            assert max(t.offset + t.n_bytes for t in info.tensors) <= info.size
    stories = inspect_gguf(stories260k_path)
    assert stories.version == 3 and stories.architecture == "llama" and len(stories.tensors) == 48


def _source(demo_models) -> bytes:
    return Path(demo_models["demo-trained"].gguf["Q8_0"]).read_bytes()


def _patched(demo_models, tmp_path: Path, edit: Callable[[gguf.GGUFReader], None]) -> Path:
    path = tmp_path / "hostile.gguf"
    path.write_bytes(_source(demo_models))
    reader = gguf.GGUFReader(path, "r+")  # the fixture is trusted: the package's reader may edit it
    edit(reader)
    reader.data.flush()
    del reader
    return path


def _header(version: int, n_tensors: int, n_entries: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_entries)


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def _set_tensor_offset(reader: gguf.GGUFReader) -> None:
    reader.tensors[-1].field.parts[5][0] = 10**12  # the last tensor's data "starts" 1 TB in


def _set_tensor_dims(reader: gguf.GGUFReader) -> None:
    reader.tensors[0].field.parts[3][:] = [2**40, 2**40]


HOSTILE: dict[str, tuple[Callable[[object, Path], Path], str]] = {
    "zero-bytes": (lambda d, t: _write(t, b""), "the file is empty (0 bytes)"),
    "text-renamed-gguf": (
        lambda d, t: _write(t, b"I am a text file, renamed to look like weights.\n" * 40),
        "it starts with b'I am', not the GGUF magic b'GGUF': it is not a GGUF file",
    ),
    "truncated": (
        lambda d, t: _write(t, _source(d)[:300_000]),
        "tensor 'output.weight' (Q8_0, shape [256, 1024]) ends at byte 307,936, past the end of the file (300,000 bytes)",
    ),
    "header-only": (lambda d, t: _write(t, _source(d)[:20]), "the metadata count at byte 16 runs past the end"),
    "tensor-data-past-the-end": (
        lambda d, t: _patched(d, t, _set_tensor_offset),
        "ends at byte 1,000,000,",
    ),
    "absurd-tensor-shape": (
        lambda d, t: _patched(d, t, _set_tensor_dims),
        "claims shape [1099511627776, 1099511627776], more elements than ggml can address",
    ),
    "tensor-larger-than-the-file": (
        lambda d, t: _patched(d, t, lambda r: r.tensors[0].field.parts[3].__setitem__(1, 2**20)),
        "tensor 'output.weight' (Q8_0, shape [256, 1048576]) ends at byte",
    ),
    "absurd-tensor-count": (
        lambda d, t: _write(t, _source(d)[:8] + struct.pack("<Q", 2**62) + _source(d)[16:]),
        "the header claims 4,611,686,018,427,387,904 tensors",
    ),
    "absurd-metadata-count": (
        lambda d, t: _write(t, _source(d)[:16] + struct.pack("<Q", 2**40) + _source(d)[24:]),
        "1,099,511,627,776 metadata entries, more than a file of 1,844,960 bytes can describe",
    ),
    # 2^60 one-byte items past the end: gguf.GGUFReader loops on this until memory runs out
    "absurd-array-length": (
        lambda d, t: _write(t, _header(3, 1, 1) + _string("general.architecture") + struct.pack("<IIQ", 9, 0, 2**60)),
        "metadata 'general.architecture' claims 1,152,921,504,606,846,976 items, more than the file can hold",
    ),
    "absurd-string-length": (
        lambda d, t: _write(t, _header(3, 1, 1) + struct.pack("<Q", 2**63) + b"x" * 64),
        "a metadata key at byte 32 runs past the end of the file (96 bytes)",
    ),
    "unknown-tensor-type": (
        lambda d, t: _patched(d, t, lambda r: r.tensors[0].field.parts[4].__setitem__(0, 999)),
        "tensor 'output.weight' has type 999, which ggml does not define",
    ),
    "no-architecture": (
        lambda d, t: _write(t, _header(3, 0, 1) + _string("general.name") + struct.pack("<I", 8) + _string("x")),
        "it has no general.architecture entry",
    ),
    "future-version": (lambda d, t: _write(t, _header(99, 0, 0)), "GGUF version 99 is not one llama.cpp reads"),
}


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "hostile.gguf"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE)
def test_a_hostile_gguf_is_refused_with_the_reason(case: str, demo_models, tmp_path: Path) -> None:
    make, reason = HOSTILE[case]
    with pytest.raises(GGUFError) as info:
        inspect_gguf(make(demo_models, tmp_path))
    assert reason in str(info.value)


def test_a_fifo_or_a_device_is_never_opened_for_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.gguf")
    (tmp_path / "zero.gguf").symlink_to("/dev/zero")
    for path in (tmp_path / "model.gguf", tmp_path / "zero.gguf"):
        with pytest.raises(NotARegularFile):
            inspect_gguf(path)


def _submission(tmp_path: Path, weights: Path | str, quant: str = "Q8_0", fmt: str = "gguf") -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        f'model:\n  name: "hostile"\n  local_path: "{weights}"\n  parameters: "1.7M"\n'
        f"  quantizations:\n    - {{name: {quant}, format: {fmt}}}\n  categories: [language]\n"
    )
    return path


PLAN_CASES = ("zero-bytes", "text-renamed-gguf", "truncated", "tensor-data-past-the-end")


@pytest.mark.parametrize("case", PLAN_CASES)
def test_validate_plan_and_run_refuse_a_hostile_gguf_and_write_nothing(
    case: str, demo_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make, reason = HOSTILE[case]
    submission = _submission(tmp_path, make(demo_models, tmp_path))
    home = tmp_path / "home"
    monkeypatch.setenv("SLMBENCH_HOME", str(home))

    assert main(["validate", str(submission)]) == 1
    assert (
        f"  - model.local_path: model 'hostile', quantization Q8_0: {tmp_path}/hostile.gguf is not usable GGUF weights: "
        in capsys.readouterr().out
    )
    assert main(["plan", str(submission), "--suite", "offline-quick"]) == 1
    assert reason in capsys.readouterr().err
    run_dir = tmp_path / "run"
    assert main(["run", str(submission), "--output-dir", str(run_dir), "--warehouse", str(tmp_path / "wh")]) == 1
    assert reason in capsys.readouterr().err
    # no run folder, no tables, no digest memo, no task pack, no fixture build
    assert not run_dir.exists() and not (tmp_path / "wh").exists() and not home.exists()


def test_an_unknown_fixture_fails_at_once_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SLMBENCH_HOME", str(home))  # empty: a build would have to start from nothing
    submission = _submission(tmp_path, "fixture://nosuch", quant="FP32", fmt="safetensors")
    assert main(["plan", str(submission), "--suite", "offline-quick"]) == 1
    assert (
        "unknown fixture 'nosuch'; the project builds fixture://demo-trained, fixture://demo-untrained"
        in capsys.readouterr().err
    )
    assert main(["validate", str(submission)]) == 1
    assert "unknown fixture 'nosuch'" in capsys.readouterr().out
    assert not home.exists()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_a_fifo_or_dev_zero_as_local_path_fails_at_once(tmp_path: Path) -> None:
    """In a subprocess with a timeout: a reader that opens a FIFO blocks, one that hashes /dev/zero never ends."""
    os.mkfifo(tmp_path / "fifo.gguf")
    (tmp_path / "zero.gguf").symlink_to("/dev/zero")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    os.mkfifo(folder / "model.safetensors")
    cases = {
        "fifo.gguf": ("Q8_0", "gguf", "is a FIFO (named pipe); only regular files and folders are read"),
        "zero.gguf": ("Q8_0", "gguf", "is a character device; only regular files and folders are read"),
        "folder": (
            "FP32",
            "safetensors",
            "model.safetensors is a FIFO (named pipe); a model folder holds regular files only",
        ),
    }
    env = {**os.environ, "SLMBENCH_HOME": str(tmp_path / "home")}
    for name, (quant, fmt, reason) in cases.items():
        submission = _submission(tmp_path, tmp_path / name, quant, fmt)
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", "plan", str(submission), "--suite", "offline-quick"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_limit_memory,
        )
        assert done.returncode == 1 and reason in done.stderr and "Traceback" not in done.stderr, (
            name,
            done.stderr[-2000:],
        )
