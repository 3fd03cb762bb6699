"""Escaping, formatting and the derived views: no browser, no build."""

from __future__ import annotations

import re

import polars as pl
import pytest

from benchmarks.synthetic import run_frames
from evals.results.retention import retention as quantization_retention
from evals.scoring import default_spec
from evals.site.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Axis, Point, scatter
from evals.site.text import MISSING, csv_safe, fmt, md_text, parameters_bucket, parameters_label, percent
from evals.site.views import model_slugs, pareto_front, retention, source_url


def test_md_text_leaves_no_markup() -> None:
    text = md_text("<img src=x onerror=alert(1)> *bold* [link](x) | pipe `code`")
    assert "<" not in text and ">" not in text
    for char in "*[]|`()":
        assert char not in text


@pytest.mark.parametrize(
    ("count", "label", "bucket"),
    [
        (260_000, "260K", "<100M"),
        (3_700_000, "3.7M", "<100M"),
        (135_000_000, "135M", "100–500M"),
        (500_000_000, "500M", "0.5–1B"),
        (1_500_000_000, "1.5B", "1–3B"),
        (3_000_000_000, "3B", "1–3B"),
    ],
)
def test_parameters(count: int, label: str, bucket: str) -> None:
    assert parameters_label(count) == label
    assert parameters_bucket(count) == bucket


def test_missing_values_show_a_dash_not_zero() -> None:
    assert fmt(None, "score") == MISSING
    assert fmt(float("nan"), "score") == MISSING
    assert percent(None) == MISSING
    assert fmt(0.0, "score") == "0.0"
    assert parameters_label(None) == MISSING


def test_slugs_are_unique_and_safe() -> None:
    slugs = model_slugs(["My Model", "my-model", "<img src=x>", "Ünïcode"])
    assert len(set(slugs.values())) == 4
    assert all(s.replace("-", "").isalnum() and s.isascii() for s in slugs.values())


def test_source_url_only_for_contract_shaped_repos() -> None:
    assert source_url("owner/name", "abc123") == "https://huggingface.co/owner/name/tree/abc123"
    assert source_url("javascript:alert(1)") is None
    assert source_url("owner/name", "../../x") == "https://huggingface.co/owner/name"


def test_pareto_front() -> None:
    points = [(100.0, 50.0), (200.0, 40.0), (50.0, 60.0), (80.0, 45.0), (200.0, 30.0)]
    assert sorted(pareto_front(points)) == [0, 1, 2]


def test_pareto_front_is_drawn_as_steps_through_its_points() -> None:
    values = [(100.0, 50.0), (200.0, 40.0), (50.0, 60.0), (80.0, 45.0)]
    points = [Point(x, y, f"p{i}", None, 0) for i, (x, y) in enumerate(values)]
    x, y = Axis("x", 10.0, 1000.0, log=True), Axis("y", 0.0, 100.0)
    svg = scatter(points, x, y, "t", ["g"], front=pareto_front(values))
    line = re.search(r'<polyline class="slmb-front" points="([^"]+)"', svg)
    assert line is not None
    vertices = [tuple(map(float, v.split(","))) for v in line.group(1).split()]
    assert len(vertices) == 2 * 3 - 1  # three front points, one corner between each pair
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:], strict=False):
        assert x0 == x1 or y0 == y1  # only vertical and horizontal segments
    drawn = {(round(px), round(py)) for px, py in vertices}
    for i in (0, 1, 2):  # every front point is a vertex
        vertex = (x.scale(values[i][0], LEFT, WIDTH - RIGHT), y.scale(values[i][1], HEIGHT - BOTTOM, TOP))
        assert (round(vertex[0]), round(vertex[1])) in drawn


def test_site_retention_is_the_run_summarys_retention() -> None:
    """One definition (evals.results.retention): the site shows the overall figure the run summary shows."""
    frames = run_frames(model_name="a", variants=("a--FP32", "a--Q8_0", "a--Q4_K_M"))
    lone = run_frames(run_id="run-2", model_name="b", variants=("b--Q4_K_M",))
    runs = pl.concat([frames["runs"], lone["runs"]])
    scores = pl.concat([frames["scores"], lone["scores"]])
    spec = default_spec()
    kept = {r["variant_id"]: r for r in retention(runs, scores, spec).to_dicts()}
    table = quantization_retention(runs, scores, spec).filter(pl.col("category") == "overall")
    assert set(kept) == {"a--Q8_0", "a--Q4_K_M"}  # b has no unquantized reference in its run
    for row in table.iter_rows(named=True):
        site = kept[row["variant_id"]]
        assert site["reference_variant"] == "a--FP32" and site["retention"] == pytest.approx(row["retention_pct"] / 100)
    assert 0 < kept["a--Q4_K_M"]["retention"] < kept["a--Q8_0"]["retention"] < 1  # the frames lose per variant


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    frame = pl.DataFrame(
        {"text": ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "plain", None], "number": [1, -2, 3, 4, 5, 6, 7]}
    )
    safe = csv_safe(frame)
    assert safe["text"].to_list() == ["'=1+1", "'+1", "'-x", "'@SUM(A1)", "'\tx", "plain", None]
    assert safe["number"].to_list() == frame["number"].to_list()  # numbers are numbers, negative or not
