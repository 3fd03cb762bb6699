"""A benchmark run of a pull request's submission cannot be pointed at the worker's own files.

The receiver checks this before it starts a run; the flow checks it again, because a run
can also be started from the Prefect UI with a PR's text, and a worker must not trust that
the receiver ran first. The check reads the text only: no path on the worker is looked at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.submission import SubmissionError
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
    assert not (tmp_path / "run").exists() and not (tmp_path / "wh").exists()
