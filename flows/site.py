"""Flow ``build_site``: published tables -> generated pages -> ``mkdocs build --strict``.

    slmbench site build [--warehouse URI] [--version N] [--site-dir site]
    slmbench site serve                      # then open http://127.0.0.1:8000/

The pages are build outputs (``docs/generated/``, ignored by git); the site
lands in ``site/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from evals.paths import WAREHOUSE
from tasks.queue import prefect_queue
from tasks.site import build_html, generate_pages

DEFAULT_PAGES_DIR = str(Path(__file__).resolve().parent.parent / "docs" / "generated" / "pages")


@dataclass(frozen=True)
class SiteSummary:
    index: str  # the built site's index.html
    models: int
    variants: int
    leaderboard_version: int
    data_version: int | None


@flow(name="build-site")
def build_site(
    warehouse: str = WAREHOUSE, version: int | None = None, site_dir: str = "site", pages_dir: str | None = None
) -> SiteSummary:
    """Build the site from leaderboard ``version`` (latest when None) of ``warehouse``.

    Args:
        warehouse: The Delta tables' URI: a local folder or any URI deltalake supports.
        version: The leaderboard table version to build; empty: the latest.
        site_dir: Where the built site goes.
        pages_dir: Where the generated Markdown pages go; empty: docs/generated/pages.
    """
    pages = pages_dir or DEFAULT_PAGES_DIR
    live_queue = prefect_queue(warehouse, version)
    written = generate_pages(warehouse, version, pages, live_queue)
    index = build_html(pages, site_dir)
    return SiteSummary(index, written.models, written.variants, written.leaderboard_version, written.data_version)
