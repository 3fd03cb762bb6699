"""The benchmark flow on a real two-node Ray cluster it did not start, sharing no disk with it.

The cluster (tests/ray_cluster.py) is a head node and a worker node, each a
``ray start`` of its own with 2 CPUs and a resource naming it. The worker node
runs in a mount namespace where the driver's data folders (fixtures, task
pack, cache, this test's run folders) are empty tmpfs mounts, with its own
HOME and working directory: a worker there that read the driver's disk by path
would fail. The run is the CLI, ``slmbench run`` with ``RAY_ADDRESS`` set, as a
user runs it against a cluster.

Fast (default run): the run spreads its actors over both nodes, the worker
node lands the weights and task pack by digest, and its scores are the ones an
in-process worker computes. Slow: the worker node's raylet is killed while it
evaluates a unit; the unit reruns on the head and the scores equal an
undisturbed run's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from evals import paths
from tests.ray_cluster import LocalCluster, Node, local_cluster

ROOT = Path(__file__).resolve().parents[2]
# One variant (a safetensors folder) on two tasks: two units, one actor on each node.
SUBMISSION = """\
model:
  name: "SLMB-Demo-Cluster"
  local_path: "fixture://demo-trained"
  parameters: "1.7M"
  quantizations:
    - name: "FP32"
      format: "safetensors"
  categories: ["reasoning", "language"]
