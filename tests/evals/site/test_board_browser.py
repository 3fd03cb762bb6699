"""The leaderboard's reader features and the submissions queue, in headless Chromium (issue 14 §3-§4).

Column picker, raw / baseline-normalized scores, pinned rows, the "for edge devices" preset,
hidden test models, navigation tabs and the queue with a failed run, on the demo-like site
(tests/evals/site/warehouses.py). Expected values come from the warehouse, not the page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest

from contracts.quantizations import FLOAT_PRECISIONS
from tests.evals.site.sites import BuiltSite
from tests.evals.site.test_browser import _open
from tests.evals.site.warehouses import BROKEN_REASON, QUEUE, TEST_MODELS


@pytest.fixture(scope="module")
def board(demo_site: BuiltSite) -> pl.DataFrame:
    from evals.warehouse.storage import read_table

    return read_table(demo_site.warehouse, "leaderboard").sort("rank")


def _tabs_shown(tab) -> None:  # type: ignore[no-untyped-def]
    """Wait for mkdocs-material's tabs to finish fading in (a screenshot otherwise catches them half drawn)."""
    tab.wait_for_function(
        "[...document.querySelectorAll('.md-tabs__link')].every(a => getComputedStyle(a).opacity >= 0.7)"
    )


def _keys(tab) -> list[str]:  # type: ignore[no-untyped-def]
    """The visible columns, in order."""
    return tab.eval_on_selector_all("#slmb-table thead th:not([hidden])", "ths => ths.map(th => th.dataset.key)")


