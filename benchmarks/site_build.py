"""Site build time at 100, 1,000 and 10,000 models; site size; leaderboard and model page load time in Chromium.

    python -m benchmarks.site_build [--sizes 100 1000 10000] [--browser-size 1000] [--samples-per-task 20]
                                    [--dir /tmp/slmbench-site-bench]
    python -m benchmarks.site_build --sizes --built site     # the size of a site already built (make demo's)

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

Every synthetic model also keeps ``--samples-per-task`` items per subtask
(``benchmarks.synthetic.sample_frame``: few-shot prompts, choices with
log-likelihoods or generations), so the site holds their item files (up to
``--samples-up-to`` models: 10,000 models' items take gigabytes of memory to
generate; the item files' size is linear, see the bytes per model); printed
are the site's size, the share of the item files and the bytes per model
(the same at every size when the site grows linearly). At ``--browser-size``
a model page is opened five times too, cold: the median time from navigation
start to its load event, the bytes it loads (no item file among them: they
load when a task is opened, and the run fails if one is fetched before), and
the time from opening a task to its items drawn.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _setup(uri: str, n_models: int, samples_per_task: int, queue: mp.Queue) -> None:
    from benchmarks.synthetic import publish_bulk, scale_tables

    began = time.perf_counter()
    publish_bulk(uri, scale_tables(n_models, samples_per_task=samples_per_task))
    queue.put(time.perf_counter() - began)


def _build(uri: str, root: str, queue: mp.Queue) -> None:
    from evals.site.builder import build
    from evals.site.generate import generate_site

    began = time.perf_counter()
    manifest = generate_site(uri, Path(root) / "pages")
    generated = time.perf_counter()
    build(Path(root) / "pages", Path(root) / "site")
    built = time.perf_counter()
    queue.put(
        {"generate": generated - began, "mkdocs": built - generated, "pages": manifest.pages, "steps": manifest.seconds}
    )


# Bytes a page loaded: its document and every resource, as they came over the wire.
TRANSFERRED = (
    "[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
    ".reduce((sum, e) => sum + e.encodedBodySize, 0)"
)


def _cold_loads(site: Path, loads: int, visit: Callable[[Any, str], dict[str, float]]) -> list[dict[str, float]]:
    """``visit(page, base url)`` in ``loads`` fresh browser contexts (cold caches), the site served on 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    from evals.site.server import serve_in_background

    server, url = serve_in_background(site)
    figures = []
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                figures.append(visit(context.new_page(), url))
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return figures


def _median(figures: list[dict[str, float]], key: str) -> float:
    return statistics.median(f[key] for f in figures)


def measure_in_browser(site: Path, loads: int = 5) -> dict[str, float]:
    """Median ready time and the bytes of the leaderboard page, over ``loads`` cold loads."""

    def visit(page: Any, url: str) -> dict[str, float]:
        page.goto(url)
        page.wait_for_selector("#slmb-table[data-ready='true']")
        page.wait_for_load_state("load")
        return {
            "ready": page.evaluate("performance.getEntriesByName('slmb-ready')[0].startTime"),
            "dom": page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"),
            "bytes": page.evaluate(TRANSFERRED),
        }

    figures = _cold_loads(site, loads, visit)
    return {
        "ready_ms": _median(figures, "ready"),
        "ready_max_ms": max(f["ready"] for f in figures),
        "dom_ms": _median(figures, "dom"),
        "bytes": _median(figures, "bytes"),
        "html_bytes": (site / "index.html").stat().st_size,
        "data_bytes": (site / "assets" / "slmb" / "board.js").stat().st_size,
        "script_bytes": (site / "assets" / "slmb" / "leaderboard.js").stat().st_size,
    }


