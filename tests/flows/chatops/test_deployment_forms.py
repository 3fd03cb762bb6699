"""The deployments' run forms, as the Prefect server stores them and the UI renders them.

The UI draws a deployment's form from its ``parameter_openapi_schema``: an ``enum`` becomes a
dropdown, ``anyOf`` a choice between its alternatives, ``description`` the line under a field.
The server also enforces the schema on every deployment run (the UI's and ChatOps').
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from evals.catalog.suites import load_catalog
from flows.benchmark import benchmark_submission
from flows.parameters import REPO

BENCHMARK = "benchmark-submission/benchmark-submission"


def _schema(name: str) -> dict:
    with get_client(sync_client=True) as client:
        return dict(client.read_deployment_by_name(name).parameter_openapi_schema or {})


def test_every_parameter_of_every_deployment_explains_itself(deployments: list[str]) -> None:
    for name in deployments:
        properties = _schema(name)["properties"]
        missing = [p for p, field in properties.items() if not field.get("description")]
        assert properties and not missing, (name, missing)
        assert all("\n" not in field["description"] for field in properties.values()), name  # one line each


def test_the_benchmark_form_offers_the_catalog_suites_and_the_submission_files(deployments: list[str]) -> None:
    properties = _schema(BENCHMARK)["properties"]
    assert properties["suite"]["enum"] == list(load_catalog().suites)
    assert properties["suite"]["default"] == "offline"
    listed, free = properties["submission_path"]["anyOf"]
    files = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "models" / "submissions").glob("*.yaml"))
    assert listed["enum"] == files and "models/submissions/demo-trained.yaml" in files
    assert free == {"type": "string", "title": "Another path (a pull request's file)"}  # a PR's new file


def test_a_deployment_run_takes_catalog_suites_only_while_the_cli_may_name_a_suite_file(
    deployments: list[str], tmp_path: Path
) -> None:
    from prefect.exceptions import PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(BENCHMARK)
        with pytest.raises(PrefectHTTPStatusError, match="409|422"):
            client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"submission_path": "models/submissions/demo-trained.yaml", "suite": "my_suite.yaml"},
            )
    # In process (the CLI), the same parameter takes a suite file: evals.catalog.suites resolves it.
    checked = benchmark_submission.validate_parameters(
        {"submission_path": "elsewhere/x.yaml", "suite": str(tmp_path / "my_suite.yaml:mine")}
    )
    assert checked["suite"].endswith("my_suite.yaml:mine")
