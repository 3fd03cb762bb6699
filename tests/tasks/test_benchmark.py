"""The benchmark tasks' retry decisions, made by Prefect (``retries`` + ``retry_condition_fn``), and failures as data."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from prefect import flow, task

from evals.cluster.progress import Progress
from evals.engine.execution import UnitReport
from evals.models.variants import Variant, VariantError
from evals.plan.units import WorkUnit
from tasks.benchmark import _cluster_hiccup, _dataset_hub_hiccup, _hub_hiccup, unit_reports

VARIANT = Variant("m--FP32", "m", "FP32", "llamacpp", "/m.gguf", None, "0" * 64, None)


def _unit(subtask: str) -> WorkUnit:
    return WorkUnit(VARIANT, subtask, subtask, "language", 0, 2, 1234, "multiple_choice", 8.0, "h", ())


def _attempts(condition, errors: list[BaseException]) -> int:  # type: ignore[no-untyped-def]
    """How many times Prefect runs a task that raises ``errors`` in turn (then succeeds), with this retry condition."""
    calls: list[int] = []

    @task(retries=len(errors), retry_condition_fn=condition)
    def flaky() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    @flow
    def run() -> None:
        flaky.submit().result(raise_on_failure=False)

    run()
    return len(calls)


def _hub_error(status: int, kind: type[HfHubHTTPError] = HfHubHTTPError) -> HfHubHTTPError:
    response = httpx.Response(status, request=httpx.Request("GET", "https://hub.invalid/api/models/x"))
    return kind(f"{status}", response=response)


def test_a_unit_is_retried_for_the_cluster_not_for_itself() -> None:
    from ray.exceptions import RaySystemError

    assert _attempts(_cluster_hiccup, [RaySystemError("node died"), ConnectionError("reset")]) == 3
    assert _attempts(_cluster_hiccup, [ValueError("lm-eval: bad task config")]) == 1


def test_weights_are_located_again_only_when_the_hub_did_not_answer() -> None:
    assert _attempts(_hub_hiccup, [_hub_error(503), httpx.ConnectTimeout("slow"), _hub_error(429)]) == 4
    assert _attempts(_hub_hiccup, [_hub_error(404, RepositoryNotFoundError)]) == 1
    assert _attempts(_hub_hiccup, [VariantError("local_path does not exist")]) == 1


def test_task_data_is_located_again_only_when_the_dataset_hub_did_not_answer() -> None:
    from datasets.exceptions import DatasetNotFoundError

    from evals.catalog.task_data import DatasetAccessError

    hiccups = [_hub_error(503), ConnectionError("Couldn't reach 'allenai/ai2_arc' on the Hub (ReadTimeout)")]
    assert _attempts(_dataset_hub_hiccup, hiccups) == 3
    assert _attempts(_dataset_hub_hiccup, [DatasetNotFoundError("Dataset 'x/y' is a gated dataset on the Hub")]) == 1
    assert _attempts(_dataset_hub_hiccup, [DatasetAccessError("task 'toxigen': set HF_TOKEN")]) == 1
    assert _attempts(_dataset_hub_hiccup, [_hub_error(404, RepositoryNotFoundError)]) == 1


def test_a_unit_that_still_fails_is_a_failed_report_and_the_others_stand() -> None:
    units = [_unit("good"), _unit("bad")]

    @task(retries=1, retry_condition_fn=_cluster_hiccup)
    def run_one(unit: WorkUnit) -> UnitReport:
        if unit.subtask == "bad":
            raise RuntimeError("lm-eval failed\ndata file missing")
        return UnitReport(unit.name, "evaluated", "/folder", 0.1)

    @flow
    def run() -> list[UnitReport]:
        return unit_reports(units, run_one.map(units), Progress(tuple(units)))

    good, bad = run()
    assert (good.name, good.status) == ("m--FP32/good", "evaluated")
    assert (bad.name, bad.status, bad.error) == ("m--FP32/bad", "failed", "RuntimeError: data file missing")


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_count_as_hub_hiccups(status: int) -> None:
    assert _attempts(_hub_hiccup, [_hub_error(status)]) == 2
