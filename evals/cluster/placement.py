"""Which variants' actors are loaded together, and how many each: a pure function of the cluster's size.

A run loads every variant of a submission at once when the cluster has room
for them, and in turns (waves) when it has not. The cluster is described by
what Ray reports for it (``ray.cluster_resources()``: CPU, GPU, memory), each
variant by what it still has to do (units that missed the cache, its edge
unit) and how much memory a loaded copy takes. Nothing here talks to Ray.

The rules, in order:

- **slots**: one per GPU on a GPU cluster; otherwise one per ``threads``
  cores (one thread per worker unless asked: on 2 cores the offline suite ran
  2.1x faster as 2 workers x 1 thread than as 1 worker x 2 threads,
  ``benchmarks/engine_scaling.py``);
- **memory**: a loaded model takes about twice its weight files, plus 512 MiB
  for the process; the actors of one wave share half the cluster's memory;
- **waves**: as many variants as there are slots (and memory) go in a wave;
  its slots are then dealt out one at a time, to the variant with the most
  work left per worker (the units' estimated cost, ``evals.catalog.costs``), never
  more workers to a variant than it has units to run;
- ``workers`` given (``--workers``): each variant gets exactly that many,
  with ``threads`` defaulting to cores / workers as before, so a wave holds
  as many variants as fit beside each other (one, on a laptop);
- a variant with nothing left to run (every unit cached, no edge unit) gets
  no actor and goes in the first wave.

Edge units are not placed here: the flow measures a wave's edge units after
all of its units have finished, one at a time, so no other work shares their
node while they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from evals.cluster.pool import PoolOptions

# A loaded model's resident memory: about twice its weight files (weights, plus the
# framework's copies and buffers while loading), plus the worker process itself.
PROCESS_BYTES = 512 * 2**20
# The share of the cluster's memory the actors of one wave may take together.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class VariantLoad:
    """What one variant asks of the cluster: its remaining units, whether it has an edge unit, its weight size."""

    variant_id: str
    units: int  # units that missed the cache
    edge: bool = False
    weights_bytes: int = 0
    cost: float = 0.0  # those units' estimated cost (evals.catalog.costs: requests x tokens); 0: not known

    @property
    def work(self) -> float:
        """What a worker's share is measured in: the units' cost, or their number where no cost is known."""
        return self.cost or float(self.units)

    @property
    def actors_needed(self) -> int:
        """The most workers that can be kept busy: one per unit, at least one for an edge unit."""
        return max(self.units, 1 if self.edge else 0)

    @property
    def memory_per_actor(self) -> int:
        return 2 * self.weights_bytes + PROCESS_BYTES


@dataclass(frozen=True)
class Cluster:
    """The cluster's total resources, as Ray reports them."""

    cpus: int
    gpus: int = 0
    memory_bytes: int = 0  # 0: unknown, not limiting

    @classmethod
    def from_resources(cls, resources: Mapping[str, float]) -> Cluster:
        return cls(
            cpus=max(1, int(resources.get("CPU", 1))),
            gpus=int(resources.get("GPU", 0)),
            memory_bytes=int(resources.get("memory", 0)),
        )


@dataclass(frozen=True)
class Wave:
    """Variants whose actors are loaded together; ``pools[variant_id]`` is each one's resolved pool options."""

    pools: Mapping[str, PoolOptions]
    units: Mapping[str, int]  # units each variant still has to run (cache misses)

    @property
    def variant_ids(self) -> tuple[str, ...]:
        return tuple(self.pools)

    @property
    def actors(self) -> int:
        return sum(p.workers or 0 for p in self.pools.values())


@dataclass(frozen=True)
class Placement:
    waves: tuple[Wave, ...]
    cluster: Cluster

    def describe(self) -> str:
        """One line per wave, for the run's log: who is loaded together, with how many workers."""
        where = f"{self.cluster.gpus} GPU" if self.cluster.gpus else f"{self.cluster.cpus} CPU"
        lines = []
        for i, wave in enumerate(self.waves, 1):
            parts = [
                f"{v} x{p.workers}" + (f" ({p.threads_per_worker}t)" if p.threads_per_worker else "")
                for v, p in wave.pools.items()
            ]
            lines.append(f"wave {i}/{len(self.waves)} on {where}: " + ", ".join(parts))
        return "\n".join(lines)


def place(loads: Sequence[VariantLoad], cluster: Cluster, options: PoolOptions) -> Placement:
    """The waves of a run, in plan order of the variants (see the module docstring for the rules)."""
    use_gpu = bool(cluster.gpus) if options.use_gpu is None else options.use_gpu
    threads = _threads(cluster, options, use_gpu)
    slots = max(1, cluster.gpus if use_gpu else cluster.cpus // (threads or 1))
    idle = [load for load in loads if load.actors_needed == 0]
    busy = [load for load in loads if load.actors_needed > 0]
    base = PoolOptions(0, threads, use_gpu, options.max_restarts)
    waves: list[dict[str, PoolOptions]] = []
    while busy:
        wave = _fill_wave(busy, cluster, slots, options.workers, base)
        busy = [load for load in busy if load.variant_id not in wave]
        waves.append(wave)
    if idle:
        first = {load.variant_id: base for load in idle}
        if waves:
            waves[0] = {**first, **waves[0]}
        else:
            waves.append(first)
    order = {load.variant_id: i for i, load in enumerate(loads)}
    units = {load.variant_id: load.units for load in loads}
    ordered = [dict(sorted(w.items(), key=lambda kv: order[kv[0]])) for w in waves]
    return Placement(tuple(Wave(w, {v: units[v] for v in w}) for w in ordered), cluster)


def _threads(cluster: Cluster, options: PoolOptions, use_gpu: bool) -> int | None:
    if options.threads_per_worker or use_gpu:
        return options.threads_per_worker
    if options.workers:  # as before: the cores shared among the given workers
        return max(1, cluster.cpus // options.workers)
    return 1


def _fill_wave(
    loads: list[VariantLoad], cluster: Cluster, slots: int, fixed_workers: int | None, base: PoolOptions
) -> dict[str, PoolOptions]:
    """The next wave: variants taken in order while a slot and the memory remain, then the slots dealt out."""
    budget = int(cluster.memory_bytes * MEMORY_SHARE) or None
    workers: dict[str, int] = {}
    used_slots, used_memory = 0, 0
    for load in loads:
        want = min(fixed_workers, load.actors_needed) if fixed_workers else 1
        memory = want * load.memory_per_actor
        fits_slots = used_slots + want <= slots
        fits_memory = budget is None or used_memory + memory <= budget
        if workers and not (fits_slots and fits_memory):
            break
        workers[load.variant_id] = want  # the first variant of a wave always goes, even past the budget
        used_slots += want
        used_memory += memory
    if not fixed_workers:
        by_id = {load.variant_id: load for load in loads}
        while used_slots < slots:
            # the variant with the most work left per worker gets the next slot
            open_ = [v for v in workers if workers[v] < by_id[v].actors_needed]
            open_ = [v for v in open_ if budget is None or used_memory + by_id[v].memory_per_actor <= budget]
            if not open_:
                break
            chosen = max(open_, key=lambda v: (by_id[v].work / workers[v], -list(workers).index(v)))
            workers[chosen] += 1
            used_slots += 1
            used_memory += by_id[chosen].memory_per_actor
    return {v: replace(base, workers=n) for v, n in workers.items()}
