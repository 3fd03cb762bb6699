"""Content-addressed store of unit outcomes.

A unit's outcome is stored under its cache key (weights digest, variant, task
config hash, library versions, limit, few-shot, seed: see
``WorkUnit.cache_key``). lm-eval's own request cache is keyed by prompt, not
by model, so it is never used. Entries are written to a temporary folder and
renamed into place, so a crash never leaves half an entry.

Each entry's ``unit.json`` holds the sha256 of its results and samples files,
checked whenever the entry is looked up: an entry whose files were edited or
corrupted after it was written (or one without digests) is moved aside and its
unit evaluated again, never served. The digests are not a signature: whoever can
write the cache can write a matching digest, and then the run's contracts tie
every score to its items (``contracts.agreement``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals import paths

RESULTS = "results.json"
SAMPLES = "samples.jsonl"
META = "unit.json"
DIGESTS = "sha256"  # the key in META: file name -> sha256 of its bytes
DIGESTED = (RESULTS, SAMPLES)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitOutcome:
    """What evaluating a unit produced: lm-eval's results (without samples) and the samples."""

    results: dict[str, Any]
    samples: list[dict[str, Any]]
    duration_s: float
    sandbox_isolation: str | None = None  # the sandbox mode its generated programs ran under; None: it ran none
    worker: str | None = None  # "<host>:<pid>" of the worker process that evaluated it (None: merged from shards)
    started_at: float | None = None  # when that worker started it (seconds since the epoch)
    node: str | None = None  # the Ray node that evaluated it (None outside Ray)


class UnitCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.cache_dir()

    def _dir(self, key: str) -> Path:
        return self.root / "units" / key[:2] / key

    def get(self, key: str) -> Path | None:
        """The entry stored under ``key``, when it is complete and its files are as written; else None."""
        entry = self._dir(key)
        if not (entry / META).exists():
            return None
        if (problem := entry_problem(entry)) is None:
            return entry
        aside = entry.with_name(f".corrupt-{key[:16]}-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(entry, aside)
        except OSError:  # another worker moved it first
            pass
        log.warning("cache entry %s %s: moved aside to %s, its unit is evaluated again", key[:16], problem, aside.name)
        return None

    def put(self, key: str, outcome: UnitOutcome, meta: dict[str, Any]) -> Path:
        final = self._dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=final.parent))
        write_outcome(staging, outcome, meta)
        try:
            os.replace(staging, final)
        except OSError:
            # Another worker stored the same key first; both are the same content.
            shutil.rmtree(staging, ignore_errors=True)
        return final


def write_outcome(folder: Path, outcome: UnitOutcome, meta: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS).write_text(json.dumps(outcome.results, indent=1, sort_keys=True, default=str))
    with (folder / SAMPLES).open("w") as out:
        for sample in outcome.samples:
            out.write(json.dumps(sample, sort_keys=True, default=str) + "\n")
    # META last: its presence marks a complete entry, and it holds the digests of the files above.
    (folder / META).write_text(
        json.dumps(
            {
                **meta,
                DIGESTS: {name: _sha256(folder / name) for name in DIGESTED},
                "duration_s": outcome.duration_s,
                "sandbox_isolation": outcome.sandbox_isolation,
                "worker": outcome.worker,
                "started_at": outcome.started_at,
                "node": outcome.node,
            },
            indent=1,
            sort_keys=True,
            default=str,
        )
    )


def entry_problem(folder: Path) -> str | None:
    """What is wrong with a stored entry's files (None: each is as its digest says)."""
    try:
        digests = read_meta(folder).get(DIGESTS)
    except (OSError, ValueError):
        return "has an unreadable unit.json"
    if not isinstance(digests, dict):
        return "has no digests of its files"
    for name in DIGESTED:
        try:
            found = _sha256(folder / name)
        except OSError:
            return f"lacks {name}"
        if found != digests.get(name):
            return (
                f"has a {name} that is not the one stored (sha256 {found[:12]}, stored {str(digests.get(name))[:12]})"
            )
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_results(folder: Path) -> dict[str, Any]:
    return json.loads((folder / RESULTS).read_text())


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / META).read_text())


def read_outcome(folder: Path) -> UnitOutcome:
    """The outcome stored in an entry (or a unit folder of a run)."""
    meta = read_meta(folder)
    with (folder / SAMPLES).open() as lines:
        samples = [json.loads(line) for line in lines if line.strip()]
    return UnitOutcome(
        read_results(folder),
        samples,
        float(meta.get("duration_s") or 0.0),
        sandbox_isolation=meta.get("sandbox_isolation"),
        worker=meta.get("worker"),
        started_at=meta.get("started_at"),
    )
