"""Session fixtures shared by the whole suite: the project's real tiny models."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from evals import paths
from flows import settings

# The same offline, no-telemetry defaults as the CLI (Ray workers inherit them).
settings.apply_defaults()
# A Prefect home of this process's own, before Prefect is imported: the local server a CLI test starts
# keeps its database there, so tests on two xdist workers never see each other's flow runs (nor a
# developer's own profile).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="slmb-test-prefect-home-")

if TYPE_CHECKING:
    from evals.models.fixtures import DemoModel
    from tests.evals.site.sites import BuiltSite


@pytest.fixture(scope="session", autouse=True)
def fresh_unit_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every session evaluates against an empty unit cache of its own (Ray workers and CLI subprocesses
    inherit it), so no score check can pass on outcomes an earlier session's code cached."""
    import os

    path = tmp_path_factory.mktemp("unit-cache")
    before = os.environ.get("SLMBENCH_CACHE_DIR")
    os.environ["SLMBENCH_CACHE_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("SLMBENCH_CACHE_DIR", None)
    else:
        os.environ["SLMBENCH_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def demo_models() -> dict[str, DemoModel]:
    """The demo models by name, built once (under 2 minutes on 2 cores) and cached in the fixtures folder."""
    from evals.models.fixtures import build_all

    return build_all()


@pytest.fixture(scope="session")
def demo_gguf(demo_models: dict[str, DemoModel]) -> Path:
    """A real GGUF the project builds itself (the trained demo model, F32): for tests that need any GGUF."""
    return Path(demo_models["demo-trained"].gguf["F32"])


@pytest.fixture(scope="session")
def stories260k_path() -> Path:
    """The shared pretrained stories260K GGUF, or a skip saying where it was looked for.

    Only for tests about that file's own quirks (its story, its out-of-range pad id); a test
    that needs any real GGUF takes ``demo_gguf`` and runs in a clone with no ``../shared``.
    """
    path = paths.shared_models_dir() / "stories260K.gguf"
    if not path.is_file():
        pytest.skip(f"{path} is absent; put stories260K.gguf there or set SLMBENCH_SHARED_MODELS")
    return path


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray for one test module (shut down after it, so no module inherits another's workers)."""
    import ray

    from evals.cluster.pool import ensure_ray

    ensure_ray()
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes about 10 s to start); only tests that ask for it pay.

    The test harness's server on SQLite; with ``SLMBENCH_TEST_PREFECT=postgres`` (``make test-postgres``)
    a real ``prefect server start`` on a PostgreSQL the session creates (tests/prefect_postgres.py).
    """
    import os

    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("SLMBENCH_TEST_PREFECT") == "postgres":
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from tests.prefect_postgres import postgres_database
        from tests.prefect_postgres import prefect_server as server_on

        with postgres_database() as database, server_on(database) as api, temporary_settings({PREFECT_API_URL: api}):
            yield
        return
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """One site built from demo-like published runs (the site generator's tests and the build-site flow's)."""
    from tests.evals.site.sites import build
    from tests.evals.site.warehouses import demo_like

    return build(tmp_path_factory.mktemp("demo-site"), demo_like)
