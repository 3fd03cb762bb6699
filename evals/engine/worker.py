"""ModelWorker: loads one model variant once, then evaluates many units.

A plain class, so a notebook or a test can use it directly; ``evals.cluster.pool``
runs it as a Ray actor. It holds a model, not decisions: which units it gets
and what happens to their results is up to the caller.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.backends import BACKENDS
from contracts.tables import SANDBOX_ISOLATIONS
from evals.backends.spec import BackendSpec
from evals.cluster.shipping import Shipment, current_node
from evals.edge.measurement import EdgeReport
from evals.engine import sharding
from evals.engine.cache import UnitOutcome
from evals.models.variants import Variant
from evals.plan.units import WorkUnit
from evals.provenance import engine_digest
from evals.sandbox import require_isolation

if TYPE_CHECKING:
    from lm_eval.api.model import LM


def backend_spec(
    variant: Variant, *, device: str, n_threads: int | None, seed: int, batch_size: int = 1
) -> BackendSpec:
    """How to load a variant on this worker."""
    return BackendSpec(
        backend=variant.backend,
        path=Path(variant.path),
        dtype=variant.dtype if BACKENDS[variant.backend].takes_dtype else None,
        device=device,  # type: ignore[arg-type]
        n_threads=n_threads,
        seed=seed,
        batch_size=batch_size,
    )


def environment_info_once(known: dict[str, Any] | None = None) -> None:
    """Make lm-eval describe this process's environment once, not on every ``simple_evaluate``.

    lm-eval adds an environment report to every result (``add_env_info``: torch's
    ``collect_env``, which runs ``pip list``), 1-2 s of each unit's time however small the
    unit. The report cannot change within a worker process, so the first one is kept and
    copied into every later result. ``known``: the report the driver made of the same Python
    on the same node (:func:`environment_report`), used as it is.
    """
    import lm_eval.evaluator as evaluator

    if getattr(evaluator.add_env_info, "computed_once", False):
        return
    compute = evaluator.add_env_info
    report: dict[str, Any] = dict(known or {})

    def add_env_info(storage: dict[str, Any]) -> None:
        if not report:
            compute(report)
        storage.update(report)

    add_env_info.computed_once = True  # type: ignore[attr-defined]
    evaluator.add_env_info = add_env_info


_REPORT: dict[str, Any] = {}
_REPORT_LOCK = threading.Lock()


def environment_report() -> dict[str, Any]:
    """lm-eval's environment report of this process's Python and packages, made once per process.

    The driver makes it for the workers on its own node, which run the same Python: a worker
    there then imports neither torch nor transformers only to describe them (1.6 s of CPU
    each; a llama.cpp worker needs neither otherwise).
    """
    with _REPORT_LOCK:
        if not _REPORT:
            from lm_eval.loggers.utils import add_env_info

            add_env_info(_REPORT)
        return dict(_REPORT)


def prepare_environment_report() -> None:
    """:func:`environment_report` in a thread of its own, so it is ready when the first actor starts."""
    threading.Thread(target=environment_report, name="environment-report", daemon=True).start()


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
        batch_size: int = 1,
        shipment: Shipment | None = None,
        environment: dict[str, Any] | None = None,
    ) -> None:
        """Cheap: the model loads on first use (:attr:`lm`), so a Ray actor answers ``node_id`` as
        soon as it is placed and the pool knows at once which node holds it.

        ``environment``: the driver's :func:`environment_report`, used on the driver's node only.
        """
        # evaluate's code_eval (lm-eval's own HumanEval/MBPP metric) runs model output in this process when
        # this is "1"; our code tasks run it in evals.sandbox, so nothing here may switch it on.
        os.environ["HF_ALLOW_CODE_EVAL"] = "0"
        self.variant = variant
        self.include_paths = include_paths
        self.include_builtin_tasks = include_builtin_tasks
        self.batch_size = batch_size
        self.load_s: float | None = None
        self._load_args = (device, n_threads, seed, shipment)
        self._weights: Path | None = None  # on this node: landed by _land
        self._lm: LM | None = None
        self._loading = threading.Lock()
        self._task_manager: Any = None
        on_driver_node = shipment is None or not shipment.applies_here()
        environment_info_once(environment if on_driver_node else None)

    def _land(self) -> Path:
        """The weights path on this node, once: the driver's own, or (on another node) what was shipped,
        with the task folders landed beside them (``include_paths`` then names the landed copies)."""
        if self._weights is None:
            shipment = self._load_args[3]
            if shipment is not None and shipment.applies_here():  # another node: the driver's paths are not here
                self._weights, self.include_paths = shipment.land()
            else:
                self._weights = Path(self.variant.path)
        return self._weights

    @property
    def lm(self) -> LM:
        """The loaded model, loaded once."""
        with self._loading:
            if self._lm is None:
                from evals.backends import load_backend

                device, n_threads, seed, _ = self._load_args
                started = time.perf_counter()
                if n_threads is not None:
                    # One fixed thread count per worker, so workers share cores evenly (llama.cpp takes
                    # n_threads itself, and its workers never import torch).
                    os.environ["OMP_NUM_THREADS"] = str(n_threads)
                    if BACKENDS[self.variant.backend].uses_torch:
                        import torch

                        torch.set_num_threads(n_threads)
                located = replace(self.variant, path=str(self._land()))
                self._lm = load_backend(
                    backend_spec(located, device=device, n_threads=n_threads, seed=seed, batch_size=self.batch_size)
                )
                self.load_s = time.perf_counter() - started
            return self._lm

    def task_manager(self) -> Any:
        with self._loading:
            self._land()  # the task folders this node reads
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
        if unit.batch_size != self.batch_size:
            raise ValueError(
                f"unit {unit.name} is planned at batch size {unit.batch_size}, this worker runs {self.batch_size}"
            )
        # The unit's cache key names the code that evaluates it: this worker's must be that code.
        if unit.code_digest and unit.code_digest != engine_digest(unit.executes_code):
            raise RuntimeError(
                f"unit {unit.name}: this worker's engine code differs from the planner's (evals.provenance."
                "engine_digest); run the same checkout on every node"
            )
        # Refuse before generating anything where the sandbox is weaker than the operator accepts.
        isolation = require_isolation().mode if unit.executes_code else None
        lm = self.lm  # loaded before the clock starts
        started_at, started = time.time(), time.perf_counter()
        task: Any = unit.subtask
        if unit.dataset_revision is not None:  # its hub data at the commit the plan located (and keyed)
            task = self._load_task(unit.subtask, unit.dataset_revision)
        if unit.docs is not None:  # a shard: lm-eval's own selection of its documents (evals.engine.sharding)
            task = sharding.replaying_fewshot(self._load_task(unit.subtask, unit.dataset_revision), unit.docs[0])
        out = simple_evaluate(
            model=lm,
            tasks=[task],
            num_fewshot=unit.num_fewshot,
            limit=unit.limit if unit.docs is None else None,
            samples=None if unit.docs is None else {unit.subtask: range(*unit.docs)},
            task_manager=self.task_manager(),
            log_samples=True,
            # lm-eval's own chat template handling; the backend renders the template (none: plain prompts)
            **unit.variant.chat_options(),
            random_seed=unit.seed,
            numpy_random_seed=unit.seed,
            # torch seeds nothing on llama.cpp, and lm-eval imports torch to seed it (1 s, 0.3 GB per worker)
            torch_random_seed=unit.seed if BACKENDS[unit.variant.backend].uses_torch else None,
            fewshot_random_seed=unit.seed,
            # Never: a task marked unsafe_code would run model output here, outside evals.sandbox. Planning
            # refuses such tasks (evals.catalog.checks); lm-eval's own refusal is the second line.
            confirm_run_unsafe_code=False,
        )
        if out is None:
            raise RuntimeError(f"lm-eval returned no results for {unit.name}")
        samples = out.pop("samples", {}).get(unit.subtask, [])
        # A JSON round trip: plain data crosses process boundaries and files alike.
        results = json.loads(json.dumps(out, default=sharding.plain))
        samples = json.loads(json.dumps(samples, default=sharding.plain))
        return UnitOutcome(
            results,
            samples,
            time.perf_counter() - started,
            sandbox_isolation=isolation,
            worker=self.worker_id,
            started_at=started_at,
            node=current_node(),
        )

    def merge(self, unit: WorkUnit, shards: Sequence[UnitOutcome]) -> UnitOutcome:
        """The whole task's outcome from its shards' (in document order), aggregated by lm-eval (evals.engine.sharding)."""
        results, samples = sharding.merge(
            self._load_task(unit.subtask, unit.dataset_revision),
            unit.subtask,
            [(s.results, s.samples) for s in shards],
            unit.limit,
        )
        modes = [s.sandbox_isolation for s in shards if s.sandbox_isolation is not None]
        return UnitOutcome(
            results,
            samples,
            sum(s.duration_s for s in shards),
            sandbox_isolation=max(modes, key=SANDBOX_ISOLATIONS.index) if modes else None,  # the weakest
        )

    def _load_task(self, name: str, revision: str | None = None) -> Any:
        """A fresh lm-eval task object (its data loaded, at ``revision`` for hub data), as ``simple_evaluate`` would load it."""
        from evals.catalog.task_data import load_task

        return load_task(self.task_manager(), name, revision)

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def measure_edge(
        self, run_id: str, *, prompt_tokens: int = 512, gen_tokens: int = 128, repetitions: int = 5
    ) -> EdgeReport:
        """Edge figures of this worker's variant (``evals.edge.measurement``) as EDGE rows, each naming its hardware profile.

        Call it on an actor that has its node to itself: no other unit may run
        there meanwhile, or the figures measure the contention.
        """
        from evals.edge.measurement import edge_rows, hardware_profile, measure_edge

        measurement = measure_edge(self.lm, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, repetitions=repetitions)
        profile = hardware_profile(measurement.device, measurement.threads)
        rows = edge_rows(run_id, self.variant.variant_id, measurement, profile)
        return EdgeReport(self.variant.variant_id, tuple(rows.to_dicts()))

    def ping(self) -> str:
        return self.variant.variant_id

    def node_id(self) -> str | None:
        """The Ray node this worker runs on (None outside Ray)."""
        return current_node()
