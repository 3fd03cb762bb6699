"""Paired comparisons where readers see them (issue 21 §3-§4), in headless Chromium.

Rank ranges on the board, the compare page's paired table and forest plot, the Items panel's
paired summary, the model page and the methodology page, on the demo-like site. Expected
values come from the warehouse and ``evals.comparisons``, not from the page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import polars as pl
import pytest

from evals.comparisons import paired_difference
from tests.evals.site.sites import BuiltSite
from tests.evals.site.test_browser import FP32, Q4, TRAINED, _cards, _items_ready, _open, _samples

Q8 = "SLMB-Demo-Trained--Q8_0"


@pytest.fixture(scope="module")
def board(demo_site: BuiltSite) -> pl.DataFrame:
    from evals.warehouse.storage import read_table

    return read_table(demo_site.warehouse, "leaderboard").sort("rank")


def _expected(demo_site: BuiltSite, a: str, b: str, task: str):  # type: ignore[no-untyped-def]
    x, y = _samples(demo_site, a, task), _samples(demo_site, b, task)
    return paired_difference(x["correct"].cast(float).to_numpy(), y["correct"].cast(float).to_numpy())


def test_the_board_shows_each_rank_with_its_range(page, demo_url: str, board, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    shown = tab.eval_on_selector_all(
        "#slmb-table tbody tr",
        "rows => rows.map(r => [r.dataset.variant, r.querySelector('td:nth-child(3)').textContent])",
    )
    expected = {
        r["variant_id"]: f"{r['rank']} ({r['rank_lo']}–{r['rank_hi']})"
        if r["rank_lo"] != r["rank_hi"]
        else f"{r['rank']} ({r['rank_lo']})"
        for r in board.iter_rows(named=True)
    }
    assert shown and all(text == expected[variant] for variant, text in shown)
    assert any(r["rank_lo"] != r["rank_hi"] for r in board.iter_rows(named=True))  # some rows are tied
    tab.screenshot(path=screenshots / "paired-board.png", full_page=True)
    assert console.problems == []


def test_compare_page_shows_the_paired_differences_and_links_the_items(  # type: ignore[no-untyped-def]
    page, demo_url: str, demo_site: BuiltSite, board, screenshots: Path
) -> None:
    tab, console = page
    _open(tab, demo_url + "compare/?" + urlencode({"m": "SLMB-Demo-Trained"}), "#slmb-pair[data-ready='true']")
    rows = {r["variant_id"]: r for r in board.iter_rows(named=True)}
    tab.select_option("#slmb-pair-a", str(rows[FP32]["rank"]))
    tab.select_option("#slmb-pair-b", str(rows[Q4]["rank"]))
    tab.wait_for_selector("#slmb-pair[data-ready='true'] #slmb-pair-table")
    cells = tab.eval_on_selector_all(
        "#slmb-pair-table tbody tr", "rows => rows.map(r => [r.dataset.task, ...[...r.cells].map(c => c.textContent)])"
    )
    by_task = {row[0]: row[2:] for row in cells}
    assert "aggregate" in by_task and "slmb_facts" in by_task
    facts = _expected(demo_site, FP32, Q4, "slmb_facts")
    diff, interval, p, only_a, only_b = by_task["slmb_facts"][:5]
    assert float(diff) == pytest.approx(100 * facts.difference, abs=0.05)
    assert interval == f"[{100 * facts.ci_low:+.1f}, {100 * facts.ci_high:+.1f}]".replace("+-", "-")
    assert float(p.lstrip("<")) == pytest.approx(facts.p_value, rel=0.05)
    assert (int(only_a), int(only_b)) == (facts.only_a, facts.only_b)
    # the aggregate difference is the two rows' aggregates apart
    assert float(by_task["aggregate"][0]) == pytest.approx(rows[FP32]["aggregate"] - rows[Q4]["aggregate"], abs=0.05)
    # a forest plot: one line per task and the aggregate
    assert tab.locator("svg.slmb-forest g[data-task]").count() == len(by_task)
    tab.locator("#slmb-pair").scroll_into_view_if_needed()
    tab.screenshot(path=screenshots / "paired-compare.png", full_page=True)

    # "only A right" opens those items in the Items panel's compare mode
    link = tab.locator("#slmb-pair-table tr[data-task='slmb_facts'] td:nth-child(5) a")
    query = parse_qs(urlparse(link.get_attribute("href")).query)
    assert query == {"task": ["slmb_facts"], "a": [FP32], "b": [Q4], "show": ["a-only"]}
    link.click()
    _items_ready(tab, "slmb_facts", FP32, Q4)
    assert len(_cards(tab)) == facts.only_a
    assert console.problems == []


def test_items_compare_mode_states_the_paired_test(
    page, demo_url: str, demo_site: BuiltSite, screenshots: Path
) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    tab.goto(demo_url + TRAINED + "?" + urlencode({"task": "slmb_facts", "a": FP32, "b": Q4}) + "#items")
    _items_ready(tab, "slmb_facts", FP32, Q4)
    tab.wait_for_selector("#slmb-items-paired:not([hidden]) a")
    facts = _expected(demo_site, FP32, Q4, "slmb_facts")
    text = tab.inner_text("#slmb-items-paired")
    assert f"only FP32 right: {facts.only_a}" in text and f"only Q4_K_M right: {facts.only_b}" in text
    assert "exact McNemar" in text and f"{100 * facts.difference:+.1f} points" in text
    tab.click("#slmb-items-paired a[data-show='b-only']")
    assert len(_cards(tab)) == facts.only_b
    tab.evaluate("document.getElementById('slmb-items').scrollIntoView()")
    tab.screenshot(path=screenshots / "paired-items.png")
    assert console.problems == []


def test_model_and_methodology_pages_show_ranges_intervals_and_detectable_differences(  # type: ignore[no-untyped-def]
    page, demo_url: str, board, screenshots: Path
) -> None:
    tab, console = page
    tab.goto(demo_url + TRAINED)
    text = tab.inner_text("article")
    fp32 = board.filter(pl.col("variant_id") == FP32).row(0, named=True)
    assert f"{fp32['rank']} ({fp32['rank_lo']}" in text
    assert "Change, points (paired 95% interval)" in text and ("significant" in text or "within noise" in text)
    assert "Detects" in text and " pts" in text
    tab.screenshot(path=screenshots / "paired-model.png", full_page=True)

    tab.goto(demo_url + "methodology/")
    text = tab.inner_text("article")
    assert (
        "Paired comparisons, worked" in text
        and "exact McNemar p-value is 2 x P(X <= 0), X ~ Bin(3, 1/2) = 0.250" in text
    )
    assert "the error is 17.7 points" in text and "18.3 points" in text  # clustered and naive, by hand in the tests
    assert "What a task can tell apart" in text and "tells apart differences of" in text
    assert "Holm" in text
    tab.locator("h2:text-is('Paired comparisons, worked')").scroll_into_view_if_needed()
    tab.screenshot(path=screenshots / "paired-methodology.png", full_page=True)
    assert console.problems == []