def _column(tab, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    index = _keys(tab).index(key) + 1
    return tab.eval_on_selector_all(
        f"#slmb-table tbody tr td:nth-child({index})", "cells => cells.map(c => c.textContent)"
    )


def _variants(tab) -> list[str]:  # type: ignore[no-untyped-def]
    return tab.eval_on_selector_all("#slmb-table tbody tr", "rows => rows.map(r => r.dataset.variant)")


def _query(tab) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return parse_qs(urlparse(tab.url).query)


def test_column_picker_by_group_kept_in_the_address(
    page, demo_url: str, demo_site: BuiltSite, screenshots: Path
) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    assert "task_slmb_facts" not in _keys(tab) and "run_id" not in _keys(tab)  # tasks, provenance: on request
    tab.click("#slmb-columns")
    legends = tab.locator("#slmb-picker-body legend").all_inner_texts()
    assert [text.split()[0] for text in legends] == ["Categories", "Tasks", "Edge", "Provenance"]
    tab.check("#slmb-picker-body input[data-col='task_slmb_facts']")
    tab.uncheck("#slmb-picker-body input[data-col='score_coding']")
    tab.click("#slmb-picker-body button[data-all='provenance']")
    _tabs_shown(tab)
    tab.screenshot(path=screenshots / "leaderboard-column-picker.png", full_page=True)
    keys = _keys(tab)
    assert "task_slmb_facts" in keys and "score_coding" not in keys and {"run_id", "lm_eval", "weights"} <= set(keys)
    # a task score is the task's primary metric x 100, as the published scores table holds it
    from evals.warehouse.storage import read_table

    scores = read_table(demo_site.warehouse, "scores").filter(
        (pl.col("variant_id") == "SLMB-Demo-Trained--FP32")
        & (pl.col("task") == "slmb_facts")
        & (pl.col("metric") == "acc")
    )
    facts = dict(zip(_variants(tab), _column(tab, "task_slmb_facts"), strict=True))
    assert facts["SLMB-Demo-Trained--FP32"] == f"{100 * scores['value'][0]:.1f}"
    assert dict(zip(_variants(tab), _column(tab, "run_id"), strict=True))["SLMB-Demo-Trained--FP32"] == "demo-run-0"

    shared = tab.url
    assert "task_slmb_facts" in _query(tab)["cols"][0] and "score_coding" not in _query(tab)["cols"][0]
    other = tab.context.new_page()  # a second reader opening the shared address sees the same columns
    _open(other, shared)
    assert _keys(other) == keys
    other.close()
    tab.keyboard.press("Escape")
    assert tab.locator("#slmb-picker-body").is_hidden()
    tab.click("#slmb-reset")
    assert "task_slmb_facts" not in _keys(tab) and "score_coding" in _keys(tab) and urlparse(tab.url).query == ""
    assert console.problems == []


def test_raw_and_baseline_normalized_scores(page, demo_url: str, board: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    raw = dict(zip(_variants(tab), _column(tab, "aggregate"), strict=True))
    assert "[" in raw["SLMB-Demo-Trained--FP32"]  # the raw aggregate with its interval
    tab.select_option("#slmb-scale", "normalized")
    assert _query(tab)["scale"] == ["normalized"]
    expected = {
        r["variant_id"]: (r["aggregate_normalized"], r["normalized_reasoning"])
        for r in board.filter(~pl.col("test_model")).iter_rows(named=True)
    }
    cells = zip(_column(tab, "aggregate"), _column(tab, "score_reasoning"), strict=True)
    shown = dict(zip(_variants(tab), cells, strict=True))
    assert shown.keys() == expected.keys()
    for variant, (aggregate, reasoning) in shown.items():  # one decimal shown
        assert float(aggregate) == pytest.approx(expected[variant][0], abs=0.051), variant
        assert float(reasoning) == pytest.approx(expected[variant][1], abs=0.051), variant
        assert "[" not in aggregate  # the interval is the raw aggregate's
    # the normalized scores differ from the raw ones where a task's random baseline is above 0
    assert any(raw[v].split("[")[0] != a for v, (a, _) in shown.items())
    tab.click("#slmb-table thead th[data-key='aggregate'] button")  # sorting follows the numbers shown
    values = [float(v) for v in _column(tab, "aggregate")]
    assert values == sorted(values, reverse=True)
    tab.select_option("#slmb-scale", "")
    assert "scale" not in _query(tab) and dict(zip(_variants(tab), _column(tab, "aggregate"), strict=True)) == raw
    assert console.problems == []


def test_pinned_rows_stay_on_top_while_sorting_and_filtering(page, demo_url: str) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    pins = ["SLMB-Demo-Untrained--Q4_K_M", "Mid-900M--BF16"]  # the last-ranked row and one near the top
    for variant in pins:
        tab.click(f"#slmb-table tr[data-variant='{variant}'] .slmb-pin")
    assert _variants(tab)[:2] == pins[::-1]  # in the current order (rank): Mid-900M ranks above
    assert _query(tab)["pin"] == pins
    for key in ("parameters", "parameters", "model", "tokens_per_s"):  # both directions, text and numbers
        tab.click(f"#slmb-table thead th[data-key='{key}'] button")
        assert set(_variants(tab)[:2]) == set(pins), key
    tab.select_option("#slmb-quant", "FP16")  # a filter neither pinned row passes: they stay
    rows = _variants(tab)
    assert set(rows[:2]) == set(pins) and all(v.endswith("--FP16") for v in rows[2:]) and len(rows) > 2
    other = tab.context.new_page()
    _open(other, tab.url)  # pins travel with the address
    assert set(_variants(other)[:2]) == set(pins)
    other.close()
    tab.click("#slmb-table tr[data-variant='Mid-900M--BF16'] .slmb-pin")  # unpinned: filtered out again
    assert "Mid-900M--BF16" not in _variants(tab) and _query(tab)["pin"] == pins[:1]
    assert console.problems == []


def test_for_edge_devices_preset(page, demo_url: str, board: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    tab.click("#slmb-edge")
    assert _query(tab)["view"] == ["edge"]
    assert tab.get_attribute("#slmb-edge", "aria-pressed") == "true"
    edge = board.filter(
        ~pl.col("precision").is_in(list(FLOAT_PRECISIONS))
        & (pl.col("parameters") <= 3_000_000_000)
        & ~pl.col("test_model")
    )
    assert sorted(_variants(tab)) == sorted(edge["variant_id"].to_list()) and edge.height >= 3
    scores = _column(tab, "score_edge")  # by edge score, highest first, unmeasured last
    measured = [float(s) for s in scores if s != "—"]
    assert measured and measured == sorted(measured, reverse=True)
    assert all(s != "—" for s in scores[: len(measured)]) and all(s == "—" for s in scores[len(measured) :])
    assert {"score_edge", "tokens_per_s", "latency_ms", "peak_memory_gb"} <= set(_keys(tab))
    tab.click("#slmb-edge")
    assert "view" not in _query(tab) and len(_variants(tab)) == board.filter(~pl.col("test_model")).height
    assert console.problems == []


def test_test_models_are_hidden_until_asked_for(page, demo_url: str, board: pl.DataFrame) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    tests = board.filter(pl.col("test_model"))
    assert set(tests["model_name"].to_list()) == TEST_MODELS
    assert not set(_column(tab, "model")) & TEST_MODELS
    assert tab.is_visible("#slmb-tests-label") and tab.inner_text("#slmb-tests-count") == str(tests.height)
    assert f"{tests.height} test-model variant" in tab.inner_text("#slmb-count")
    tab.check("#slmb-tests")
    assert _query(tab)["tests"] == ["show"]
    shown = tab.locator("#slmb-table tbody tr", has=tab.locator(".slmb-test"))
    assert shown.count() == tests.height and "stories260K" in shown.first.inner_text()
    # nothing but test models in view: the table says so and offers them
    _open(tab, demo_url + "?search=stories")
    assert tab.locator("#slmb-table td.slmb-empty").count() == 1
    tab.click("#slmb-table td.slmb-empty button")
    assert _column(tab, "model")[0].startswith("stories260K")
    assert console.problems == []


def test_a_board_of_test_models_only_shows_them_marked(page, tmp_path_factory: pytest.TempPathFactory) -> None:  # type: ignore[no-untyped-def]
    """The demo publishes test models only: the table shows them, badged, instead of an empty table."""
    from tests.evals.site.conftest import _serve
    from tests.evals.site.sites import build
    from tests.evals.site.warehouses import test_models_only

    site = build(tmp_path_factory.mktemp("tests-only"), test_models_only)
    for url in _serve(site.site):
        tab, console = page
        _open(tab, url)
        assert _column(tab, "model") and all(m.startswith("stories260K") for m in _column(tab, "model"))
        assert tab.locator("#slmb-table tbody tr .slmb-test").count() == len(_column(tab, "model"))
        assert tab.is_checked("#slmb-tests")
        tab.uncheck("#slmb-tests")  # the reader can still hide them, and the address keeps it
        assert _query(tab)["tests"] == ["hide"] and tab.locator("#slmb-table td.slmb-empty").count() == 1
        assert console.problems == []


def test_every_section_is_a_tab_from_the_leaderboard(page, demo_url: str) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    tabs = tab.locator("nav.md-tabs a.md-tabs__link")
    assert [t.strip() for t in tabs.all_inner_texts()] == [
        "Leaderboard",
        "Charts",
        "Compare",
        "Methodology",
        "Submit",
        "Submissions",
        "Data",
    ]
    assert tab.is_visible("nav.md-tabs")
    tab.click("nav.md-tabs a:text-is('Methodology')")
    tab.wait_for_load_state("load")
    assert tab.inner_text("article h1").startswith("Methodology")
    assert tab.is_visible("nav.md-tabs a:text-is('Submissions')")
    assert console.problems == []


def test_the_queue_shows_a_failed_run_with_its_reason_and_report(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    tab.click("nav.md-tabs a:text-is('Submissions')")
    tab.wait_for_selector("#slmb-queue-failed")
    for path, (state, _) in QUEUE.items():
        assert tab.locator(f"#slmb-queue-{state} tr", has_text=path).count() == 1, (path, state)
    assert tab.inner_text("#slmb-queue-summary").startswith("1 running · 1 queued · 2 failed · 1 validated · 1 staged")
    broken = tab.locator("#slmb-queue-failed tr", has_text="broken-model.yaml")
    assert broken.locator(".slmb-reason").inner_text() == " ".join(BROKEN_REASON.split())  # one line, as text
    assert tab.locator("#slmb-queue-running progress").get_attribute("value") == "7"
    _tabs_shown(tab)
    tab.screenshot(path=screenshots / "submissions-failed-run.png", full_page=True)
    broken.locator("a", has_text="report").click()
    tab.wait_for_load_state("load")
    assert tab.inner_text("article h1") == "Failed run run-broken"
    assert "second line" in tab.inner_text("pre.slmb-error")
    assert tab.locator("article table.slmb-table td", has_text="expect_column_values_to_be_between").count() == 1
    assert console.dialogs == [] and console.problems == []  # the reason's <script> stayed text
