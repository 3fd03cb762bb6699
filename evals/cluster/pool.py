"""Ray actors that host ModelWorkers, and a thread-safe pool to lend them out.

Each actor loads one variant once. Ray restarts an actor whose process dies
(``max_restarts``) and retries the call that was in flight
(``max_task_retries``), so a worker killed mid-unit is replaced and its unit
rerun; lm-eval is deterministic under fixed seeds, so the scores match an
undisturbed run. A unit that runs past its wall-clock limit
(``evals.engine.time_limits``, from its estimated cost) fails with
:class:`~evals.engine.time_limits.UnitTimedOut`: its actor is killed and a new one
takes its place for the next unit, so the run goes on.

Why not ``ray.util.ActorPool``: it is driven by one submitting thread, while
here each unit is its own Prefect task running in its own thread. A queue of
idle actors gives the same lending with thread safety.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.cluster.shipping import Shipment, cluster_spans_nodes, driver_node, ship, uses_ray_client
from evals.edge.measurement import EdgeReport
from evals.engine.cache import UnitOutcome
from evals.engine.time_limits import UnitTimedOut, UnitTimeLimit
from evals.models.variants import Variant
from evals.plan.units import WorkUnit

# Environment every Ray worker process gets: offline, quiet, no telemetry,
# and the Prefect API of the driver, so no worker starts its own Prefect server.
# Settings only, never paths: a worker on another node has a disk of its own
# (HF_HOME, SLMBENCH_HOME and the like are set on each node; evals.cluster.shipping).
_FORWARDED_ENV = (
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
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


class ActorLost(RuntimeError):
    """A worker went away with its node (or for good) while it held a unit; the unit can run on another."""


def is_transient(error: BaseException) -> bool:
    """An error worth another try: the cluster or the network failed, not the unit itself.

    A worker process that dies is already restarted and its call retried by Ray
    (``max_restarts``/``max_task_retries``); what reaches the caller has outlived that,
    or lost its node (:class:`ActorLost`).
    """
    from ray.exceptions import ObjectLostError, RaySystemError

    return isinstance(error, ActorLost | RaySystemError | ObjectLostError | ConnectionError | TimeoutError)


# Ray Client connects tried before giving up (see ensure_ray).
CLIENT_CONNECT_ATTEMPTS = 3


def ensure_ray(num_gpus: int | None = None) -> None:
    """Connect to ``RAY_ADDRESS`` when set, else start a local Ray (dashboard off).

    ``num_gpus`` caps the GPUs a local Ray offers (0: a CPU-only run on a GPU machine); None lets Ray detect them.
    """
    import ray

    if ray.is_initialized():
        return
    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    address = os.environ.get("RAY_ADDRESS")
    for attempt in range(1, CLIENT_CONNECT_ATTEMPTS + 1):
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"env_vars": env},
                **({"num_gpus": num_gpus} if num_gpus is not None and not address else {}),
            )
            return
        except ConnectionAbortedError as exc:
            # Ray Client's per-driver server on the head sometimes dies as it is forked (ray-project/ray#63202,
            # open): the proxier reports "Initialization failure from server". A new connection gets a new one.
            if not uses_ray_client() or attempt == CLIENT_CONNECT_ATTEMPTS:
                raise
            print(f"[ray] connecting to {address} failed ({str(exc).splitlines()[0]}); trying again ({attempt})")
            time.sleep(attempt)


def release_ray() -> None:
    """Leave Ray now (stopping the local Ray this process started), not in Ray's exit hook.

    The hook first sleeps half a second so that workers' log lines reach the console; this
    process takes none (``log_to_driver=False``).
    """
    if "ray" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        ray.shutdown()


def weights_bytes(variant: Variant) -> int:
    path = Path(variant.path)
    files = path.rglob("*.safetensors") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files)


class WorkerPool:
    """Actors for one variant, started on first use and lent one unit at a time.

    Actors are spread over the cluster's nodes (Ray's ``SPREAD`` scheduling
    strategy, one actor at a time as the pool grows: a pool needs no gang of
    actors placed together, and an actor Ray restarts after a crash may land on
    any node with room). On a cluster of several nodes, the actors on other nodes
    get the weights and task folders through the object store (``evals.cluster.shipping``).

    A unit whose actor loses its node is not left waiting for Ray to restart the
    actor somewhere (with the node gone there may be no room for it): the actor is
    dropped, and the unit fails with :class:`ActorLost`, which the caller retries
    on the pool's other actors. The pool then keeps one actor fewer (at least one).
    """

    # How often a waiting unit checks that its actor's node is still in the cluster.
    NODE_CHECK_S = 2.0
    # How long an actor that never said where it runs may stay silent after a node died.
    NODE_GRACE_S = 30.0

    def __init__(
        self,
        variant: Variant,
        include_paths: tuple[str, ...],
        include_builtin: bool,
        options: PoolOptions,
        seed: int,
        batch_size: int = 1,
        units: int | None = None,
        keep_one: bool = False,
        time_limit: UnitTimeLimit | None = None,
    ) -> None:
        """``units``: how many units the pool will run, when known; after the last one it keeps one
        actor (``keep_one``, for the edge unit) or none, and frees the rest of its share of the cluster.
        ``time_limit``: each unit's wall-clock limit from its cost (default: ``SLMBENCH_UNIT_TIME_SCALE``)."""
        self.variant = variant
        self.time_limit = time_limit or UnitTimeLimit.from_env()
        self._units_left = units
        self._keep = 1 if keep_one else 0
        self.include_paths = include_paths
        self.include_builtin = include_builtin
        self.options = options
        self.seed = seed
        self.batch_size = batch_size
        self._idle: queue.Queue[Any] = queue.Queue()
        self._actors: list[Any] = []
        self._nodes: dict[Any, Any] = {}  # actor -> its node id, or the pending reply that tells it
        self._dead_at_start: dict[Any, set[str]] = {}  # actor -> the nodes already dead when it was started
        self._silent_since: dict[Any, float] = {}
        self._lost = 0
        self._shipment: Shipment | None = None
        self._lock = threading.Lock()

    def _start_actor(self) -> Any:
        import ray

        from evals.engine.worker import ModelWorker, environment_report

        threads = self.options.threads_per_worker
        actor_cls = ray.remote(ModelWorker).options(
            num_cpus=threads or 1,
            num_gpus=1 if self.options.use_gpu else 0,
            max_restarts=self.options.max_restarts,
            max_task_retries=self.options.max_restarts,
            # A second slot so a health or pid query is answered while a unit runs;
            # the pool still lends each actor to one unit at a time.
            max_concurrency=2,
            scheduling_strategy="SPREAD",
        )
        actor = actor_cls.remote(
            self.variant,
            self.include_paths,
            device="cuda" if self.options.use_gpu else "cpu",
            n_threads=threads,
            seed=self.seed,
            include_builtin_tasks=self.include_builtin,
            batch_size=self.batch_size,
            shipment=self._ship(),
            # the driver's report describes its own node; a Ray Client driver is on none
            environment=environment_report() if driver_node() is not None else None,
        )
        self._nodes[actor] = actor.node_id.remote()
        self._dead_at_start[actor] = {n["NodeID"] for n in ray.nodes() if not n["Alive"]}
        return actor

    def _ship(self) -> Shipment | None:
        """The weights and task folders in the object store, once per pool, when another node may need them."""
        if self._shipment is None and cluster_spans_nodes():
            tasks = tuple(ship(Path(p), "tasks") for p in self.include_paths)
            weights = ship(Path(self.variant.path), "weights", self.variant.weights_digest)
            self._shipment = Shipment(driver_node(), weights, tasks)
        return self._shipment

    def _acquire(self) -> Any:
        with self._lock:
            if not self._actors:
                ensure_ray()
                sized = bool(self.options.workers)  # by placement, which measured the weights already
                self.options = self.options.resolved(0 if sized else weights_bytes(self.variant))
            capacity = max(1, (self.options.workers or 1) - self._lost)
            if self._idle.empty() and len(self._actors) < capacity:
                actor = self._start_actor()
                self._actors.append(actor)
                return actor
        return self._idle.get()

    def _call(self, actor: Any, method: str, *args: Any, limit_s: float | None = None, why: str = "") -> Any:
        """``actor.method(*args)``, lending the actor for the call; raises :class:`ActorLost` if it goes away.

        ``limit_s``: the call's wall-clock limit, counted from when the actor is placed on a node (a
        cluster may take a while to find room for it); past it the actor is killed and replaced, and
        :class:`UnitTimedOut` says ``why``.
        """
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError

        reply = getattr(actor, method).remote(*args)
        started = time.monotonic()
        try:
            while not ray.wait([reply], timeout=self.NODE_CHECK_S)[0]:
                if self._node_gone(actor):
                    raise ActorLost(f"the node of a {self.variant.variant_id} worker left the cluster mid-call")
                if limit_s is None:
                    continue
                if isinstance(self._nodes.get(actor), ray.ObjectRef):
                    started = time.monotonic()  # not placed yet: its clock has not started
                elif time.monotonic() - started > limit_s:
                    self._replace(actor)
                    raise UnitTimedOut(why)
            result = ray.get(reply)
        except UnitTimedOut:
            raise
        except (ActorLost, ActorDiedError, ActorUnavailableError) as exc:
            self._drop(actor)
            if isinstance(exc, ActorLost):
                raise
            raise ActorLost(f"a {self.variant.variant_id} worker died: {exc}") from exc
        except BaseException:
            self._idle.put(actor)  # the unit failed, not the actor
            raise
        self._idle.put(actor)
        return result

    def _node_gone(self, actor: Any) -> bool:
        import ray

        nodes = ray.nodes()
        dead = {n["NodeID"] for n in nodes if not n["Alive"]}
        node = self._nodes.get(actor)
        if isinstance(node, ray.ObjectRef):
            if not ray.wait([node], timeout=0)[0]:
                # It has not said where it is: not placed yet (a placed actor answers at once, its
                # constructor is cheap), or placed on a node that died before it could answer. Once a
                # node has died since the actor was started, silence for NODE_GRACE_S counts as lost.
                if not dead - self._dead_at_start.get(actor, set()):
                    return False
                silent_since = self._silent_since.setdefault(actor, time.monotonic())
                return time.monotonic() - silent_since > self.NODE_GRACE_S
            node = self._nodes[actor] = ray.get(node)
        return not any(n["NodeID"] == node and n["Alive"] for n in nodes)

    def _drop(self, actor: Any) -> None:
        import ray

        with self._lock:
            if actor in self._actors:
                self._actors.remove(actor)
                self._lost += 1
            self._nodes.pop(actor, None)
            self._dead_at_start.pop(actor, None)
            self._silent_since.pop(actor, None)
        ray.kill(actor, no_restart=True)

    def _replace(self, actor: Any) -> None:
        """Kill an actor that held a unit past its limit and lend a new one in its place.

        The new actor goes to the idle queue at once: a unit may be waiting there for an actor
        to come back. If no unit needs it, the pool frees it after its last unit as any other.
        """
        import ray

        ray.kill(actor, no_restart=True)
        with self._lock:
            if actor in self._actors:
                self._actors.remove(actor)
            self._nodes.pop(actor, None)
            self._dead_at_start.pop(actor, None)
            self._silent_since.pop(actor, None)
            replacement = self._start_actor()
            self._actors.append(replacement)
        self._idle.put(replacement)

    def run(self, unit: WorkUnit) -> UnitOutcome:
        limit = self.time_limit
        try:
            outcome = self._call(
                self._acquire(), "run", unit, limit_s=limit.seconds(unit.cost), why=limit.reason(unit.name, unit.cost)
            )
        except ActorLost:
            raise  # the unit runs again
        except BaseException:
            self._count_unit_done()  # failed for good (or retried: the pool grows back if it must)
            raise
        self._count_unit_done()
        return outcome

    def _count_unit_done(self) -> None:
        """After the pool's last unit, free the actors it no longer needs: a variant of the same wave
        that lost its actors with a node may be waiting for room to start one."""
        import ray

        if self._units_left is None:
            return
        with self._lock:
            self._units_left -= 1
            if self._units_left > 0:
                return
            spare = []
            while len(self._actors) - len(spare) > self._keep and not self._idle.empty():
                spare.append(self._idle.get_nowait())
            for actor in spare:
                self._actors.remove(actor)
                self._nodes.pop(actor, None)
        for actor in spare:
            ray.kill(actor)

    def merge(self, unit: WorkUnit, shards: Sequence[UnitOutcome]) -> UnitOutcome:
        """A sharded task's outcome from its shards', aggregated on one of this variant's actors (evals.engine.sharding)."""
        return self._call(self._acquire(), "merge", unit, list(shards))

    def measure_edge(self, run_id: str) -> EdgeReport:
        """Edge figures from one of this variant's actors; call it when no unit runs on the node."""
        return self._call(self._acquire(), "measure_edge", run_id)

    def actor_pids(self) -> list[int]:
        """The worker processes (for tests that kill one mid-unit)."""
        import ray

        return ray.get([a.__ray_call__.remote(lambda self: os.getpid()) for a in self._actors])

    def actor_nodes(self) -> list[str]:
        """The node each actor runs on."""
        import ray

        return ray.get([a.node_id.remote() for a in self._actors])

    def shutdown(self) -> None:
        if not self._actors:
            return  # no actor started (every unit was cached): no need to import Ray
        import ray

        with self._lock:
            for actor in self._actors:
                ray.kill(actor)
            self._actors.clear()
            self._nodes.clear()
            self._shipment = None  # the object store frees the shipped chunks
