"""Planning: units, order, cache keys, groups, user suites and bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contracts.errors import UserError
from contracts.submission import parse_submission
from evals.catalog.suites import CatalogError, load_catalog, load_suite, resolve_suite
from evals.models.variants import Variant, VariantError
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions, index_tasks, make_plan

SUBMISSION = """
model:
  name: "stories260K"
  local_path: "{path}"
  parameters: "260K"
  test_model: true
  quantizations:
    - {{name: FP32, format: gguf}}
  categories: [{categories}]
"""


def _submission(path: Path, categories: str = "reasoning, coding, math, language"):
    return parse_submission(SUBMISSION.format(path=path, categories=categories))


def test_offline_plan_covers_every_task_largest_first(demo_gguf: Path) -> None:
    plan = plan_submission(_submission(demo_gguf), PlanOptions(suite="offline", limit=10, submission_path="s.yaml"))
    catalog = load_catalog()
    asked = {"reasoning", "coding", "math", "language"}
    expected = [t for t in catalog.suite("offline").tasks if catalog.tasks[t].category in asked]
    assert sorted(u.task for u in plan.units) == sorted(expected)
    assert [u.cost for u in plan.units] == sorted((u.cost for u in plan.units), reverse=True)
    assert len({u.name for u in plan.units}) == len(plan.units)
    assert all(u.variant.backend == "llamacpp" for u in plan.units)
    assert not plan.measure_edge and plan.skipped_categories == ()  # edge and safety were not asked for


def test_categories_filter_the_suite(demo_gguf: Path) -> None:
    plan = plan_submission(
        _submission(demo_gguf, "math, safety, edge"), PlanOptions(suite="offline", submission_path="s.yaml")
    )
    assert sorted(u.task for u in plan.result_units()) == ["slmb_arith", "slmb_bbq", "slmb_toxigen"]
    assert plan.measure_edge and plan.skipped_categories == ()
    quick = plan_submission(
        _submission(demo_gguf, "math, language"), PlanOptions(suite="offline-quick", submission_path="s.yaml")
    )
    assert [u.task for u in quick.result_units()] == ["slmb_yesno"]
    assert quick.skipped_categories == ("math",)  # asked for, but the suite has no math task


def test_make_plan_reads_only_its_inputs_and_names_the_expected_units() -> None:
    """Weights are located in a step of their own: planning never looks for them (this path does not exist)."""
    submission = _submission(Path("/nowhere/model.gguf"), "math, language, edge")
    catalog = load_suite("offline")
    variant = Variant("m--FP32", "m", "FP32", "llamacpp", "/nowhere/model.gguf", None, "0" * 64, None)
    plan = make_plan(submission, catalog, [variant], index_tasks(submission, catalog), PlanOptions(limit=3))
    assert {u.variant for u in plan.units} == {variant}
    assert plan.expected_units() == {"m--FP32": sorted({u.task for u in plan.units}) + ["edge"]}


def test_cache_key_changes_with_each_part_and_nothing_else(demo_gguf: Path) -> None:
    base = plan_submission(_submission(demo_gguf), PlanOptions(suite="offline", limit=10, submission_path="s.yaml"))
    again = plan_submission(_submission(demo_gguf), PlanOptions(suite="offline", limit=10, submission_path="s.yaml"))
    assert [u.cache_key for u in base.units] == [u.cache_key for u in again.units]
    unit = base.units[0]
    changed = [
        replace(unit, limit=11),
        replace(unit, seed=1),
        replace(unit, num_fewshot=3),
        replace(unit, task_config_hash="other"),
        replace(unit, backend_versions=(("lm_eval", "0.0.0"),)),
        replace(unit, variant=replace(unit.variant, weights_digest="0" * 64)),
        replace(unit, variant=replace(unit.variant, quantization="Q8_0")),
        replace(unit, dataset_revision="a" * 40),  # new upstream data: a new key
        replace(unit, dataset_revision="b" * 40),
    ]
    keys = {u.cache_key for u in changed}
    assert unit.cache_key not in keys and len(keys) == len(changed)
    # the run-only fields (cost estimate, output type) are not part of the key
    assert replace(unit, cost=1.0).cache_key == unit.cache_key


GROUP_TASK = """
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{q}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
metadata:
  version: 1