"""
# Two variants (transformers and llama.cpp) loaded together: four actors over the two nodes.
TWO_VARIANTS = SUBMISSION.replace("  categories:", '    - name: "Q8_0"\n      format: "gguf"\n  categories:')


@pytest.fixture(scope="module")
def cluster(demo_models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Node]]:
    """A head (8 CPUs) and a worker node (2 CPUs) that cannot see the driver's data folders.

    The head has room for every actor of the run: only the SPREAD strategy puts some on the worker.
    """
    hidden = [paths.home(), tmp_path_factory.getbasetemp(), paths.shared_models_dir()]
    with local_cluster(head_cpus=8) as running:
        worker = running.start_node("worker", 2, hide=[p for p in hidden if p.exists()])
        yield running, worker


def slmbench_run(
    cluster: LocalCluster, folder: Path, limit: int, text: str = SUBMISSION, client: bool = False
) -> subprocess.Popen[str]:
    """``slmbench run`` attached to the cluster (RAY_ADDRESS; a Ray Client with ``client``), on the
    session's Prefect API, with a cache of its own."""
    from prefect.settings import get_current_settings

    submission = folder / "cluster.yaml"
    submission.write_text(text)
    env = cluster.driver_env(
        client,
        PREFECT_API_URL=str(get_current_settings().api.url),
        SLMBENCH_HOME=str(paths.home()),  # where the demo fixtures were built
        SLMBENCH_CACHE_DIR=str(folder / "cache"),  # evaluated here, not read from another run's cache
    )
    log = (folder / "run.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", str(submission), "--suite", "offline-quick", "--limit", str(limit),
         "--output-dir", str(folder / "run"), "--warehouse", str(folder / "warehouse")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finished(process: subprocess.Popen[str], folder: Path, timeout_s: float = 600) -> None:
    code = process.wait(timeout=timeout_s)
    assert code == 0, (folder / "run.log").read_text()[-6000:]


def unit_nodes(run: Path) -> dict[str, str]:
    """unit name -> the Ray node that evaluated it (unit.json of each unit folder)."""
    metas = [json.loads(p.read_text()) for p in (run / "units").glob("*/*/unit.json")]
    return {m["unit"]: m["node"] for m in metas}


def mounted_over(node: Node) -> set[str]:
    """Where tmpfs mounts hide folders from the node's raylet (its own mount namespace)."""
    fields = [line.split() for line in Path(f"/proc/{node.raylet().pid}/mountinfo").read_text().splitlines()]
    return {f[4] for f in fields if "slmb-hidden" in f}


@pytest.mark.usefixtures("prefect_server")
def test_a_run_spreads_over_two_nodes_that_share_no_disk(cluster, tmp_path: Path) -> None:
    running, worker = cluster
    if not worker.hidden:
        pytest.skip("no mount namespace here (needs root or unprivileged user namespaces) to hide the driver's disk")
    assert mounted_over(worker) == set(worker.hidden)  # the fixtures, the cache, this run's folder: not there

    # A Ray Client, as a flow-run pod attaches to KubeRay: the driver is on no node, so every actor lands its files.
    finished(slmbench_run(running, tmp_path, limit=2, client=True), tmp_path)

    ids = running.node_ids()
    nodes = unit_nodes(tmp_path / "run")
    assert len(nodes) == 2 and set(nodes.values()) == {ids["head"], ids["worker"]}, nodes  # SPREAD
    on_worker = sorted(u for u, n in nodes.items() if n == ids["worker"])
    # The worker node landed what it evaluated: by digest, in its own folder.
    landed = {p.name for p in (worker.node_dir / "weights").iterdir() if not p.name.startswith(".")}
    meta = {m["unit"]: m for m in map(json.loads, map(Path.read_text, (tmp_path / "run/units").glob("*/*/unit.json")))}
    assert {meta[u]["variant"]["weights_digest"] for u in on_worker} <= landed
    assert any((worker.node_dir / "tasks").iterdir())

    # Its scores are what a worker in this process computes from the driver's own files.
    from contracts.submission import load_submission
    from evals.engine.cache import read_results
    from evals.engine.worker import ModelWorker
    from evals.plan.prepare import plan_submission
    from evals.plan.units import PlanOptions

    options = PlanOptions(suite="offline-quick", limit=2, submission_path=str(tmp_path / "cluster.yaml"))
    plan = plan_submission(load_submission(tmp_path / "cluster.yaml"), options)
    unit = next(u for u in plan.units if u.name == on_worker[0])
    here = ModelWorker(unit.variant, plan.include_paths, n_threads=1).run(unit)
    there = read_results(tmp_path / "run" / "units" / unit.variant.variant_id / unit.subtask)
    assert there["results"] == json.loads(json.dumps(here.results["results"]))

    # Every item came back too (lm-eval's samples travel with the outcome through Ray, as results do):
    # the staged samples table holds each unit's documents, the worker node's as this process logs them.
    from evals.warehouse.storage import STAGING, read_table

    staged = read_table(str(tmp_path / "warehouse"), "samples", STAGING)
    assert staged.height > 0 and staged.equals(
        pl.read_parquet(tmp_path / "run" / "samples.parquet").select(staged.columns)
    )
    per_unit = staged.group_by("variant_id", "subtask").agg(pl.col("doc_id").n_unique().alias("docs"))
    assert per_unit.height == len(nodes) and set(per_unit["docs"]) == {2}, per_unit  # --limit 2, every unit
    mine = staged.filter((pl.col("variant_id") == unit.variant.variant_id) & (pl.col("subtask") == unit.subtask))
    assert sorted(mine["doc_id"]) == sorted(s["doc_id"] for s in here.samples)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_node_lost_mid_unit_leaves_its_units_to_the_others_and_the_scores_unchanged(cluster, tmp_path: Path) -> None:
    running, worker = cluster
    limit = 40  # units long enough to be caught running
    calm, stormy = tmp_path / "undisturbed", tmp_path / "node-lost"
    calm.mkdir(), stormy.mkdir()
    finished(slmbench_run(running, calm, limit, TWO_VARIANTS), calm)
    ids = running.node_ids()
    assert ids["worker"] in unit_nodes(calm / "run").values()

    process = slmbench_run(running, stormy, limit, TWO_VARIANTS)
    killed: dict[str, object] = {}

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if worker.busy_workers(window_s=0.2):
                worker.raylet().kill()  # SIGKILL: the node is gone, mid-unit
                killed["done before"] = (
                    set(unit_nodes(stormy / "run")) if (stormy / "run" / "units").exists() else set()
                )
                return

    watcher = threading.Thread(target=kill_when_busy)
    watcher.start()
    finished(process, stormy)
    watcher.join()
    assert killed, "the worker node never got a unit to run"
    assert "worker" not in running.node_ids()

    # Every unit not finished when the node went (the one it was running among them) ran on the head.
    nodes = unit_nodes(stormy / "run")
    rest = set(nodes) - killed["done before"]  # type: ignore[operator]
    assert rest and {nodes[u] for u in rest} == {ids["head"]}, (nodes, killed)
    # Ray restarted the lost actors on the head and retried their calls, or the pool gave the units
    # to its other actors (when Ray could not yet restart them): the run log names either.
    log = (stormy / "run.log").read_text()
    assert "will be retried" in log or "left the cluster" in log, log[-4000:]
    cols = ["variant_id", "task", "metric", "filter", "value", "stderr", "n_samples"]
    before = pl.read_parquet(calm / "run" / "scores.parquet").select(cols).sort(cols)
    after = pl.read_parquet(stormy / "run" / "scores.parquet").select(cols).sort(cols)
    assert after.equals(before)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_node_lost_where_no_node_has_room_leaves_its_units_to_the_actors_left(demo_models, tmp_path: Path) -> None:
    """A full cluster: Ray cannot restart the lost actors anywhere, so the pool gives their units to the others."""
    with local_cluster(head_cpus=2) as running:
        worker = running.start_node("worker", 2)
        submission = tmp_path / "one.yaml"
        submission.write_text(SUBMISSION.replace('["reasoning", "language"]', '["reasoning", "language", "math"]'))
        from prefect.settings import get_current_settings

        env = running.driver_env(
            PREFECT_API_URL=str(get_current_settings().api.url),
            SLMBENCH_HOME=str(paths.home()),
            SLMBENCH_CACHE_DIR=str(tmp_path / "cache"),
        )
        log = tmp_path / "run.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "run", str(submission), "--suite", "offline", "--limit", "40",
                 "--workers", "4", "--output-dir", str(tmp_path / "run"), "--warehouse", str(tmp_path / "wh")],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + 300
            while not worker.busy_workers() and process.poll() is None and time.monotonic() < deadline:
                pass
            assert process.poll() is None, log.read_text()[-4000:]
            worker.raylet().kill()
            finished(process, tmp_path)
        text = log.read_text()
        assert "left the cluster" in text, text[-4000:]
        ids = running.node_ids()
        assert set(ids) == {"head"}
        assert ids["head"] in unit_nodes(tmp_path / "run").values()
