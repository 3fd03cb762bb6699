"""The steps of ``build_site``: thin Prefect tasks over ``evals.site``.

Both steps rewrite their output whole, so a rerun after any failure simply
builds again; nothing is cached by Prefect (the tables, not Prefect, say
what changed).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from evals.site import builder
from evals.site.generate import Manifest, generate_site


@task(name="generate-site-pages", cache_policy=NO_CACHE)
def generate_pages(
    warehouse: str, version: int | None, pages_dir: str, live_queue: pl.DataFrame | None = None
) -> Manifest:
    """Tables at leaderboard ``version`` -> Markdown pages and data files; returns what was written.

    ``live_queue``: Prefect's benchmark runs as queue events (``tasks.queue.prefect_queue``), or None.
    """
    manifest = generate_site(warehouse, Path(pages_dir), version, live_queue=live_queue)
    get_run_logger().info(
        "generated %d pages for %d models (leaderboard v%d, data v%s)",
        manifest.pages,
        manifest.models,
        manifest.leaderboard_version,
        manifest.data_version,
    )
    return manifest


@task(name="build-site-html", cache_policy=NO_CACHE)
def build_html(pages_dir: str, site_dir: str) -> str:
    """``mkdocs build --strict`` of the pages into ``site_dir``; returns the site's index.html."""
    return str(builder.build(Path(pages_dir), Path(site_dir)))
