"""Ray actors that host ModelWorkers, and a thread-safe pool to lend them out.

Each actor loads one variant once. Ray restarts an actor whose process dies
(``max_restarts``) and retries the call that was in flight
(``max_task_retries``), so a worker killed mid-unit is replaced and its unit
rerun; lm-eval is deterministic under fixed seeds, so the scores match an
undisturbed run.

Why not ``ray.util.ActorPool``: it is driven by one submitting thread, while
here each unit is its own Prefect task running in its own thread. A queue of
idle actors gives the same lending with thread safety.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.cache import UnitOutcome
from evals.edge import EdgeReport
from evals.planning import WorkUnit
from evals.variants import Variant

# Environment every Ray worker process gets: offline, quiet, no telemetry,
# and the Prefect API of the driver, so no worker starts its own Prefect server.
_FORWARDED_ENV = (
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HOME",
    "HF_DATASETS_CACHE",
    "SLMBENCH_HOME",
    "SLMBENCH_CACHE_DIR",
    "SLMBENCH_SANDBOX_ISOLATION",  # the operator's sandbox settings hold where the code runs
    "SLMBENCH_SANDBOX_MIN_ISOLATION",
    "TOKENIZERS_PARALLELISM",
    "RAY_USAGE_STATS_ENABLED",
    "PREFECT_SERVER_ANALYTICS_ENABLED",
    "DO_NOT_TRACK",
)


@dataclass(frozen=True)
class PoolOptions:
    """None means: decide from the Ray cluster when the first actor starts."""

    workers: int | None = None
    threads_per_worker: int | None = None
    use_gpu: bool | None = None
    max_restarts: int = 2

    def resolved(self, weights_bytes: int = 0) -> PoolOptions:
        """Fill in the defaults from the cluster.

        GPUs: one worker per GPU. CPUs: one single-threaded worker per core, as
        many as half the memory holds (a loaded model takes about twice its
        weight files). One thread per worker measured fastest here: on 2 cores
        the offline suite ran 2.1x faster as 2 workers x 1 thread than as
        1 worker x 2 threads (benchmarks/engine_scaling.py).
        """
        import psutil
        import ray

        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", os.cpu_count() or 1))
        use_gpu = bool(gpus) if self.use_gpu is None else self.use_gpu
        if self.workers:
            workers = self.workers
        elif use_gpu:
            workers = gpus
        else:
            per_worker = 2 * weights_bytes + 512 * 2**20
            workers = max(1, min(cpus, int(psutil.virtual_memory().total * 0.5 // per_worker)))
        threads = self.threads_per_worker or (None if use_gpu else max(1, cpus // workers))
        return PoolOptions(workers, threads, use_gpu, self.max_restarts)


def is_transient(error: BaseException) -> bool:
    """An error worth another try: the cluster or the network failed, not the unit itself.

    A worker process that dies is already restarted and its call retried by Ray
    (``max_restarts``/``max_task_retries``); what reaches the caller has outlived that.
    """
    from ray.exceptions import ObjectLostError, RaySystemError

    return isinstance(error, RaySystemError | ObjectLostError | ConnectionError | TimeoutError)


def ensure_ray() -> None:
    """Connect to ``RAY_ADDRESS`` when set, else start a local Ray (dashboard off)."""
    import ray

    if ray.is_initialized():
        return
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    ray.init(
        address=os.environ.get("RAY_ADDRESS"),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": env},
    )


def _weights_bytes(variant: Variant) -> int:
    path = Path(variant.path)
    files = path.rglob("*.safetensors") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files)


class WorkerPool:
    """Actors for one variant, started on first use and lent one unit at a time."""

    def __init__(
        self,
        variant: Variant,
        include_paths: tuple[str, ...],
        include_builtin: bool,
        options: PoolOptions,
        seed: int,
        batch_size: int = 1,
    ) -> None:
        self.variant = variant
        self.include_paths = include_paths
        self.include_builtin = include_builtin
        self.options = options
        self.seed = seed
        self.batch_size = batch_size
        self._idle: queue.Queue[Any] = queue.Queue()
        self._actors: list[Any] = []
        self._lock = threading.Lock()

    def _start_actor(self) -> Any:
        import ray

        from evals.worker import ModelWorker

        threads = self.options.threads_per_worker
        actor_cls = ray.remote(ModelWorker).options(
            num_cpus=threads or 1,
            num_gpus=1 if self.options.use_gpu else 0,
            max_restarts=self.options.max_restarts,
            max_task_retries=self.options.max_restarts,
            # A second slot so a health or pid query is answered while a unit runs;
            # the pool still lends each actor to one unit at a time.
            max_concurrency=2,
        )
        return actor_cls.remote(
            self.variant,
            self.include_paths,
            device="cuda" if self.options.use_gpu else "cpu",
            n_threads=threads,
            seed=self.seed,
            include_builtin_tasks=self.include_builtin,
            batch_size=self.batch_size,
        )

    def _acquire(self) -> Any:
        with self._lock:
            if not self._actors:
                ensure_ray()
                self.options = self.options.resolved(_weights_bytes(self.variant))
            if self._idle.empty() and len(self._actors) < (self.options.workers or 1):
                actor = self._start_actor()
                self._actors.append(actor)
                return actor
        return self._idle.get()

    def run(self, unit: WorkUnit) -> UnitOutcome:
        import ray

        actor = self._acquire()
        try:
            return ray.get(actor.run.remote(unit))
        finally:
            self._idle.put(actor)

    def merge(self, unit: WorkUnit, shards: Sequence[UnitOutcome]) -> UnitOutcome:
        """A sharded task's outcome from its shards', aggregated on one of this variant's actors (evals.sharding)."""
        import ray

        actor = self._acquire()
        try:
            return ray.get(actor.merge.remote(unit, list(shards)))
        finally:
            self._idle.put(actor)

    def measure_edge(self, run_id: str) -> EdgeReport:
        """Edge figures from one of this variant's actors; call it when no unit runs on the node."""
        import ray

        actor = self._acquire()
        try:
            return ray.get(actor.measure_edge.remote(run_id))
        finally:
            self._idle.put(actor)

    def actor_pids(self) -> list[int]:
        """The worker processes (for tests that kill one mid-unit)."""
        import ray

        return ray.get([a.__ray_call__.remote(lambda self: os.getpid()) for a in self._actors])

    def shutdown(self) -> None:
        if not self._actors:
            return  # no actor started (every unit was cached): no need to import Ray
        import ray

        with self._lock:
            for actor in self._actors:
                ray.kill(actor)
            self._actors.clear()
