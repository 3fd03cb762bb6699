"""Code runs only as isolated as the operator accepts, and every run records how isolated it was.

A degraded host is made with the supported override of the probe,
``SLMBENCH_SANDBOX_ISOLATION=none`` (``none`` runs on any host), never by
patching the sandbox's internals.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.isolation import SANDBOX_MODES
from contracts.submission import load_submission
from contracts.tables import RUNS
from evals.engine.cache import UnitCache
from evals.engine.execution import execute_unit
from evals.plan.prepare import plan_submission
from evals.plan.units import PlanOptions
from evals.results.frames import RunInfo, runs_frame, weakest_isolation
from evals.sandbox import IsolationError, isolation, run_python
from evals.sandbox.probe import ISOLATION_ENV, MIN_ISOLATION_ENV

ROOT = Path(__file__).resolve().parents[3]
UNTRAINED = ROOT / "models" / "submissions" / "demo-untrained.yaml"
TRAINED = ROOT / "models" / "submissions" / "demo-trained.yaml"


@pytest.fixture
def degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose sandbox gives no isolation at all."""
    monkeypatch.setenv(ISOLATION_ENV, "none")
    monkeypatch.delenv(MIN_ISOLATION_ENV, raising=False)


def test_code_below_full_isolation_is_refused_without_an_override(degraded: None) -> None:
    with pytest.raises(IsolationError) as refused:
        run_python("print('never runs')")
    message = str(refused.value)
    assert "'none'" in message and "'full'" in message  # what the host gives, what is needed
    assert "apt-get install bubblewrap" in message  # how to get full
    assert f"{MIN_ISOLATION_ENV}=none" in message  # how to accept it on purpose


def test_the_override_accepts_the_mode_it_names(degraded: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_ISOLATION_ENV, "none")
    result = run_python("print(6 * 7)")
    assert (result.passed, result.stdout, result.isolation) == (True, "42\n", "none")


def test_an_override_to_a_stronger_mode_still_refuses_a_weaker_one(
    degraded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIN_ISOLATION_ENV, "netns")
    with pytest.raises(IsolationError, match="only with 'netns' sandbox isolation"):
        run_python("pass")


@pytest.mark.parametrize("variable", [ISOLATION_ENV, MIN_ISOLATION_ENV])
def test_an_unknown_mode_names_the_setting_and_the_modes(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "sandboxed")
    with pytest.raises(IsolationError, match=f"{variable}='sandboxed' is not a sandbox mode; use one of full, "):
        run_python("pass")


def test_the_runs_table_allows_exactly_the_sandbox_modes() -> None:
    assert RUNS.column("sandbox_isolation").allowed == SANDBOX_MODES
    assert isolation().mode in SANDBOX_MODES
    assert weakest_isolation([None, "full", "netns", None]) == "netns"
    assert weakest_isolation([None, None]) is None


def test_planning_refuses_code_tasks_before_anything_runs(degraded: None, demo_models) -> None:
    submission = load_submission(UNTRAINED)
    with pytest.raises(IsolationError, match="this host gives 'none'"):
        plan_submission(submission, PlanOptions(submission_path=str(UNTRAINED), suite="offline", limit=2))
    # a suite without code tasks plans as before
    quick = plan_submission(submission, PlanOptions(submission_path=str(UNTRAINED), suite="offline-quick", limit=2))
    assert quick.units and not any(u.executes_code for u in quick.units)