"""


def _user_suite(tmp_path: Path) -> Path:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "data.jsonl"
    data.write_text('{"q": "one", "choices": [" a", " b"], "label": 0}\n' * 3)
    for name in ("mygroup_a", "mygroup_b"):
        (tasks / f"{name}.yaml").write_text(GROUP_TASK.format(name=name, data=data))
    (tasks / "mygroup.yaml").write_text(
        "group: mygroup\ntask: [mygroup_a, mygroup_b]\naggregate_metric_list:\n  - metric: acc\n    weight_by_size: true\n"
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "tasks_dirs: [tasks]\n"
        "tasks:\n  mygroup: {lm_eval: mygroup, category: reasoning, metric: acc, num_fewshot: 0, baseline: 0.5, group: true}\n"
        "suites:\n  mine: {tasks: [mygroup, slmb_yesno]}\n"
    )
    return suite


def test_user_suite_with_a_group_from_a_tasks_dir(tmp_path: Path, demo_gguf: Path) -> None:
    suite = _user_suite(tmp_path)
    plan = plan_submission(_submission(demo_gguf), PlanOptions(suite=str(suite), submission_path="s.yaml"))
    assert sorted(u.subtask for u in plan.result_units()) == ["mygroup_a", "mygroup_b", "slmb_yesno"]
    assert {u.task for u in plan.units if u.subtask.startswith("mygroup")} == {"mygroup"}
    assert not plan.needs_builtin_tasks  # lm-eval's 15,000 built-in tasks were not indexed


def test_unknown_names_answer_did_you_mean(tmp_path: Path, demo_gguf: Path) -> None:
    with pytest.raises(CatalogError, match="did you mean 'offline'"):
        resolve_suite("ofline")
    suite = tmp_path / "s.yaml"
    suite.write_text("suites:\n  mine: {tasks: [slmb_yesnoo]}\n")
    with pytest.raises(CatalogError, match="did you mean 'slmb_yesno'"):
        plan_submission(_submission(demo_gguf), PlanOptions(suite=str(suite), submission_path="s.yaml"))


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VariantError, match="does not exist"):
        plan_submission(
            _submission(tmp_path / "nothere.gguf"), PlanOptions(suite="offline-quick", submission_path="s.yaml")
        )


def test_pickle_only_model_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    text = SUBMISSION.format(path=folder, categories="language").replace("format: gguf", "format: safetensors")
    with pytest.raises(VariantError, match="never loads pickle"):
        plan_submission(parse_submission(text), PlanOptions(suite="offline-quick", submission_path="s.yaml"))


def test_the_batch_size_applies_to_transformers_variants_only_and_is_keyed() -> None:
    submission = _submission(Path("/nowhere/model.gguf"), "language")
    catalog = load_suite("offline")
    index = index_tasks(submission, catalog)
    gguf = Variant("m--Q8_0", "m", "Q8_0", "llamacpp", "/nowhere/model.gguf", None, "0" * 64, None)
    hf = Variant("m--FP32", "m", "FP32", "transformers", "/nowhere/hf", None, "1" * 64, None)
    one = make_plan(submission, catalog, [gguf, hf], index, PlanOptions())
    eight = make_plan(submission, catalog, [gguf, hf], index, PlanOptions(batch_size=8))
    assert {(u.variant.backend, u.batch_size) for u in eight.units} == {("llamacpp", 1), ("transformers", 8)}
    keys = {u.name: u.cache_key for u in one.units}
    for unit in eight.units:  # llama.cpp's units stay cached across batch sizes; transformers' do not
        assert (keys[unit.name] == unit.cache_key) == (unit.variant.backend == "llamacpp")
    with pytest.raises(UserError, match="batch_size: must be a whole number >= 1, got 0"):
        PlanOptions(batch_size=0)


def test_a_plan_records_its_tasks_definitions() -> None:
    submission = _submission(Path("/nowhere/model.gguf"), "language")
    catalog = load_suite("offline-quick")
    variant = Variant("m--FP32", "m", "FP32", "llamacpp", "/nowhere/model.gguf", None, "0" * 64, None)
    plan = make_plan(submission, catalog, [variant], index_tasks(submission, catalog), PlanOptions())
    (yesno,) = plan.tasks
    entry = load_catalog().tasks["slmb_yesno"]
    assert (yesno.task, yesno.category, yesno.metric, yesno.filter, yesno.baseline) == (
        "slmb_yesno",
        entry.category,
        entry.metric,
        entry.filter,
        entry.baseline,
    )
    assert (yesno.user, yesno.source, yesno.files) == (False, "built-in", ())
    assert yesno.config_hash == plan.units[0].task_config_hash


def test_located_data_gives_units_their_revision_and_a_pin_needs_a_hub_dataset(demo_gguf: Path) -> None:
    from evals.catalog.task_data import TaskData

    commit = "c" * 40
    submission = _submission(demo_gguf)
    catalog = load_suite("offline-quick")
    index = index_tasks(submission, catalog)
    variants = plan_submission(submission, PlanOptions(suite="offline-quick", submission_path="s.yaml")).variants
    located = {"slmb_facts": TaskData("owner/facts", None, commit, {"test": 3})}
    plan = make_plan(submission, catalog, variants, index, PlanOptions(suite="offline-quick"), None, located)
    assert {u.subtask: u.dataset_revision for u in plan.units} == {"slmb_facts": commit, "slmb_yesno": None}
    pinned = PlanOptions(suite="offline-quick", submission_path="s.yaml", dataset_revisions=(("slmb_facts", commit),))
    with pytest.raises(CatalogError, match="'slmb_facts'.*revision.*local data"):
        plan_submission(submission, pinned)
    with pytest.raises(CatalogError, match="--dataset-revision: unknown task 'slmb_fact'.*slmb_facts"):
        plan_submission(submission, replace(pinned, dataset_revisions=(("slmb_fact", commit),)))
