"""Site build time at 100, 1,000 and 10,000 models; leaderboard size and time to interactive in Chromium.

    python -m benchmarks.site_build [--sizes 100 1000 10000] [--browser-size 1000] [--dir /tmp/slmbench-site-bench]

For each size: published tables of N synthetic one-variant models
(``benchmarks.publish_scale``'s generator, 20 task rows and 3 edge metrics
each) and their leaderboard and registry are written in bulk (setup, not
timed). Then, in a fresh process, the two steps of the ``build_site`` flow
are timed: generating the pages and data files from the tables, and
``mkdocs build --strict``. At ``--browser-size`` models the built site is
served on 127.0.0.1 and the leaderboard page is opened in headless Chromium
(Debian's /usr/bin/chromium through Playwright) five times, each in a fresh
context (cold cache): printed are the bytes the page loads (its HTML, the
leaderboard data, our script and style, and everything mkdocs-material adds),
and the median time from navigation start until the table is sorted, drawn and
listening (the ``slmb-ready`` performance mark). Aim: under 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import time
from pathlib import Path

from benchmarks.processes import in_fresh_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _setup(uri: str, n_models: int, queue: mp.Queue) -> None:
    from benchmarks.synthetic import publish_bulk, scale_tables

    began = time.perf_counter()
    publish_bulk(uri, scale_tables(n_models))
    queue.put(time.perf_counter() - began)


def _build(uri: str, root: str, queue: mp.Queue) -> None:
    from evals.sitegen.builder import build
    from evals.sitegen.generate import generate_site

    began = time.perf_counter()
    manifest = generate_site(uri, Path(root) / "pages")
    generated = time.perf_counter()
    build(Path(root) / "pages", Path(root) / "site")
    built = time.perf_counter()
    queue.put(
        {"generate": generated - began, "mkdocs": built - generated, "pages": manifest.pages, "steps": manifest.seconds}
    )


def measure_in_browser(site: Path, loads: int = 5) -> dict[str, float]:
    """Median ready time and the bytes of the leaderboard page, over ``loads`` cold loads."""
    from playwright.sync_api import sync_playwright

    from evals.sitegen.server import serve_in_background

    server, url = serve_in_background(site)
    ready, dom, transferred = [], [], []
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector("#slmb-table[data-ready='true']")
                page.wait_for_load_state("load")
                ready.append(page.evaluate("performance.getEntriesByName('slmb-ready')[0].startTime"))
                dom.append(page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"))
                transferred.append(
                    page.evaluate(
                        "[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
                        ".reduce((sum, e) => sum + e.encodedBodySize, 0)"
                    )
                )
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "ready_ms": statistics.median(ready),
        "ready_max_ms": max(ready),
        "dom_ms": statistics.median(dom),
        "bytes": statistics.median(transferred),
        "html_bytes": (site / "index.html").stat().st_size,
        "data_bytes": (site / "assets" / "slmb" / "board.js").stat().st_size,
        "script_bytes": (site / "assets" / "slmb" / "leaderboard.js").stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--browser-size", type=int, default=1000, help="models for the browser measurement (0: skip)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/slmbench-site-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the warehouses and sites")
    args = parser.parse_args(argv)

    print(f"{'models':>8} {'setup s':>8} {'generate s':>11} {'mkdocs s':>9} {'total s':>8} {'pages':>7} {'site MB':>8}")
    for n in args.sizes:
        root = args.dir / f"site-{n}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        setup_s = in_fresh_process(_setup, str(root / "warehouse"), n)
        result = in_fresh_process(_build, str(root / "warehouse"), str(root))
        size_mb = sum(f.stat().st_size for f in (root / "site").rglob("*") if f.is_file()) / 2**20
        total = result["generate"] + result["mkdocs"]
        print(
            f"{n:>8,} {setup_s:>8.1f} {result['generate']:>11.1f} {result['mkdocs']:>9.1f} {total:>8.1f} "
            f"{result['pages']:>7,} {size_mb:>8.0f}   generate steps: {result['steps']}",
            flush=True,
        )
        if n == args.browser_size:
            if not Path(CHROMIUM).is_file():
                print(f"  browser: skipped, {CHROMIUM} is absent (apt-get install -y chromium)")
            else:
                b = measure_in_browser(root / "site")
                print(
                    f"  leaderboard at {n:,} models: table interactive after {b['ready_ms']:.0f} ms median "
                    f"(max {b['ready_max_ms']:.0f} ms, DOMContentLoaded {b['dom_ms']:.0f} ms); page loads "
                    f"{b['bytes'] / 1024:.0f} KB in all: HTML {b['html_bytes'] / 1024:.0f} KB, data "
                    f"{b['data_bytes'] / 1024:.0f} KB, script {b['script_bytes'] / 1024:.0f} KB, the rest mkdocs-material"
                )
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
