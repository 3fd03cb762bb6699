"""Task data located before planning, through the real ``datasets`` hub path against a dataset hub stand-in.

Each check runs in a subprocess: ``datasets`` and ``huggingface_hub`` read ``HF_ENDPOINT``,
``HF_HOME`` and the offline switches when they are imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.catalog.hub_datasets import GATED, repos, write_hub_datasets
from tests.evals.models.dataset_standin import DatasetHubStandIn
from tests.servers import serving

TOKEN = "hf_standin_token"

# Locates the tasks named on the command line (catalog keys) and prints {lm-eval task: [repo, revision, rows]}.
LOCATE = """
import json, sys
from evals.catalog.index import TaskIndex
from evals.catalog.suites import load_suite
from evals.catalog.task_data import locate_task_data

catalog = load_suite(sys.argv[1])
entries = [(name, catalog.catalog.task(name)) for name in catalog.suite.tasks]
index = TaskIndex.for_names([e.lm_eval for _, e in entries], [str(p) for p in catalog.catalog.tasks_dirs])
data = locate_task_data(index, entries)
print(json.dumps({k: [v.path, v.revision, v.rows] for k, v in data.items()}))
"""


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hub_datasets(tmp_path_factory.mktemp("hub-datasets"))


@pytest.fixture(scope="module")
def hub(hub_folder: Path) -> Iterator[tuple[DatasetHubStandIn, str]]:
    standin = DatasetHubStandIn(hub_folder, gated=GATED, tokens=frozenset({TOKEN}))
    with serving(standin.app()) as url:
        yield standin, url


def _suite(tmp_path: Path, tasks: list[str], revisions: dict[str, str] | None = None) -> str:
    path = tmp_path / "suite.yaml"
    body = {"suites": {"hub": {"tasks": tasks}}, **({"revisions": revisions} if revisions else {})}
    path.write_text(json.dumps(body))
    return f"{path}:hub"


def _locate(
    suite: str, hf_home: Path, url: str, *, token: bool = True, offline: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": url,
        "HF_HOME": str(hf_home),
        "HF_DATASETS_OFFLINE": "1" if offline else "0",
        "HF_HUB_OFFLINE": "1" if offline else "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = TOKEN
    return subprocess.run(
        [sys.executable, "-c", LOCATE, suite], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_generated_folder_holds_every_repo_of_the_full_suite(hub_folder: Path) -> None:
    expected = set(repos())
    found = {str(p.parent.relative_to(hub_folder)) for p in hub_folder.glob("*/*/README.md")}
    assert found == expected
    assert len(list((hub_folder / "cais/mmlu").glob("*/test-*.parquet"))) == 57
    assert len(list((hub_folder / "EleutherAI/hendrycks_math").glob("*/test-*.parquet"))) == 7


@pytest.mark.slow  # a subprocess per check, each importing datasets and indexing lm-eval's tasks
def test_data_is_located_at_the_commit_the_hub_resolved_and_offline_from_the_warm_cache(
    hub: tuple[DatasetHubStandIn, str], tmp_path: Path
) -> None:
    standin, url = hub
    suite = _suite(tmp_path, ["arc_challenge", "hellaswag", "toxigen", "bbq"])
    standin.requests.clear()
    online = _locate(suite, tmp_path / "hf", url)
    assert online.returncode == 0, online.stderr
    located = json.loads(online.stdout.strip().splitlines()[-1])
    assert {k: v[1] for k, v in located.items()} == {
        "arc_challenge": standin.commit("allenai/ai2_arc"),
        "hellaswag": standin.commit("Rowan/hellaswag"),
        "toxigen": standin.commit("skg/toxigen-data"),
        "bbq": standin.commit("oskarvanderwal/bbq"),
    }
    assert located["arc_challenge"][2] == {"train": 32, "validation": 32, "test": 32}
    # What datasets asked for (printed with -s): the card, the info at the resolved commit, the listing, the files.
    print("\n".join(f"{m} {p}" for m, p in standin.requests))
    kinds = {(m, p.split("/")[1] if p.startswith("/api/") else "files") for m, p in standin.requests}
    assert ("GET", "files") in kinds and ("HEAD", "files") in kinds
    assert any(p.startswith("/api/datasets/allenai/ai2_arc/revision/") for _, p in standin.requests)
    assert any(p.endswith("ARC-Challenge/test-00000-of-00001.parquet") for _, p in standin.requests)

    standin.requests.clear()
    offline = _locate(suite, tmp_path / "hf", "http://127.0.0.1:9", offline=True)  # nothing listens there
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout.strip().splitlines()[-1]) == located
    assert standin.requests == []


@pytest.mark.slow  # a subprocess per check, each importing datasets and indexing lm-eval's tasks
def test_data_out_of_reach_is_one_line_saying_how_to_reach_it(
    hub: tuple[DatasetHubStandIn, str], tmp_path: Path
) -> None:
    _, url = hub
    gated = _locate(_suite(tmp_path, ["toxigen"]), tmp_path / "hf", url, token=False)
    assert gated.returncode != 0
    last = gated.stderr.strip().splitlines()[-1]
    assert "DatasetAccessError" in last and "skg/toxigen-data" in last and "HF_TOKEN" in last
    # Offline (the default) with a cold cache: not a hiccup to retry, but what to set
    cold = _locate(_suite(tmp_path, ["arc_challenge"]), tmp_path / "cold", url, offline=True)
    assert cold.returncode != 0
    last = cold.stderr.strip().splitlines()[-1]
    assert "DatasetAccessError" in last and "allenai/ai2_arc" in last and "HF_DATASETS_OFFLINE=0" in last


@pytest.mark.slow  # a subprocess per check, each importing datasets and indexing lm-eval's tasks
def test_a_pinned_revision_is_loaded_and_new_upstream_data_is_a_new_revision(
    hub: tuple[DatasetHubStandIn, str], tmp_path: Path
) -> None:
    standin, url = hub
    pinned = standin.commit("openai/gsm8k")
    suite = _suite(tmp_path, ["gsm8k"], {"gsm8k": pinned})
    result = _locate(suite, tmp_path / "hf", url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["gsm8k"][1] == pinned

    # Upstream changes a file: the hub resolves a new commit, and an unpinned task records it.
    folder = standin.root / "openai/gsm8k"
    backup = tmp_path / "gsm8k-backup"
    shutil.copytree(folder, backup)
    try:
        (folder / "main/test-00000-of-00001.parquet").write_bytes(
            (folder / "main/train-00000-of-00001.parquet").read_bytes()
        )
        moved = _locate(_suite(tmp_path, ["gsm8k"]), tmp_path / "hf", url)
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout.strip().splitlines()[-1])["gsm8k"][1] not in (pinned, None)
        bad = _locate(_suite(tmp_path, ["gsm8k"], {"gsm8k": "0" * 40}), tmp_path / "hf", url)
        assert bad.returncode != 0 and "openai/gsm8k" in bad.stderr.strip().splitlines()[-1]
    finally:
        shutil.rmtree(folder)
        shutil.copytree(backup, folder)


ARC_WITH_A_WRONG_SPLIT = """
task: my_arc
dataset_path: allenai/ai2_arc
dataset_name: ARC-Challenge
output_type: multiple_choice
test_split: testing
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_target: "{{choices.label.index(answerKey)}}"
doc_to_choice: "{{choices.text}}"
metric_list:
  - metric: acc
"""


@pytest.mark.slow  # a subprocess per check, each importing datasets and indexing lm-eval's tasks
def test_a_split_missing_from_the_data_fails_the_plan_naming_the_task_and_the_field(
    hub: tuple[DatasetHubStandIn, str], tmp_path: Path
) -> None:
    _, url = hub
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "my_arc.yaml").write_text(ARC_WITH_A_WRONG_SPLIT)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "tasks_dirs: [tasks]\n"
        "tasks:\n  my_arc: {lm_eval: my_arc, category: reasoning, metric: acc, baseline: 0.25}\n"
        "suites:\n  hub: {tasks: [my_arc]}\n"
    )
    result = _locate(f"{suite}:hub", tmp_path / "hf", url)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "task 'my_arc'" in last and "test_split: split 'testing' is not in its data" in last
    assert "(it has test, train, validation)" in last
