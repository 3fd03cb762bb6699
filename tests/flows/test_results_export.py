"""``slmbench results``: hostile values in the tables cannot run as spreadsheet formulas or rewrite the terminal.

Rows written before the contract refused control characters may still hold them, and a name
such as ``=HYPERLINK(...)`` passes the contract; the export is where they are neutralized.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest

from benchmarks.synthetic import publish_bulk, run_frames
from flows.cli import main

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)", "+1+cmd|' /C calc'!A0", "-2+3"]
ANSI = "x\x1b[2K\rok   nothing to see"


@pytest.fixture(scope="module")
def hostile_warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("wh") / "warehouse")
    runs = [
        run_frames(run_id=f"run-{i}", model_name=name, variants=[f"m{i}--FP32"])
        for i, name in enumerate([*FORMULAS, ANSI])
    ]
    tables = {t: pl.concat([r[t] for r in runs]) for t in ("runs", "scores", "edge")}
    tables["runs"] = tables["runs"].with_columns(status=pl.lit("published"), submitted_by=pl.lit("@SUM(1+1)*cmd"))
    publish_bulk(uri, tables)
    return uri


@pytest.mark.parametrize("table", ["models", "leaderboard", "runs"])
def test_csv_export_cells_cannot_run_as_formulas(
    hostile_warehouse: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["results", table, "--warehouse", hostile_warehouse, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "@", "+", "-", "\t", "\r")], cells
    assert "'" + FORMULAS[0] in cells  # kept whole, shown as text


def test_csv_export_to_a_file_is_guarded_too(hostile_warehouse: str, tmp_path: Path) -> None:
    out = tmp_path / "models.csv"
    assert main(["results", "models", "--warehouse", hostile_warehouse, "--format", "csv", "--output", str(out)]) == 0
    assert "'@SUM(A1:A9)" in out.read_text() and "\n@SUM" not in out.read_text()


def test_table_output_shows_control_characters_escaped(
    hostile_warehouse: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["results", "models", "--warehouse", hostile_warehouse]) == 0
    out = capsys.readouterr().out
    # a wide table wraps long cells over lines: the escaped name is read back across the wrap
    unwrapped = "".join(line.split("│")[1].split("┆")[0].strip() for line in out.splitlines() if line.startswith("│"))
    assert "\x1b" not in out and "\r" not in out and "x\\x1b[2K\\x0dok" in unwrapped
