"""A benchmark run of a pull request's submission cannot be pointed at the worker's own files.

The receiver checks this before it starts a run; the flow checks it again, because a run
can also be started from the Prefect UI with a PR's text, and a worker must not trust that
the receiver ran first. The check reads the text only: no path on the worker is looked at.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from contracts.submission import SubmissionError
from evals.warehouse.queue import read_queue
from flows.benchmark import benchmark_submission

EVIL = """\
model:
  name: "Evil"
  hf_repo: "someone/evil-1b"
  local_path: "LOCAL"
  parameters: "1.1B"
  quantizations:
    - {name: FP16, format: safetensors}
"""


@pytest.mark.parametrize("local", ["/etc", "../../home", "~/.cache/huggingface"])
def test_a_pull_request_run_cannot_read_the_workers_files(local: str, tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="may not read local files outside models/submissions/"):
        benchmark_submission(
            submission_path="models/submissions/evil.yaml",
            submission_yaml=EVIL.replace("LOCAL", local),
            output_dir=str(tmp_path / "run"),
            warehouse=str(tmp_path / "wh"),
        )
    assert not (tmp_path / "run").exists()
    # nothing staged or published: the submissions queue alone records the refused run (its hook), and why
    assert [p.relative_to(tmp_path / "wh").as_posix() for p in (tmp_path / "wh").glob("*/*")] == ["staging/queue"]
    events, _, _, _ = read_queue(str(tmp_path / "wh"))
    assert "may not read local files" in events.filter(pl.col("state") == "failed")["detail"][0]
