"""Which variants load together: a pure function of the cluster, checked on the shapes that matter."""

from __future__ import annotations

from evals.cluster.placement import PROCESS_BYTES, Cluster, VariantLoad, place
from evals.cluster.pool import PoolOptions

DEMO = [VariantLoad(f"demo--{q}", units=10, edge=True, weights_bytes=7 * 2**20) for q in ("FP32", "Q8_0", "Q4_K_M")]
GB = 2**30


def _waves(placement) -> list[dict[str, tuple[int | None, int | None]]]:  # type: ignore[no-untyped-def]
    return [{v: (p.workers, p.threads_per_worker) for v, p in w.pools.items()} for w in placement.waves]


def test_a_laptop_loads_as_many_variants_as_it_has_cores_one_thread_each() -> None:
    waves = _waves(place(DEMO, Cluster(cpus=2, memory_bytes=8 * GB), PoolOptions()))
    assert waves == [{"demo--FP32": (1, 1), "demo--Q8_0": (1, 1)}, {"demo--Q4_K_M": (2, 1)}]


def test_a_cluster_with_room_loads_every_variant_at_once_and_deals_out_every_core() -> None:
    placement = place(DEMO, Cluster(cpus=16, memory_bytes=64 * GB), PoolOptions())
    (wave,) = placement.waves
    assert set(wave.variant_ids) == {"demo--FP32", "demo--Q8_0", "demo--Q4_K_M"}
    assert wave.actors == 16 and {p.threads_per_worker for p in wave.pools.values()} == {1}
    assert sorted(p.workers or 0 for p in wave.pools.values()) == [5, 5, 6]


def test_gpus_are_one_worker_each_and_variants_wait_for_a_free_gpu() -> None:
    (wave,) = place(DEMO, Cluster(cpus=32, gpus=4), PoolOptions()).waves
    assert wave.actors == 4 and all(p.use_gpu and p.threads_per_worker is None for p in wave.pools.values())
    one_gpu = place(DEMO, Cluster(cpus=32, gpus=1), PoolOptions())
    assert [w.variant_ids for w in one_gpu.waves] == [("demo--FP32",), ("demo--Q8_0",), ("demo--Q4_K_M",)]


def test_given_workers_keep_their_meaning_and_variants_share_only_spare_cores() -> None:
    assert _waves(place(DEMO, Cluster(cpus=2), PoolOptions(workers=2))) == [
        {"demo--FP32": (2, 1)},
        {"demo--Q8_0": (2, 1)},
        {"demo--Q4_K_M": (2, 1)},
    ]
    # one worker given, threads not: it gets the cores, as before, so the variants take turns
    assert [len(w) for w in _waves(place(DEMO, Cluster(cpus=2), PoolOptions(workers=1)))] == [1, 1, 1]
    assert _waves(place(DEMO, Cluster(cpus=8), PoolOptions(workers=2, threads_per_worker=2))) == [
        {"demo--FP32": (2, 2), "demo--Q8_0": (2, 2)},
        {"demo--Q4_K_M": (2, 2)},
    ]


def test_memory_bounds_how_many_large_models_load_together() -> None:
    big = [VariantLoad(f"3b--{q}", units=8, weights_bytes=6 * GB) for q in ("FP16", "BF16", "Q8_0")]
    per_actor = 2 * 6 * GB + PROCESS_BYTES
    placement = place(big, Cluster(cpus=64, memory_bytes=4 * per_actor), PoolOptions())
    # half the memory: two loaded copies at a time, of two variants, then of the third
    assert _waves(placement) == [{"3b--FP16": (1, 1), "3b--BF16": (1, 1)}, {"3b--Q8_0": (2, 1)}]
    assert place(big, Cluster(cpus=64, memory_bytes=GB), PoolOptions()).waves[0].actors == 1  # one always goes


def test_cached_variants_get_no_actor_and_no_variant_more_workers_than_units() -> None:
    loads = [VariantLoad("a", units=0), VariantLoad("b", units=1), VariantLoad("c", units=0, edge=True)]
    (wave,) = place(loads, Cluster(cpus=16), PoolOptions()).waves
    assert {v: p.workers for v, p in wave.pools.items()} == {"a": 0, "b": 1, "c": 1}
    assert wave.variant_ids == ("a", "b", "c")  # plan order


def test_workers_are_dealt_by_estimated_cost_not_by_unit_count() -> None:
    # Four cheap units against two costly ones (a many-choice task with long prompts): counting
    # units would give the cheap variant three of the four workers; their cost gives each two.
    cheap = VariantLoad("m--Q4_K_M", units=4, cost=4 * 1_000.0)
    costly = VariantLoad("m--FP32", units=2, cost=2 * 100_000.0)
    (wave,) = _waves(place([cheap, costly], Cluster(cpus=4), PoolOptions()))
    assert wave == {"m--Q4_K_M": (2, 1), "m--FP32": (2, 1)}
    unknown = [VariantLoad("m--Q4_K_M", units=4), VariantLoad("m--FP32", units=2)]  # no costs: units decide
    (wave,) = _waves(place(unknown, Cluster(cpus=4), PoolOptions()))
    assert wave == {"m--Q4_K_M": (3, 1), "m--FP32": (1, 1)}
