"""Edge figures reused across runs: the same weights, measured the same way, on the same machine.

Measuring a variant's edge figures means starting Ray, loading the model and
timing it, seconds per variant even when every unit of the run is cached. The
figures describe the weights and the machine, so a later run of the same
weights on the same machine reuses them instead, and says so: each reused row
names the run that measured it (``measured_in_run``), and the run summary
labels the figures as reused.

The key holds everything that decides the figures: the weights digest, the
backend, its precision and library versions, the measurement's settings, the
worker options asked for (they set the measuring worker's threads), and this
machine's fingerprint (host name, CPU model and count, memory, GPUs). A run on
a Ray cluster (``RAY_ADDRESS``) always measures: which node measures is not
known before the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path

from evals import paths
from evals.edge.measurement import EdgeReport
from evals.models.variants import Variant
from evals.provenance import hardware_profile, library_versions

# Bump when evals.edge.measurement measures differently (settings, method).
EDGE_METHOD_VERSION = "1"


def edge_key(variant: Variant, workers: int | None, threads_per_worker: int | None) -> str | None:
    """The key of a variant's figures measured here, or None where figures must be measured (a cluster)."""
    if os.environ.get("RAY_ADDRESS"):
        return None
    key = {
        "method": EDGE_METHOD_VERSION,
        "weights": variant.weights_digest,
        "backend": variant.backend,
        "quantization": variant.quantization,
        "dtype": variant.dtype,
        "versions": library_versions(variant.backend),
        "workers": workers,
        "threads_per_worker": threads_per_worker,
        "machine": {**hardware_profile(), "host": platform.node()},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class EdgeStore:
    """Edge rows of earlier runs by key (``<cache>/edge/<key>.json``), written atomically."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or paths.cache_dir()) / "edge"

    def get(self, key: str | None, run_id: str, variant_id: str) -> EdgeReport | None:
        """The stored figures as this run's rows of ``variant_id`` (naming the run that measured them), or None."""
        if key is None:
            return None
        try:
            stored = json.loads((self.root / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        measured_in = stored["run_id"]
        rows = tuple(
            {**row, "run_id": run_id, "variant_id": variant_id, "measured_in_run": measured_in}
            for row in stored["rows"]
        )
        return EdgeReport(variant_id, rows, reused_from=measured_in)

    def put(self, key: str | None, report: EdgeReport, run_id: str) -> None:
        """Keep figures this run measured (never failed or reused ones)."""
        if key is None or report.error or report.reused_from or not report.rows:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".edge-", dir=self.root)
        with os.fdopen(fd, "w") as out:
            json.dump({"run_id": run_id, "rows": list(report.rows)}, out, default=str)
        os.replace(tmp, self.root / f"{key}.json")
