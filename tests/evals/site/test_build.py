"""The generated site from the demo-like tables and from 2,000 synthetic models (no browser)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import polars as pl
import pytest

from evals.catalog.suites import load_catalog
from evals.site.generate import generate_site
from evals.site.snapshot import SiteDataError
from evals.warehouse.queue import QueueEvent, record
from tests.evals.site.conftest import LARGE_MODELS
from tests.evals.site.sites import BuiltSite
from tests.evals.site.warehouses import BROKEN_REASON, DEMO_MODELS, FORMULA, QUEUE, TEST_MODELS, XSS_NAME


def _board(site: Path) -> dict:
    text = (site / "assets" / "slmb" / "board.js").read_text(encoding="utf-8")
    return json.loads(text.removeprefix("window.SLMB_BOARD = ").rstrip().removesuffix(";"))


def test_demo_site_has_every_page(demo_site: BuiltSite) -> None:
    for page in (
        "index.html",
        "charts/index.html",
        "compare/index.html",
        "methodology/index.html",
        "submit/index.html",
        "data/index.html",
    ):
        assert (demo_site.site / page).is_file(), page
    assert len(list((demo_site.site / "models").glob("*/index.html"))) == len(DEMO_MODELS)
    for table in ("leaderboard", "models", "runs", "scores", "edge"):
        for fmt in ("csv", "parquet", "json"):
            assert (demo_site.site / "tables" / f"{table}.{fmt}").stat().st_size > 0


def test_submitted_strings_are_escaped_everywhere(demo_site: BuiltSite) -> None:
    raw = re.compile(r"<img src=x|<script>alert", re.IGNORECASE)
    for html in demo_site.site.rglob("*.html"):
        assert not raw.search(html.read_text(encoding="utf-8")), html
    # The name still reaches the data the scripts read, as data.
    assert XSS_NAME in {row[2] for row in _board(demo_site.site)["rows"]}


def test_model_pages_show_the_isolation_their_code_ran_under(demo_site: BuiltSite) -> None:
    rows = {}
    for page in (demo_site.pages / "models").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        name = unescape(re.search(r"<h1>(.*?)</h1>", text).group(1))  # type: ignore[union-attr]
        rows[name] = re.search(r"<tr><td>Code sandbox isolation</td>(.*?)</tr>", text).group(1)  # type: ignore[union-attr]
    assert rows["SLMB-Demo-Trained"] == "<td>full</td>" * 3  # its suite ran slmb_code on every variant
    assert rows["stories260K"] == "<td>—</td>"  # no code task ran: nothing to record


def test_csv_downloads_hold_no_formula_a_spreadsheet_would_run(demo_site: BuiltSite) -> None:
    tables = demo_site.site / "tables"
    for csv in tables.glob("*.csv"):
        frame = pl.read_csv(csv, infer_schema=False)  # every cell as the text a spreadsheet sees
        text_columns = [c for c, t in pl.read_parquet_schema(csv.with_suffix(".parquet")).items() if t == pl.String]
        for column in text_columns:  # (a negative number is a number, not a formula)
            cells = frame[column].drop_nulls()
            assert not cells.str.contains(r"^[=+\-@\t\r]").any(), (csv.name, column)
    assert "'" + FORMULA in pl.read_csv(tables / "runs.csv", infer_schema=False)["submitted_by"].to_list()
    assert FORMULA in pl.read_parquet(tables / "runs.parquet")["submitted_by"].to_list()  # raw value kept


def test_the_submissions_page_lists_every_submission_in_its_state(demo_site: BuiltSite) -> None:
    html = (demo_site.site / "submissions" / "index.html").read_text(encoding="utf-8")
    sections = {
        state: unescape(re.sub(r"<[^>]+>", " ", table))
        for state, table in re.findall(
            r'<table class="slmb-table slmb-queue" id="slmb-queue-(\w+)">(.*?)</table>', html
        )
    }
    for path, (state, _) in QUEUE.items():
        assert path in sections[state], (path, state)
    assert "7 of 20 units (35%)" in sections["running"]
    # the reason in one line, escaped; the report beside it
    assert " ".join(BROKEN_REASON.split()) in sections["failed"]
    assert "&lt;script&gt;alert(3)" in html and "<script>alert(3)" not in html
    for attempt in ("fr-broken", "fr-noweights", "fr-mid-first"):  # Mid-900M's failed first run stays linked
        assert f'href="../failures/{attempt}/"' in html
    report = unescape((demo_site.site / "failures" / "fr-broken" / "index.html").read_text(encoding="utf-8"))
    assert "expect_column_values_to_be_between" in report and "<b>1.7</b> > 1" in report
    assert "second line" in report  # the whole reason, not its first line


def test_test_models_are_marked_in_the_board_and_the_registry(demo_site: BuiltSite) -> None:
    board = _board(demo_site.site)
    marked = {row[board["fields"].index("model")] for row in board["rows"] if row[board["fields"].index("test_model")]}
    assert marked == TEST_MODELS
    models = pl.read_parquet(demo_site.site / "tables" / "models.parquet")
    assert set(models.filter(pl.col("test_model"))["name"].to_list()) == TEST_MODELS


def test_nothing_loads_from_the_network(demo_site: BuiltSite) -> None:
    for html in demo_site.site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", text), html
        assert "fonts.googleapis" not in text


def test_methodology_comes_from_the_catalog_and_scoring(demo_site: BuiltSite) -> None:
    text = unescape((demo_site.site / "methodology" / "index.html").read_text(encoding="utf-8"))
    catalog = load_catalog()
    for name, task in catalog.tasks.items():
        assert name in text and task.metric in text
    for category in catalog.categories.values():
        assert f"{100 * category.weight:.0f}%" in text
    assert "Baseline-normalized scores" in text and "tokens_per_s" in text
    # what counts in Safety, and why BBQ's bias scores do not
    assert "What counts in Safety" in text and "amb_bias_score" in text and "scores a perfect 0" in text


def test_submit_page_renders_the_contract(demo_site: BuiltSite) -> None:
    html = (demo_site.site / "submit" / "index.html").read_text(encoding="utf-8")
    text = unescape(re.sub(r"<[^>]+>", "", html))  # code blocks are split into highlighted spans
    assert "quantizations" in text and "hf_repo" in text and "gguf_file" in text
    assert "slmbench publish" in text


def test_a_chosen_version_is_built_as_it_was(tmp_path: Path) -> None:
    import polars as pl

    from benchmarks.synthetic import publish_bulk, run_frames
    from tests.evals.site.warehouses import demo_like

    warehouse = str(tmp_path / "warehouse")
    demo_like(warehouse)
    frames = run_frames(run_id="late-run", model_name="Late-Model", variants=["Late-Model--FP16"])
    frames["runs"] = frames["runs"].with_columns(status=pl.lit("published"))
    publish_bulk(warehouse, frames)
    # after leaderboard v1: in the queue of the latest site only
    assert record(warehouse, QueueEvent("failed", "models/submissions/later.yaml", flow_run_id="fr-late", detail="x"))
    old = generate_site(warehouse, tmp_path / "old", version=0)
    new = generate_site(warehouse, tmp_path / "new")
    assert (old.models, new.models) == (len(DEMO_MODELS), len(DEMO_MODELS) + 1)
    assert not (tmp_path / "old" / "models" / "late-model.md").exists()
    assert "later.yaml" not in (tmp_path / "old" / "submissions.md").read_text()
    assert "later.yaml" in (tmp_path / "new" / "submissions.md").read_text()
    with pytest.raises(SiteDataError, match="versions 0 to"):
        generate_site(warehouse, tmp_path / "bad", version=99)


def test_empty_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SiteDataError, match="publish a run first"):
        generate_site(str(tmp_path / "none"), tmp_path / "pages")


def test_refuses_to_empty_a_folder_it_did_not_make(demo_site: BuiltSite, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(SiteDataError, match="not made by the site generator"):
        generate_site(demo_site.warehouse, tmp_path)
    assert (tmp_path / "mine.txt").exists()


def test_large_site(large_site: BuiltSite) -> None:
    assert len(_board(large_site.site)["rows"]) == LARGE_MODELS
    assert len(list((large_site.site / "models").iterdir())) == LARGE_MODELS
    print(f"\n{LARGE_MODELS:,}-model site: generate + mkdocs build {large_site.seconds:.1f} s")


def _items_index(page: Path) -> dict:
    found = re.search(r'<script type="application/json" id="slmb-items-index">(.*?)</script>', page.read_text("utf-8"))
    return json.loads(found.group(1))  # type: ignore[union-attr]


def test_item_files_hold_every_item_of_the_scored_filter_and_stay_out_of_the_page(demo_site: BuiltSite) -> None:
    import gzip

    from evals.warehouse.storage import read_table
    from tests.evals.site.warehouses import HOSTILE_PROMPTS, ITEMS

    catalog = load_catalog()
    samples = read_table(demo_site.warehouse, "samples")
    page = demo_site.site / "models" / "slmb-demo-trained" / "index.html"
    index = _items_index(page)
    assert index["base"] == "../../samples/slmb-demo-trained/"
    assert sorted(index["tasks"]) == sorted(DEMO_MODELS[0][4]) and len(index["tasks"]["slmb_arith"]) == 3
    for task, variants in index["tasks"].items():
        for variant, (name, n, right) in variants.items():
            body = json.loads(gzip.decompress((page.parent / index["base"] / name).read_bytes()))
            rows = samples.filter(
                (pl.col("variant_id") == variant)
                & (pl.col("task") == task)
                & (pl.col("filter") == catalog.tasks[task].filter)
            )
            assert body["n"] == n == rows.height == ITEMS and len(body["items"]) == n
            assert right == rows["correct"].sum() and body["metric"] == catalog.tasks[task].metric
            items = [dict(zip(body["fields"], item, strict=True)) for item in body["items"]]
            assert [i["doc_id"] for i in items] == sorted(rows["doc_id"].to_list())
            assert {i["prompt"] for i in items} == set(rows["prompt"].to_list())  # exact text, escaped only as JSON
    # the page holds the index, never the items: a long prompt stays in its file
    assert HOSTILE_PROMPTS[3][:200] not in page.read_text("utf-8") and page.stat().st_size < 200_000


def test_every_task_score_has_a_reproduce_box(demo_site: BuiltSite) -> None:
    html = (demo_site.site / "models" / "slmb-demo-trained" / "index.html").read_text("utf-8")
    boxes = re.findall(r'<section class="slmb-repro" id="(repro-[^"]+)"', html)
    assert len(boxes) == len(DEMO_MODELS[0][4]) * 3 == len(set(boxes))  # tasks x variants, one each
    for anchor in boxes:
        assert f'href="#{anchor}"' in html  # linked from its score
    fp32 = re.search(r'id="repro-slmb-facts--slmb-demo-trained-fp32".*?</section>', html).group(0)  # type: ignore[union-attr]
    assert "lm_eval --model hf" in unescape(fp32) and "slmbench run" in fp32
    q4 = re.search(r'id="repro-slmb-facts--slmb-demo-trained-q4-k-m".*?</section>', html).group(0)  # type: ignore[union-attr]
    assert "lm_eval --model" not in q4 and "llama.cpp" in q4 and "slmbench run" in q4
