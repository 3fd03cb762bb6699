"""New kinds of variants end to end: GGUF types read from the file, and the chat template on both backends.

One submission of the trained demo model runs through the real benchmark flow (Prefect,
Ray actors, lm-eval), is published, and is built into the site:

- ``FP32``: safetensors on transformers, plain prompts;
- ``FP32`` with ``chat_template`` (and a system instruction): the same weights through
  the tokenizer's template, a row of its own;
- ``Q4_1``, by name, on llama.cpp;
- a GGUF whose name is left out and read from the file (Q5_1), with ``chat_template``:
  llama.cpp rendering the GGUF's template.

Four variants, not more: each starts its own Ray actor, the bulk of the module's time.

The transformers numbers with the template are checked against lm-eval's own CLI run with
``--apply_chat_template`` (the command ``evals.site.reproduce`` writes for a reader).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from evals.cluster.pool import ensure_ray
from evals.models.fixtures.chat_template import DEMO_CHAT_TEMPLATE
from flows.benchmark import benchmark_submission

# About three minutes on the shared 2-core box (one Ray actor per variant, then lm-eval's CLI): `make test-slow`.
# The fast tests of the same features: tests/evals/models/test_gguf_types.py, tests/evals/models/test_variants.py,
# tests/evals/results/test_frames.py, tests/evals/backends/test_chat_templates.py.
pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

LIMIT = 8
SUITE = "offline-quick"  # slmb_facts (multiple choice) and slmb_yesno
SYSTEM = "You answer quiz questions."
SUBMISSION = f"""
model:
  name: "SLMB-Demo-Variants"
  local_path: "fixture://demo-trained"
  parameters: "1.7M"
  test_model: true
  quantizations:
    - {{name: FP32, format: safetensors}}
    - {{name: FP32, format: safetensors, chat_template: {{system_instruction: "{SYSTEM}"}}}}
    - {{name: q4_1, format: gguf}}
    - {{format: gguf, gguf_file: demo-trained-Q5_1.gguf, chat_template: {{system_instruction: "{SYSTEM}"}}}}
  categories: [reasoning, language]
"""
PLAIN, CHAT, Q4_1, Q5_1_CHAT = (f"slmb-demo-variants--{v}" for v in ("FP32", "FP32--chat", "Q4_1", "Q5_1--chat"))


@pytest.fixture(scope="module")
def published(demo_models, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The run, staged and then published into a warehouse of its own, with a cache of its own."""
    import ray

    from flows.publish import publish_results

    root = tmp_path_factory.mktemp("variants")
    (root / "variants.yaml").write_text(SUBMISSION)
    saved = os.environ.get("SLMBENCH_CACHE_DIR")
    os.environ["SLMBENCH_CACHE_DIR"] = str(root / "cache")  # every unit is evaluated here, none served
    ensure_ray()
    try:
        run_id = benchmark_submission(
            submission_path=str(root / "variants.yaml"),
            suite=SUITE,
            limit=LIMIT,
            workers=1,
            threads_per_worker=1,
            output_dir=str(root / "run"),
            warehouse=str(root / "wh"),
        )
        publish_results(run_id, warehouse=str(root / "wh"), exports=str(root / "exports"), allow_limited=True)
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("SLMBENCH_CACHE_DIR")
        else:
            os.environ["SLMBENCH_CACHE_DIR"] = saved
    return {"run": root / "run", "warehouse": root / "wh", "root": root}


