"""Hub submissions against a Hub stand-in on 127.0.0.1: offline unless asked, safetensors only, commit recorded.

Each check runs the CLI or the engine in a fresh process, because ``huggingface_hub`` reads
``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.evals.models.hub_standin import HubStandIn
from tests.servers import serving

ROOT = Path(__file__).resolve().parents[3]
REPO, GGUF_REPO = "slmbench-test/demo-trained", "slmbench-test/demo-trained-gguf"
# What a careless or hostile repo may also hold: neither may ever be fetched.
PICKLE, CODE = "pytorch_model.bin", "modeling_evil.py"

SUBMISSION = f"""
model:
  name: "Demo-From-Hub"
  hf_repo: "{REPO}"
  parameters: "1.7M"
  quantizations:
    - name: "FP32"
      format: "safetensors"
    - name: "Q8_0"
      format: "gguf"
      source: "{GGUF_REPO}"
      gguf_file: "demo-trained-Q8_0.gguf"
  categories: ["language"]
"""

RESOLVE = """
import json, sys
from flows import settings
settings.apply_defaults()
from contracts.submission import load_submission
from evals.models.variants import resolve_variants
print(json.dumps([v.to_dict() for v in resolve_variants(load_submission(sys.argv[1]))]))
"""


@pytest.fixture(scope="module")
def hub(demo_models: dict) -> Iterator[tuple[HubStandIn, str]]:
    model = demo_models["demo-trained"]
    standin = HubStandIn()
    standin.add_folder(REPO, Path(model.hf_dir), {PICKLE: b"\x80\x04K\x01.", CODE: b"import os\nos.system('id')\n"})
    standin.add_repo(GGUF_REPO, {"demo-trained-Q8_0.gguf": Path(model.gguf["Q8_0"]).read_bytes()})
    with serving(standin.app()) as url:
        yield standin, url


def _run(args: list[str], url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    submission = tmp_path / "hub.yaml"
    submission.write_text(SUBMISSION)
    # the user's environment, without this test session's HF_HUB_OFFLINE: the CLI's default applies
    inherited = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    environment = {**inherited, "HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf"), **env}
    return subprocess.run(
        [sys.executable, *args, str(submission)], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_a_hub_model_is_refused_offline_and_the_hub_never_asked(hub, tmp_path: Path) -> None:
    standin, url = hub
    before = len(standin.requests)
    done = _run(["-m", "flows.cli", "plan"], url, tmp_path)
    assert done.returncode != 0
    assert "HF_HUB_OFFLINE=0" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(standin.requests) == before


def test_asked_for_a_hub_model_it_fetches_safetensors_only_and_records_the_commit(hub, tmp_path: Path) -> None:
    standin, url = hub
    done = _run(["-c", RESOLVE], url, tmp_path, HF_HUB_OFFLINE="0")
    assert done.returncode == 0, done.stderr[-3000:]
    fp32, q8 = json.loads(done.stdout.strip().splitlines()[-1])
    assert fp32["revision"] == standin.repos[REPO].commit  # unpinned, yet the exact commit is on record
    assert q8["revision"] == standin.repos[GGUF_REPO].commit
    fetched = standin.fetched()
    assert PICKLE not in fetched and CODE not in fetched
    assert {"config.json", "model.safetensors", "demo-trained-Q8_0.gguf"} <= fetched
    folder = Path(fp32["path"])
    assert (folder / "model.safetensors").is_file() and not (folder / PICKLE).exists()
    # the same bytes as the local fixture, so every score a hub run gives is comparable
    assert fp32["weights_digest"] == _local_digest("demo-trained")


def test_the_plan_names_the_downloaded_variants(hub, tmp_path: Path) -> None:
    _, url = hub
    done = _run(["-m", "flows.cli", "plan", "--suite", "offline-quick"], url, tmp_path, HF_HUB_OFFLINE="0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo-from-hub--FP32" in done.stdout and "demo-from-hub--Q8_0" in done.stdout


def _local_digest(name: str) -> str:
    from evals.models.fixtures import build_all
    from evals.models.variants import weights_digest

    folder = Path(build_all()[name].hf_dir)
    return weights_digest(folder)
