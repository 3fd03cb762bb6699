"""Flow ``demo``: the whole pipeline on the models the project builds itself.

    fixtures -> benchmark each example submission -> publish each run -> leaderboard

What ``make demo`` runs: local Ray, embedded Prefect, the local warehouse,
no download. stories260K joins when ``../shared/models`` has it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from evals import paths
from flows.benchmark import benchmark_submission
from flows.publish import publish_results
from flows.site import build_site
from tasks.fixtures import build_fixtures

SUBMISSIONS = Path(__file__).resolve().parent.parent / "models" / "submissions"
DEMO_SUBMISSIONS = ("demo-trained", "demo-untrained", "stories260k")


def demo_submissions() -> list[Path]:
    """The example submissions whose weights are on this machine."""
    chosen = []
    for name in DEMO_SUBMISSIONS:
        if name == "stories260k" and not (paths.shared_models_dir() / "stories260K.gguf").exists():
            print(f"skipping {name}: {paths.shared_models_dir() / 'stories260K.gguf'} is absent")
            continue
        chosen.append(SUBMISSIONS / f"{name}.yaml")
    return chosen


@flow(name="demo")
def demo(
    suite: str = "offline", limit: int | None = None, workers: int | None = None, warehouse: str = paths.WAREHOUSE
) -> list[str]:
    """Benchmark and publish every demo submission; returns the published run ids."""
    build_fixtures()
    run_ids = []
    for submission in demo_submissions():
        run_id = benchmark_submission(
            submission_path=str(
                submission.relative_to(Path.cwd()) if submission.is_relative_to(Path.cwd()) else submission
            ),
            suite=suite,
            limit=limit,
            workers=workers,
            warehouse=warehouse,
        )
        # A demo with --limit is a smoke test of the whole pipeline: published on purpose, its rows marked.
        publish_results(run_id, warehouse=warehouse, allow_limited=limit is not None)
        run_ids.append(run_id)
    build_site(warehouse=warehouse)
    return run_ids