def _samples(run: Path, variant: str, task: str) -> list[dict]:
    lines = (run / "units" / variant / task / "samples.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda s: (s["doc_id"], s.get("filter", "")))


def test_gguf_types_are_read_from_the_files_and_recorded(published: dict[str, Path]) -> None:
    from evals.warehouse.storage import read_table

    runs = pl.read_parquet(published["run"] / "runs.parquet")
    by_variant = {r["variant_id"]: r for r in runs.iter_rows(named=True)}
    assert set(by_variant) == {PLAIN, CHAT, Q4_1, Q5_1_CHAT}
    assert by_variant[Q4_1]["precision"] == "Q4_1" and by_variant[Q5_1_CHAT]["precision"] == "Q5_1"  # from the file
    mixes = {v: json.loads(by_variant[v]["tensor_types"]) for v in (Q4_1, Q5_1_CHAT)}
    assert {t: s["tensors"] for t, s in mixes[Q5_1_CHAT].items()} == {"Q5_1": 15, "Q6_K": 1, "F32": 5}
    assert list(mixes[Q4_1]) == ["Q4_1", "Q6_K", "F32"]  # most weights first
    assert by_variant[PLAIN]["tensor_types"] is None  # safetensors
    # staged, then published with the registry's per-variant mix of every GGUF variant
    assert read_table(str(published["warehouse"]), "runs", "staging")["status"].unique().to_list() == ["staged"]
    models = read_table(str(published["warehouse"]), "models").row(0, named=True)
    assert json.loads(models["gguf_tensor_types"]) == mixes
    board = read_table(str(published["warehouse"]), "leaderboard")
    assert dict(board.select("variant_id", "precision").iter_rows()) == {
        PLAIN: "FP32",
        CHAT: "FP32",
        Q4_1: "Q4_1",
        Q5_1_CHAT: "Q5_1",
    }


def test_legacy_quantizations_score_like_full_precision(published: dict[str, Path]) -> None:
    scores = pl.read_parquet(published["run"] / "scores.parquet").filter(pl.col("metric") == "acc")
    acc = {(r["variant_id"], r["task"]): r["value"] for r in scores.iter_rows(named=True)}
    for task in ("slmb_facts", "slmb_yesno"):
        for variant, reference in ((Q4_1, PLAIN), (Q5_1_CHAT, CHAT)):
            assert abs(acc[(variant, task)] - acc[(reference, task)]) <= 3 / LIMIT, (variant, task, acc)
    retention = pl.read_parquet(published["run"] / "retention.parquet").filter(pl.col("category") == "overall")
    references = dict(retention.select("variant_id", "reference_variant_id").iter_rows())
    # a quantized variant is compared with the unquantized one that saw the same prompts
    assert references == {Q4_1: PLAIN, Q5_1_CHAT: CHAT}


def test_the_chat_template_setting_is_recorded_in_runs_scores_and_the_leaderboard(
    published: dict[str, Path],
) -> None:
    from evals.warehouse.storage import read_table

    runs = pl.read_parquet(published["run"] / "runs.parquet")
    chat = runs.filter(pl.col("chat_template")).sort("variant_id")
    assert chat["variant_id"].to_list() == [CHAT, Q5_1_CHAT]
    digest = hashlib.sha256(DEMO_CHAT_TEMPLATE.encode()).hexdigest()
    assert chat.select("chat_template_sha256", "fewshot_as_multiturn", "system_instruction").unique().rows() == [
        (digest, True, SYSTEM)
    ]
    plain = runs.filter(~pl.col("chat_template"))
    assert plain.select("chat_template_sha256", "system_instruction").unique().rows() == [(None, None)]
    scores = pl.read_parquet(published["run"] / "scores.parquet")
    assert dict(scores.select("variant_id", "chat_template").unique().iter_rows()) == {
        PLAIN: False,
        CHAT: True,
        Q4_1: False,
        Q5_1_CHAT: True,
    }
    board = read_table(str(published["warehouse"]), "leaderboard")
    same_weights = board.filter(pl.col("variant_id").is_in([PLAIN, CHAT])).sort("variant_id")
    assert same_weights.select("variant_id", "chat_template").rows() == [(PLAIN, False), (CHAT, True)]


def test_both_backends_sent_the_same_templated_prompts(published: dict[str, Path]) -> None:
    run = published["run"]
    for task in ("slmb_facts", "slmb_yesno"):
        transformers, llama = _samples(run, CHAT, task), _samples(run, Q5_1_CHAT, task)
        assert [s["arguments"] for s in transformers] == [s["arguments"] for s in llama]
        context = transformers[0]["arguments"][0][0]
        assert context.startswith(f"<|system|>\n{SYSTEM}</s>\n<|user|>\n") and context.endswith("<|assistant|>\n")
        plain = _samples(run, PLAIN, task)[0]["arguments"][0][0]
        assert "<|user|>" not in plain and plain in context  # the task's own prompt, inside the template


def test_the_transformers_numbers_with_the_template_are_lm_evals_cli(
    published: dict[str, Path], demo_models, tmp_path: Path
) -> None:
    """lm-eval's CLI, its HF model, --apply_chat_template --system_instruction: the same numbers to 1e-9."""
    from evals.catalog.pack import build_pack
    from evals.site.reproduce import lm_eval_command

    command = lm_eval_command(
        demo_models["demo-trained"].hf_dir,
        ["slmb_facts", "slmb_yesno"],
        output_path=tmp_path,
        include_paths=[build_pack()],
        limit=LIMIT,
        apply_chat_template=True,
        system_instruction=SYSTEM,
    )
    assert "--apply_chat_template" in command and command[command.index("--system_instruction") + 1] == SYSTEM
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(command, check=True, env=env, capture_output=True, text=True, timeout=600)
    cli = json.loads(next(tmp_path.rglob("results_*.json")).read_text())["results"]
    ours = pl.read_parquet(published["run"] / "scores.parquet").filter(pl.col("variant_id") == CHAT)
    assert ours.height > 0
    for row in ours.iter_rows(named=True):
        expected = cli[row["subtask"]][f"{row['metric']},{row['filter']}"]
        assert abs(row["value"] - expected) <= 1e-9, (row, expected)
    # and the template changed something: the plain variant's numbers are not these
    plain = pl.read_parquet(published["run"] / "scores.parquet").filter(pl.col("variant_id") == PLAIN)
    assert plain.sort("task", "metric")["value"].to_list() != ours.sort("task", "metric")["value"].to_list()


def test_the_reproduce_box_of_a_chat_score_gives_it_with_lm_evals_cli(
    published: dict[str, Path], demo_models, tmp_path: Path
) -> None:
    """The lm-eval command the site shows for a chat variant's score (from its runs row), run as copied."""
    from evals import paths
    from evals.catalog.pack import build_pack
    from evals.site.reproduce import PACK_DIR, PublishedScore, reproduce
    from evals.warehouse.storage import read_table

    build_pack()
    run = read_table(str(published["warehouse"]), "runs").filter(pl.col("variant_id") == CHAT).row(0, named=True)
    score = pl.read_parquet(published["run"] / "scores.parquet").filter(
        (pl.col("variant_id") == CHAT) & (pl.col("task") == "slmb_facts") & (pl.col("metric") == "acc")
    )
    value = score["value"][0]
    command = reproduce(PublishedScore(run, "slmb_facts", "slmb_facts", "acc", "none", 0, value, LIMIT, PACK_DIR))
    assert "--apply_chat_template --fewshot_as_multiturn true" in command.lm_eval and SYSTEM in command.lm_eval
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".slmbench").symlink_to(paths.home())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bash", "-c", command.lm_eval], cwd=checkout, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(next((checkout / "lm-eval-results").rglob("results_*.json")).read_text())["results"]
    assert abs(results["slmb_facts"]["acc,none"] - value) <= 1e-9, (results["slmb_facts"], value)


def test_the_site_shows_the_template_column_and_the_tensor_types(published: dict[str, Path]) -> None:
    from flows.site import build_site

    root = published["root"]
    summary = build_site(
        warehouse=str(published["warehouse"]), site_dir=str(root / "site"), pages_dir=str(root / "pages")
    )
    site = Path(summary.index).parent
    board = json.loads((site / "assets" / "slmb" / "board.js").read_text().removeprefix("window.SLMB_BOARD = ")[:-2])
    rows = [dict(zip(board["fields"], r, strict=True)) for r in board["rows"]]
    assert {(r["variant"], r["chat_template"]) for r in rows} == {
        (PLAIN, "no"),
        (CHAT, "yes"),
        (Q4_1, "no"),
        (Q5_1_CHAT, "yes"),
    }
    assert 'data-key="chat_template"' in (site / "index.html").read_text()
    page = (site / "models" / "slmb-demo-variants" / "index.html").read_text()
    assert "FP32 + chat" in page and "Q5_1 + chat" in page and "% of weights (15 tensors)" in page
    methodology = html.unescape((site / "methodology" / "index.html").read_text())
    assert "Chat templates" in methodology and CHAT in methodology and SYSTEM in methodology
