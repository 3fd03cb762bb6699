"""Flow ``build_site`` end to end under the session's Prefect test server (``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

from tests.evals.sitegen.sites import BuiltSite


def test_build_site_flow(prefect_server: None, demo_site: BuiltSite, tmp_path: Path) -> None:
    from flows.site import build_site

    summary = build_site(
        warehouse=demo_site.warehouse, version=0, site_dir=str(tmp_path / "site"), pages_dir=str(tmp_path / "pages")
    )
    assert Path(summary.index).is_file()
    assert summary.leaderboard_version == 0 and summary.models > 0
    assert (tmp_path / "site" / "models").is_dir()


def test_cli_parses_site_commands() -> None:
    from flows.cli import build_parser

    args = build_parser().parse_args(["site", "serve", "--no-build", "--port", "8123"])
    assert (args.action, args.no_build, args.port, args.version) == ("serve", True, 8123, None)
