"""One 2,000-model site and one headless Chromium per session (the demo site: tests/conftest.py).

The browser is Debian's ``chromium`` driven by Playwright's Python package
(no browser download): tests that need it skip, saying why, when either is
missing. Screenshots go to ``<SLMBENCH_HOME>/screenshots/site``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals import paths
from tests.evals.site.sites import BuiltSite, build

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LARGE_MODELS = 2000


@pytest.fixture(scope="session")
def large_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    from tests.evals.site.warehouses import synthetic

    return build(tmp_path_factory.mktemp("large-site"), lambda uri: synthetic(uri, LARGE_MODELS))


# Module scope: Playwright's sync API keeps an event loop running in the main thread while the browser
# is open, and Prefect's sync calls (to_deployment, apply) turn into coroutines inside a running loop;
# the browser tests live in one module, so closing the browser after it keeps later tests sync.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is absent: pip install playwright (no browser download needed)")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _serve(site: Path) -> Iterator[str]:
    from evals.site.server import serve_in_background

    server, url = serve_in_background(site)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def demo_url(demo_site: BuiltSite) -> Iterator[str]:
    yield from _serve(demo_site.site)


@pytest.fixture(scope="session")
def large_url(large_site: BuiltSite) -> Iterator[str]:
    yield from _serve(large_site.site)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = paths.home() / "screenshots" / "site"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Console:
    """Console errors, page errors, failed requests and dialogs of one page."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on(
            "console",
            lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # ERR_ABORTED is a request cut short by the next navigation (the search index loading), not a fault.
        page.on(
            "requestfailed",
            lambda r: None if "ERR_ABORTED" in (r.failure or "") else self.problems.append(f"request failed: {r.url}"),
        )
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))


@pytest.fixture
def page(browser) -> Iterator[tuple[object, Console]]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    console = Console(tab)
    yield tab, console
    context.close()