def measure_model_page(site: Path, loads: int = 5) -> dict[str, float]:
    """Median load time and bytes of one model page over ``loads`` cold loads, then the time to open a task's items."""
    page_path = "models/" + sorted(p.name for p in (site / "models").iterdir())[0] + "/"

    def visit(page: Any, url: str) -> dict[str, float]:
        items: list[str] = []
        page.on("request", lambda r: items.append(r.url) if "/samples/" in r.url else None)
        page.goto(url + page_path)
        page.wait_for_load_state("load")
        if items:
            raise AssertionError(f"the model page fetched item files before a task was opened: {items}")
        figures = {
            "load": page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"),
            "bytes": page.evaluate(TRANSFERRED),
        }
        task = page.eval_on_selector("#slmb-items-task", "s => s.options[1].value")
        began = time.perf_counter()
        page.select_option("#slmb-items-task", task)
        page.wait_for_selector(f"#slmb-items[data-ready^='{task}|']", state="attached")
        return figures | {"open": 1000 * (time.perf_counter() - began)}

    figures = _cold_loads(site, loads, visit)
    return {
        "load_ms": _median(figures, "load"),
        "load_max_ms": max(f["load"] for f in figures),
        "bytes": _median(figures, "bytes"),
        "html_bytes": (site / page_path / "index.html").stat().st_size,
        "open_ms": _median(figures, "open"),
    }


def site_sizes(site: Path) -> dict[str, float]:
    """Bytes of the whole site, of its item files (samples/), and per model page."""
    files = [f for f in site.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    items = sum(f.stat().st_size for f in files if "samples" in f.relative_to(site).parts[:1])
    models = sum(1 for p in (site / "models").iterdir()) if (site / "models").is_dir() else 0
    return {"total": total, "items": items, "models": models, "files": len(files)}


def _print_sizes(label: str, sizes: dict[str, float]) -> None:
    per_model = sizes["total"] / sizes["models"] if sizes["models"] else 0.0
    print(
        f"  {label}: site {sizes['total'] / 2**20:.1f} MB in {sizes['files']:,} files, of which item files "
        f"{sizes['items'] / 2**20:.1f} MB; {sizes['models']:,} models, {per_model / 1024:.0f} KB per model",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    parser.add_argument("--browser-size", type=int, default=1000, help="models for the browser measurement (0: skip)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/slmbench-site-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the warehouses and sites")
    parser.add_argument("--samples-per-task", type=int, default=20, help="items kept per model and subtask")
    parser.add_argument("--samples-up-to", type=int, default=1000, help="no items in sites of more models")
    parser.add_argument("--built", type=Path, nargs="*", default=[], help="also print the size of these built sites")
    args = parser.parse_args(argv)
    for site in args.built:
        _print_sizes(str(site), site_sizes(site))

    if args.sizes:
        print(
            f"{'models':>8} {'setup s':>8} {'generate s':>11} {'mkdocs s':>9} {'total s':>8} {'pages':>7} {'site MB':>8}"
        )
    for n in args.sizes:
        root = args.dir / f"site-{n}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        items = args.samples_per_task if n <= args.samples_up_to else 0
        setup_s = in_fresh_process(_setup, str(root / "warehouse"), n, items)
        result = in_fresh_process(_build, str(root / "warehouse"), str(root))
        size_mb = sum(f.stat().st_size for f in (root / "site").rglob("*") if f.is_file()) / 2**20
        total = result["generate"] + result["mkdocs"]
        print(
            f"{n:>8,} {setup_s:>8.1f} {result['generate']:>11.1f} {result['mkdocs']:>9.1f} {total:>8.1f} "
            f"{result['pages']:>7,} {size_mb:>8.0f}   generate steps: {result['steps']}",
            flush=True,
        )
        _print_sizes(f"{n:,} models, {items} items per subtask", site_sizes(root / "site"))
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
                m = measure_model_page(root / "site")
                print(
                    f"  a model page at {n:,} models: loaded after {m['load_ms']:.0f} ms median (max "
                    f"{m['load_max_ms']:.0f} ms), {m['bytes'] / 1024:.0f} KB in all (HTML {m['html_bytes'] / 1024:.0f} KB), "
                    f"no item file; opening a task drew its items {m['open_ms']:.0f} ms later"
                )
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
