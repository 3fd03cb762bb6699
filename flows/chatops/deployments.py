"""The three deployments maintainers run from the Prefect UI (and PR comments start).

    benchmark-submission/benchmark-submission   at most N at once (deployment concurrency limit, queued)
    publish-results/publish-results             one at a time: publishes are serialized
    build-site/build-site                       the leaderboard site, rebuilt from the published tables

The served flows are the project's flows with the ChatOps reporting hooks attached. Their
entrypoints point at this module, because a flow run executes in a fresh process that loads
the flow from its entrypoint: pointing at ``flows/benchmark.py`` would load it without hooks.

One benchmark per PR is enforced where the PR is known, in the receiver (dispatch.py), which
checks the PR's active runs in Prefect before it starts one.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from evals.paths import WAREHOUSE
from flows.benchmark import benchmark_submission
from flows.chatops.reporting import report_benchmark, report_publish
from flows.publish import publish_results
from flows.site import build_site

# with_options replaces a flow's hooks: the benchmark's own (its queue entry) are kept first.
_REPORT_BENCHMARK: dict[str, Any] = dict(
    on_completion=[report_benchmark],
    on_failure=[*benchmark_submission.on_failure_hooks, report_benchmark],
    on_crashed=[*benchmark_submission.on_crashed_hooks, report_benchmark],
)
_REPORT_PUBLISH: dict[str, Any] = dict(
    on_completion=[report_publish], on_failure=[report_publish], on_crashed=[report_publish]
)

# Module attributes on purpose: the deployments' entrypoints name them.
benchmark_for_pr = benchmark_submission.with_options(**_REPORT_BENCHMARK)
publish_for_pr = publish_results.with_options(**_REPORT_PUBLISH)

ENTRYPOINTS = {
    "benchmark-submission": "flows.chatops.deployments.benchmark_for_pr",
    "publish-results": "flows.chatops.deployments.publish_for_pr",
    "build-site": "flows.site.build_site",
}


def build_deployments(concurrent_benchmarks: int = 2, warehouse: str = WAREHOUSE) -> list[Any]:
    """The RunnerDeployments to serve or apply; typed flow parameters give the UI its forms."""
    benchmark = benchmark_for_pr.to_deployment(
        name="benchmark-submission",
        description="Benchmark one submission file; started by /test-benchmark or from this form.",
        tags=["slmbench"],
        parameters={"warehouse": warehouse},
        concurrency_limit=ConcurrencyLimitConfig(
            limit=concurrent_benchmarks, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
        ),
    )
    publish = publish_for_pr.to_deployment(
        name="publish-results",
        description="Publish a validated staged run; started by /push-results or from this form.",
        tags=["slmbench"],
        parameters={"warehouse": warehouse},
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )
    site = build_site.to_deployment(name="build-site", description="Rebuild the leaderboard site.", tags=["slmbench"])
    deployments = [benchmark, publish, site]
    for deployment in deployments:
        deployment.entrypoint = ENTRYPOINTS[deployment.flow_name]
    return deployments


def serve(concurrent_benchmarks: int = 2, limit: int | None = None, warehouse: str = WAREHOUSE) -> None:
    """``slmbench serve``: run the deployments from this process on the current Prefect API, no work pool."""
    from prefect import serve as prefect_serve

    prefect_serve(*build_deployments(concurrent_benchmarks, warehouse), limit=limit)
