"""Building the offline fixtures: the demo models and the offline task pack (cached)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE


@task(name="build-fixtures", cache_policy=NO_CACHE)
def build_fixtures(force: bool = False) -> dict[str, str]:
    """Paths of what was built (or found already built)."""
    from evals.catalog.pack import build_pack
    from evals.models.fixtures import build_all

    built = {"taskpack": str(build_pack(force=force))}
    for name, model in build_all(force=force).items():
        built[name] = str(model.hf_dir)
    return built
