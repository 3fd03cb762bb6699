"""The built site in headless Chromium, served from 127.0.0.1: what a visitor sees and does."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlparse

from tests.evals.site.conftest import LARGE_MODELS, Console
from tests.evals.site.warehouses import TITLE_BREAKER, XSS_NAME

READY = "#slmb-table[data-ready='true']"


def _open(tab, url: str, ready: str = READY) -> None:  # type: ignore[no-untyped-def]
    tab.goto(url)
    tab.wait_for_selector(ready)


def _column(tab, index: int) -> list[str]:  # type: ignore[no-untyped-def]
    return tab.eval_on_selector_all(
        f"#slmb-table tbody tr td:nth-child({index})", "cells => cells.map(c => c.textContent)"
    )


def _header_index(tab, key: str) -> int:  # type: ignore[no-untyped-def]
    keys = tab.eval_on_selector_all("#slmb-table thead th:not([hidden])", "ths => ths.map(th => th.dataset.key)")
    return keys.index(key) + 1


def _sort(tab, key: str) -> None:  # type: ignore[no-untyped-def]
    tab.click(f"#slmb-table thead th[data-key='{key}'] button")


def test_leaderboard_sorts_numbers_and_puts_missing_last(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    # each rank with the range the paired tests allow: "3 (1–7)"
    assert [c.split(" ")[0] for c in _column(tab, _header_index(tab, "rank"))[:3]] == ["1", "2", "3"]
    tab.screenshot(path=screenshots / "leaderboard.png", full_page=True)

    params = _header_index(tab, "parameters")
    _sort(tab, "parameters")  # numbers sort descending first: 1.5B above 900M, though "9" > "1" as text
    labels = list(dict.fromkeys(_column(tab, params)))
    assert labels == ["1.5B", "900M", "120M", "50M", "3.7M"]  # stories260K (260K) is a test model: hidden
    _sort(tab, "parameters")
    assert list(dict.fromkeys(_column(tab, params))) == labels[::-1]
    assert "sort=parameters" in tab.url and "dir=asc" in tab.url

    speed = _header_index(tab, "tokens_per_s")
    for _ in range(2):  # both directions: measured values first, "—" last
        _sort(tab, "tokens_per_s")
        values = _column(tab, speed)
        measured = [v for v in values if v != "—"]
        assert measured and values[: len(measured)] == measured
        assert all("." in v and len(v.split(".")[1]) == 1 for v in measured)  # fixed precision
    assert console.problems == []


def test_search_and_filters_live_in_the_address(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    model = _header_index(tab, "model")
    tab.fill("#slmb-q", "demo-trained")
    tab.wait_for_function("document.querySelectorAll('#slmb-table tbody tr').length === 3")
    assert set(_column(tab, model)) == {"SLMB-Demo-Trained"}
    assert "search=demo-trained" in tab.url  # not "q": mkdocs-material opens its own search on it

    tab.fill("#slmb-q", "")
    tab.select_option("#slmb-quant", "Q4_K_M")
    tab.select_option("#slmb-size", "<100M")
    # the search box applies its input after a short debounce: wait for the view, don't race it
    tab.wait_for_function(
        "!location.search.includes('search=') && document.querySelectorAll('#slmb-table tbody tr').length === 2"
    )
    rows = tab.locator("#slmb-table tbody tr")
    assert rows.count() == 2  # the two demo models' Q4_K_M; Tiny-Edge-120M is 100-500M
    query = parse_qs(urlparse(tab.url).query)
    assert query == {"quant": ["Q4_K_M"], "size": ["<100M"]}

    shared = tab.url  # a second visitor opening the shared address sees the same view
    other = tab.context.new_page()
    _open(other, shared)
    assert other.locator("#slmb-table tbody tr").count() == 2
    assert other.input_value("#slmb-quant") == "Q4_K_M"
    other.close()

    _open(tab, demo_url + "?backend=llamacpp&cat=coding")
    assert tab.input_value("#slmb-backend") == "llamacpp"
    backends = _column(tab, _header_index(tab, "backend"))
    assert backends and set(backends) == {"llamacpp"}
    coding = _column(tab, _header_index(tab, "score_coding"))
    assert "—" not in coding and coding == sorted(coding, key=float, reverse=True)
    tab.screenshot(path=screenshots / "leaderboard-filtered.png", full_page=True)
    tab.click("#slmb-reset")
    assert urlparse(tab.url).query == ""
    assert console.problems == []


def test_dark_mode(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert tab.evaluate(scheme) == "default"
    tab.click("label[for='__palette_1']")
    tab.wait_for_function(f"{scheme} === 'slate'")
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    tab.screenshot(path=screenshots / "leaderboard-dark.png", full_page=True)
    assert console.problems == []


def test_submitted_markup_stays_text(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    assert tab.locator("#slmb-table a", has_text=XSS_NAME).count() == 1
    assert tab.locator("img[src='x']").count() == 0
    tab.click(f"#slmb-table a:text-is('{XSS_NAME}')")
    tab.wait_for_load_state("load")
    assert tab.inner_text("h1") == XSS_NAME
    assert tab.title().startswith(XSS_NAME)
    assert tab.locator("article img[src='x']").count() == 0
    tab.screenshot(path=screenshots / "model-xss.png", full_page=True)
    tab.goto(demo_url + "charts/")
    tab.goto(demo_url + "compare/?m=" + quote(XSS_NAME) + "&m=" + quote(TITLE_BREAKER))
    tab.wait_for_selector("#slmb-compare-table thead")
    assert tab.locator("#slmb-compare-table thead a").all_inner_texts() == [XSS_NAME, TITLE_BREAKER]
    assert console.dialogs == []  # no alert() ran anywhere
    assert console.problems == []


def test_model_page(page, demo_url: str, demo_site, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url)
    tab.click("#slmb-table a:text-is('SLMB-Demo-Trained')")
    tab.wait_for_load_state("load")
    assert tab.inner_text("h1") == "SLMB-Demo-Trained"
    text = tab.inner_text("article")
    for heading in ("Variants", "Quantization retention", "Task scores", "Edge figures", "Provenance", "Downloads"):
        assert heading in text
    # Q8_0's retention, as the published tables give it
    from evals.scoring import default_spec
    from evals.site.snapshot import read_snapshot
    from evals.site.text import percent
    from evals.site.views import retention

    snapshot = read_snapshot(demo_site.warehouse)
    kept = retention(snapshot.runs, snapshot.scores, default_spec(), snapshot.items)
    q8 = kept.filter(kept["variant_id"].str.ends_with("--Q8_0"))
    assert q8.height and percent(q8["retention"][0], "retention") in text
    # a task's error is its items' (scoring rule 6): FP32's slmb_arith items, none sharing a cluster
    from evals.comparisons import clustered_variance

    items = _samples(demo_site, FP32, "slmb_arith")["correct"].cast(float).to_list()
    assert "slmb_arith" in text and f"± {100 * clustered_variance(items) ** 0.5:.1f}" in text
    assert "demo-run-0" in text and "1234" in text
    download = tab.get_attribute("a:text-is('Raw results, JSON')", "href")
    assert tab.request.get(urlparse(tab.url)._replace(path=urlparse(tab.url).path + download).geturl()).ok
    tab.screenshot(path=screenshots / "model.png", full_page=True)
    assert console.problems == []


def test_compare_page(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, demo_url + "?tests=show")  # stories260K is a test model
    for name in ("SLMB-Demo-Trained", "stories260K"):
        tab.check(f"#slmb-table tr:has(a:text-is('{name}')) input[type=checkbox] >> nth=0")
    tab.click("#slmb-compare")
    tab.wait_for_selector("#slmb-compare-table thead")
    assert parse_qs(urlparse(tab.url).query)["m"] == ["SLMB-Demo-Trained", "stories260K"]
    headers = tab.locator("#slmb-compare-table thead a").all_inner_texts()
    assert headers == ["SLMB-Demo-Trained"] * 3 + ["stories260K"]
    tab.fill("#slmb-pick", "Mid-900M")
    tab.click("#slmb-add")
    assert tab.locator("#slmb-compare-table thead a").count() == 5
    assert tab.locator("#slmb-compare-table .slmb-best").count() > 0
    tab.screenshot(path=screenshots / "compare.png", full_page=True)
    assert console.problems == []


def test_every_page_loads_without_console_errors(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    for path in ("charts/", "methodology/", "submit/", "data/"):
        tab.goto(demo_url + path)
        tab.wait_for_load_state("load")
        tab.screenshot(path=screenshots / f"{path.strip('/')}.png", full_page=True)
    tab.goto(demo_url + "charts/")
    assert tab.locator("svg circle.slmb-pt").count() > 0
    assert tab.locator("svg polyline.slmb-front").count() == 1
    assert console.problems == []


def test_large_leaderboard_draws_200_rows_then_the_rest(page, large_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    tab, console = page
    _open(tab, large_url)
    ready_ms = tab.evaluate("performance.getEntriesByName('slmb-ready')[0].startTime")
    assert tab.locator("#slmb-table tbody tr").count() == 200  # drawn at once; the rest on request
    assert f"of {LARGE_MODELS:,} variants" in tab.inner_text("#slmb-count")
    tab.click("#slmb-more")
    assert tab.locator("#slmb-table tbody tr").count() == LARGE_MODELS
    tab.screenshot(path=screenshots / "leaderboard-2000.png")
    # how fast is benchmarks/site_build.py's question (timed tests flake); here: the page marks itself ready
    print(f"\n{LARGE_MODELS:,} models: table interactive {ready_ms:.0f} ms after navigation start")
    assert ready_ms > 0
    assert console.problems == []


# --- the item browser and the reproduce boxes of a model page

TRAINED = "models/slmb-demo-trained/"
FP32, Q4 = "SLMB-Demo-Trained--FP32", "SLMB-Demo-Trained--Q4_K_M"


def _items_ready(tab, task: str, a: str, b: str = "") -> None:  # type: ignore[no-untyped-def]
    tab.wait_for_selector(f"#slmb-items[data-ready='{task}|{a}|{b}']", state="attached")


def _cards(tab) -> list[dict]:  # type: ignore[no-untyped-def]
    return tab.eval_on_selector_all(
        "#slmb-items-list article.slmb-item",
        "cards => cards.map(c => ({doc: c.dataset.doc, rank: Number(c.dataset.rank), text: c.innerText}))",
    )


def _samples(site, variant: str, task: str):  # type: ignore[no-untyped-def]
    import polars as pl

    from evals.warehouse.storage import read_table

    rows = read_table(site.warehouse, "samples").filter((pl.col("variant_id") == variant) & (pl.col("task") == task))
    return rows.sort("doc_id")


def test_items_load_only_when_their_task_is_opened_and_filter_by_verdict_category_and_search(  # type: ignore[no-untyped-def]
    page, demo_url: str, demo_site
) -> None:
    tab, console = page
    requested: list[str] = []
    tab.on("request", lambda r: requested.append(r.url))
    tab.goto(demo_url + TRAINED)
    tab.wait_for_load_state("load")
    assert "Choose a task" in tab.inner_text("#slmb-items-count")
    assert not [u for u in requested if "/samples/" in u]  # nothing fetched until a task is opened

    tab.select_option("#slmb-items-task", "slmb_facts")
    _items_ready(tab, "slmb_facts", FP32)
    assert [u.removeprefix(demo_url) for u in requested if "/samples/" in u] == [
        "samples/slmb-demo-trained/slmb-demo-trained-fp32/slmb-facts.json.gz"
    ]
    rows = _samples(demo_site, FP32, "slmb_facts")
    assert [c["doc"] for c in _cards(tab)] == [f"slmb_facts/{d}" for d in rows["doc_id"]]

    wrong = rows.filter(~rows["correct"])
    tab.select_option("#slmb-items-show", "wrong")
    shown = _cards(tab)
    assert [c["doc"] for c in shown] == [f"slmb_facts/{d}" for d in wrong["doc_id"]] and wrong.height > 0
    assert all("\u2717 wrong" in c["text"] for c in shown)
    tab.select_option("#slmb-items-show", "right")
    assert len(_cards(tab)) == rows.height - wrong.height

    tab.select_option("#slmb-items-show", "")
    tab.select_option("#slmb-items-cat", "kind 1")
    assert [c["doc"] for c in _cards(tab)] == [f"slmb_facts/{d}" for d in rows["doc_id"] if d % 3 == 1]
    tab.select_option("#slmb-items-cat", "")

    needle = rows["prompt"][5].splitlines()[-2].split()[3]  # a word of one item's own question
    expected = [d for d, p, c in rows.select("doc_id", "prompt", "choices").iter_rows() if needle in p + c]
    tab.fill("#slmb-items-q", needle.upper())  # case does not matter
    tab.wait_for_function(f"document.querySelectorAll('#slmb-items-list article').length === {len(expected)}")
    assert [c["doc"] for c in _cards(tab)] == [f"slmb_facts/{d}" for d in expected]
    assert parse_qs(urlparse(tab.url).query) == {"task": ["slmb_facts"], "a": [FP32], "q": [needle.upper()]}

    other = tab.context.new_page()  # the address is the view: a shared link opens the same items
    other.goto(tab.url)
    _items_ready(other, "slmb_facts", FP32)
    assert [c["doc"] for c in _cards(other)] == [f"slmb_facts/{d}" for d in expected]
    other.close()
    assert console.problems == []


def test_compare_mode_puts_the_items_where_two_variants_disagree_first(  # type: ignore[no-untyped-def]
    page, demo_url: str, demo_site, screenshots: Path
) -> None:
    tab, console = page
    tab.goto(demo_url + TRAINED + "?" + urlencode({"task": "slmb_facts", "a": FP32, "b": Q4}) + "#items")
    _items_ready(tab, "slmb_facts", FP32, Q4)
    a, b = _samples(demo_site, FP32, "slmb_facts"), _samples(demo_site, Q4, "slmb_facts")
    flips = [d for d, x, y in zip(a["doc_id"], a["correct"], b["correct"], strict=True) if x != y]
    assert flips  # FP32 is right where Q4_K_M is wrong on some items
    cards = _cards(tab)
    assert len(cards) == a.height
    assert [c["doc"] for c in cards[: len(flips)]] == [f"slmb_facts/{d}" for d in flips]  # disagreements first
    ranks = [c["rank"] for c in cards]
    assert ranks == sorted(ranks) and ranks[len(flips) - 1] == 0 and ranks[len(flips)] > 0
    assert "disagree" in cards[0]["text"] and "FP32" in cards[0]["text"] and "Q4_K_M" in cards[0]["text"]
    assert f"they disagree on {len(flips)}" in tab.inner_text("#slmb-items-count")
    tab.evaluate("document.getElementById('slmb-items').scrollIntoView()")
    tab.screenshot(path=screenshots / "items-compare.png")

    tab.select_option("#slmb-items-show", "a-only")
    a_only = [d for d, x, y in zip(a["doc_id"], a["correct"], b["correct"], strict=True) if x and not y]
    assert [c["doc"] for c in _cards(tab)] == [f"slmb_facts/{d}" for d in a_only]
    assert console.problems == []


def test_hostile_prompts_and_generations_stay_text(page, demo_url: str, screenshots: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.evals.site.warehouses import HOSTILE_CHOICE, HOSTILE_PROMPTS, HOSTILE_TASK, VERDICTS

    tab, console = page
    tab.goto(demo_url + TRAINED + "?" + urlencode({"task": HOSTILE_TASK, "a": FP32}) + "#items")
    _items_ready(tab, HOSTILE_TASK, FP32)
    items = tab.locator("#slmb-items-list")
    assert items.locator("img, script, b, a").count() == 0  # markup in prompts and choices made no element
    cards = _cards(tab)
    assert HOSTILE_PROMPTS[0] in cards[0]["text"] and HOSTILE_PROMPTS[1] in cards[1]["text"]
    assert HOSTILE_CHOICE.strip() in cards[0]["text"]
    # the right-to-left override and the escape character are shown as marks, not obeyed
    assert "\u202e" not in cards[2]["text"] and "\x1b" not in cards[2]["text"]
    assert "U+202E" in cards[2]["text"] and "U+001B" in cards[2]["text"]
    assert "exe.txt" in cards[2]["text"]
    # a 20,000-character line wraps inside its box: the page gains no horizontal scroll
    assert "A" * 1000 in cards[3]["text"]
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    tab.evaluate("document.getElementById('slmb-items-list').scrollIntoView()")
    tab.screenshot(path=screenshots / "items-hostile.png")

    tab.select_option("#slmb-items-task", "slmb_code")  # code items show the sandbox's verdict
    _items_ready(tab, "slmb_code", FP32)
    verdicts = tab.eval_on_selector_all(".slmb-sandbox", "nodes => nodes.map(n => n.textContent)")
    assert set(verdicts) == set(VERDICTS)
    assert "</pre><script>alert(7)</script>" in _cards(tab)[0]["text"]
    assert console.dialogs == [] and console.problems == []


def test_every_score_has_a_reproduce_box_whose_copy_button_copies_the_command(  # type: ignore[no-untyped-def]
    browser, demo_url: str, screenshots: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    tab = context.new_page()
    console = Console(tab)
    tab.goto(demo_url + TRAINED)
    tab.wait_for_load_state("load")
    box = "#repro-slmb-arith--slmb-demo-trained-fp32"
    assert not tab.is_visible(box)  # shown only when its score's link is followed
    tab.click(f"a[href='{box}']")
    assert tab.is_visible(box) and not tab.is_visible("#repro-slmb-facts--slmb-demo-trained-fp32")
    command = tab.text_content(f"{box} [data-kind='lm-eval'] code")
    assert "lm_eval --model hf" in command and "--tasks slmb_arith" in command
    tab.hover(f"{box} [data-kind='lm-eval'] pre")
    tab.click(f"{box} [data-kind='lm-eval'] [data-md-type='copy']")
    assert tab.evaluate("navigator.clipboard.readText()") == command
    tab.locator(box).screenshot(path=screenshots / "reproduce.png")

    q4 = "#repro-slmb-arith--slmb-demo-trained-q4-k-m"  # llama.cpp: no lm-eval command, and why
    tab.click(f"a[href='{q4}']")
    assert tab.locator(f"{q4} [data-kind='lm-eval']").count() == 0 and "llama.cpp" in tab.inner_text(q4)
    assert "slmbench run" in tab.text_content(f"{q4} [data-kind='slmbench'] code")
    assert console.problems == []
    context.close()


def test_a_task_named_after_an_object_property_in_the_address_finds_nothing(page, demo_url: str) -> None:  # type: ignore[no-untyped-def]
    """``?task=__proto__`` used to find Object.prototype as the task: a page error, and no item browser."""
    tab, console = page
    for name in ("__proto__", "constructor", "hasOwnProperty"):
        tab.goto(demo_url + TRAINED + "?" + urlencode({"task": name}) + "#items")
        tab.wait_for_load_state("load")
        tab.wait_for_function("document.getElementById('slmb-items-count').textContent.length > 0")
        assert "Choose a task" in tab.inner_text("#slmb-items-count")
    tab.goto(demo_url + TRAINED + "?" + urlencode({"task": "slmb_facts", "a": "__proto__", "b": "toString"}) + "#items")
    _items_ready(tab, "slmb_facts", FP32)  # the variants fall back to the page's first
    assert console.problems == []
