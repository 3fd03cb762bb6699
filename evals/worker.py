"""ModelWorker: loads one model variant once, then evaluates many units.

A plain class, so a notebook or a test can use it directly; ``evals.pool``
runs it as a Ray actor. It holds a model, not decisions: which units it gets
and what happens to their results is up to the caller.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.backends.spec import BackendSpec
from evals.cache import UnitOutcome
from evals.edge import EdgeReport
from evals.planning import WorkUnit
from evals.sandbox import require_isolation
from evals.shipping import Shipment, current_node
from evals.variants import Variant

if TYPE_CHECKING:
    from lm_eval.api.model import LM


def backend_spec(variant: Variant, *, device: str, n_threads: int | None, seed: int) -> BackendSpec:
    """How to load a variant on this worker."""
    return BackendSpec(
        backend=variant.backend,
        path=Path(variant.path),
        dtype=variant.dtype if variant.backend == "transformers" else None,
        device=device,  # type: ignore[arg-type]
        n_threads=n_threads,
        seed=seed,
    )


class ModelWorker:
    """Evaluates units of one variant with lm-eval's ``simple_evaluate``."""

    def __init__(
        self,
        variant: Variant,
        include_paths: tuple[str, ...],
        *,
        device: str = "cpu",
        n_threads: int | None = None,
        seed: int = 1234,
        include_builtin_tasks: bool = False,
        shipment: Shipment | None = None,
    ) -> None:
        """Cheap: the model loads on first use (:attr:`lm`), so a Ray actor answers ``node_id`` as
        soon as it is placed and the pool knows at once which node holds it."""
        self.variant = variant
        self.include_paths = include_paths
        self.include_builtin_tasks = include_builtin_tasks
        self.load_s: float | None = None
        self._load_args = (device, n_threads, seed, shipment)
        self._lm: LM | None = None
        self._loading = threading.Lock()
        self._task_manager: Any = None

    @property
    def lm(self) -> LM:
        """The loaded model, loaded once: from the driver's paths, or (on another node) from what was shipped."""
        with self._loading:
            if self._lm is None:
                from evals.backends import load_backend

                device, n_threads, seed, shipment = self._load_args
                started = time.perf_counter()
                if n_threads is not None:
                    import torch

                    # One fixed thread count per worker, so workers share cores evenly.
                    torch.set_num_threads(n_threads)
                weights = Path(self.variant.path)
                if shipment is not None and shipment.applies_here():  # another node: the driver's paths are not here
                    weights, self.include_paths = shipment.land()
                located = replace(self.variant, path=str(weights))
                self._lm = load_backend(backend_spec(located, device=device, n_threads=n_threads, seed=seed))
                self.load_s = time.perf_counter() - started
            return self._lm

    def task_manager(self) -> Any:
        if self._task_manager is None:
            from lm_eval.tasks import TaskManager

            self._task_manager = TaskManager(
                include_path=list(self.include_paths) or None, include_defaults=self.include_builtin_tasks
            )
        return self._task_manager

    def run(self, unit: WorkUnit) -> UnitOutcome:
        from lm_eval import simple_evaluate

        if unit.variant.variant_id != self.variant.variant_id:
            raise ValueError(
                f"unit {unit.name} is for {unit.variant.variant_id}, this worker holds {self.variant.variant_id}"
            )
        # Refuse before generating anything where the sandbox is weaker than the operator accepts.
        isolation = require_isolation().mode if unit.executes_code else None
        lm = self.lm  # loaded (and its task folders landed) before the task manager reads them
        started = time.perf_counter()
        out = simple_evaluate(
            model=lm,
            tasks=[unit.subtask],
            num_fewshot=unit.num_fewshot,
            limit=unit.limit,
            task_manager=self.task_manager(),
            log_samples=True,
            random_seed=unit.seed,
            numpy_random_seed=unit.seed,
            torch_random_seed=unit.seed,
            fewshot_random_seed=unit.seed,
        )
        if out is None:
            raise RuntimeError(f"lm-eval returned no results for {unit.name}")
        samples = out.pop("samples", {}).get(unit.subtask, [])
        # A JSON round trip: plain data crosses process boundaries and files alike.
        results = json.loads(json.dumps(out, default=str))
        samples = json.loads(json.dumps(samples, default=str))
        return UnitOutcome(
            results, samples, time.perf_counter() - started, sandbox_isolation=isolation, node=current_node()
        )

    def measure_edge(
        self, run_id: str, *, prompt_tokens: int = 512, gen_tokens: int = 128, repetitions: int = 5
    ) -> EdgeReport:
        """Edge figures of this worker's variant (``evals.edge``) as EDGE rows, each naming its hardware profile.

        Call it on an actor that has its node to itself: no other unit may run
        there meanwhile, or the figures measure the contention.
        """
        from evals.edge import edge_rows, hardware_profile, measure_edge

        measurement = measure_edge(self.lm, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, repetitions=repetitions)
        profile = hardware_profile(measurement.device, measurement.threads)
        rows = edge_rows(run_id, self.variant.variant_id, measurement, profile)
        return EdgeReport(self.variant.variant_id, tuple(rows.to_dicts()))

    def ping(self) -> str:
        return self.variant.variant_id

    def node_id(self) -> str | None:
        """The Ray node this worker runs on (None outside Ray)."""
        return current_node()