def test_a_run_records_the_isolation_its_code_had(
    degraded: None, monkeypatch: pytest.MonkeyPatch, demo_models, tmp_path: Path
) -> None:
    """Worker -> cached unit -> run report -> runs table row, end to end on the demo model."""
    from evals.engine.worker import ModelWorker

    monkeypatch.setenv(MIN_ISOLATION_ENV, "none")
    submission = load_submission(TRAINED)
    plan = plan_submission(submission, PlanOptions(submission_path=str(TRAINED), suite="offline", limit=2))
    variant = next(v for v in plan.variants if v.quantization == "Q4_K_M")  # llama.cpp: the quickest to load
    code = next(u for u in plan.units_of(variant) if u.task == "slmb_code")
    other = next(u for u in plan.units_of(variant) if u.task == "slmb_yesno")
    worker = ModelWorker(variant, plan.include_paths, n_threads=1)

    monkeypatch.delenv(MIN_ISOLATION_ENV)  # the worker refuses on its own, before generating anything
    with pytest.raises(IsolationError, match="this host gives 'none'"):
        worker.run(code)
    monkeypatch.setenv(MIN_ISOLATION_ENV, "none")

    cache, run_dir = UnitCache(tmp_path / "cache"), tmp_path / "run"
    reports = [execute_unit(u, worker, cache, run_dir) for u in (code, other)]
    assert [r.sandbox_isolation for r in reports] == ["none", None]
    again = execute_unit(code, worker, cache, tmp_path / "rerun")  # from the cache: the mode it was evaluated in
    assert (again.status, again.sandbox_isolation) == ("cached", "none")

    info = RunInfo("run-1", run_dir, datetime.now(UTC), "0" * 64)
    recorded = runs_frame(info, plan, submission, reports, "staged", None)
    assert dict(recorded.select("variant_id", "sandbox_isolation").iter_rows()) == {
        v.variant_id: "none" if v == variant else None
        for v in plan.variants  # null: that variant ran no code
    }
    no_code = runs_frame(info, plan, submission, reports[1:], "staged", None)
    assert no_code["sandbox_isolation"].to_list() == [None] * len(plan.variants)


AS_WORKER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from evals.sandbox import isolation, run_python
iso = isolation()
bomb = "import os\\nn = 0\\ntry:\\n    while n < 1000:\\n        os.fork() or os.read(os.open('/dev/zero', 0), 1) and os.pause()\\n        n += 1\\nexcept OSError:\\n    print(n)\\n"
print(json.dumps({
    "mode": iso.mode, "own_uid": iso.own_uid,
    "exit": run_python("raise SystemExit(0)\\nassert False\\n").reason,
    "root": run_python("import os\\nprint(sorted(os.listdir('/')))").stdout,
    "forks": run_python(bomb, timeout_s=2.0, audit_hook=False).stdout,
}))
"""


def test_a_non_root_worker_gets_full_isolation_with_a_process_budget_of_its_own() -> None:
    """The Containerfile's workers run as the unprivileged ``ray`` user: a uid of no one's, here, busy with 30 processes."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another uid")
    code = Path(tempfile.mkdtemp(prefix="slmb-worker-code-"))  # the checkout may lie where another uid cannot read
    code.chmod(0o755)
    # The sandbox package and what it imports, and nothing else of the checkout
    modules = [p.relative_to(ROOT).as_posix() for p in (ROOT / "evals/sandbox").glob("*.py")]
    for module in (
        "evals/__init__.py",
        "contracts/__init__.py",
        "contracts/errors.py",
        "contracts/isolation.py",
        *modules,
    ):
        (code / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / module, code / module)
    uid = 1_900_000_000 + secrets.randbelow(10**6)
    as_uid = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    busy = [subprocess.Popen([*as_uid, "sleep", "60"]) for _ in range(30)]
    try:
        out = subprocess.run(
            [*as_uid, "/usr/bin/python3", "-I", "-c", AS_WORKER, str(code)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
        )
    finally:
        for process in busy:
            process.kill()
            process.wait()
        shutil.rmtree(code)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert (seen["mode"], seen["own_uid"]) == ("full", False)  # the same isolation, under the caller's uid
    assert seen["exit"].startswith("ended before the tests finished")
    assert "'tmp', 'usr'" in seen["root"] and "home" not in seen["root"]
    assert 0 < int(seen["forks"]) < 16  # the run's own budget, not shared with the uid's 30 other processes
