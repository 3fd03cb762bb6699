"""Flow ``build_site`` end to end under the session's Prefect test server (``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.evals.site.sites import BuiltSite


def test_build_site_flow(prefect_server: None, demo_site: BuiltSite, tmp_path: Path) -> None:
    from flows.site import build_site

    summary = build_site(
        warehouse=demo_site.warehouse, version=0, site_dir=str(tmp_path / "site"), pages_dir=str(tmp_path / "pages")
    )
    assert Path(summary.index).is_file()
    assert summary.leaderboard_version == 0 and summary.models > 0
    assert (tmp_path / "site" / "models").is_dir()


def test_the_latest_site_adds_the_benchmark_runs_prefect_knows(
    prefect_server: None, demo_site: BuiltSite, tmp_path: Path
) -> None:
    """A run waiting for a slot is only in Prefect: the latest site's queue shows it; another warehouse's run, not."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    from flows.benchmark import benchmark_submission
    from flows.site import build_site

    with get_client(sync_client=True) as client:
        ours = client.create_flow_run(
            benchmark_submission,
            parameters={"submission_path": "models/submissions/in-prefect.yaml", "warehouse": demo_site.warehouse},
        )
        theirs = client.create_flow_run(
            benchmark_submission,
            parameters={"submission_path": "models/submissions/elsewhere.yaml", "warehouse": str(tmp_path / "other")},
        )
        try:
            build_site(
                warehouse=demo_site.warehouse, site_dir=str(tmp_path / "site"), pages_dir=str(tmp_path / "pages")
            )
            old = build_site(
                warehouse=demo_site.warehouse,
                version=0,
                pages_dir=str(tmp_path / "old"),
                site_dir=str(tmp_path / "old-site"),
            )
        finally:  # created, never executed: nothing else may pick them up
            for run in (ours, theirs):
                client.set_flow_run_state(run.id, Cancelled(), force=True)
    page = (tmp_path / "pages" / "submissions.md").read_text()
    queued = page.split('id="slmb-queue-queued"')[1].split("</table>")[0]
    assert "models/submissions/in-prefect.yaml" in queued and "elsewhere.yaml" not in page
    assert "Prefect's runs when the site was built" in page
    # a chosen version is built from the warehouse alone (Prefect knows only the present)
    assert old.leaderboard_version == 0 and "in-prefect.yaml" not in (tmp_path / "old" / "submissions.md").read_text()


def test_cli_parses_site_commands() -> None:
    from flows.cli import build_parser

    args = build_parser().parse_args(["site", "serve", "--no-build", "--port", "8123"])
    assert (args.action, args.no_build, args.port, args.version) == ("serve", True, 8123, None)
