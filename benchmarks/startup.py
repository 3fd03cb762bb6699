"""Start-up benchmark: a submitter's smoke test, cold and fully cached.

    .venv/bin/python -m benchmarks.startup [--submission models/submissions/demo-trained.yaml]

Runs ``slmbench run <submission> --suite offline --limit 5`` as a user would
(a fresh process each time): once cold (an empty unit cache and edge store, the
demo models already built) and once again with everything cached, and prints
both wall times with the load average (aims, issue 13: cold under 20 s, cached
under 10 s). Then, when pyinstrument is installed (a dev tool, not a
dependency: ``pip install pyinstrument``), it profiles one more cached run and
prints where its time goes: the command's own steps and each step of the flow.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SLMBENCH = Path(sys.executable).with_name("slmbench")
# Our own code (not the venv): the frames of the breakdown.
OURS = tuple(str(ROOT / p) for p in ("flows", "tasks", "evals", "contracts"))


def _run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _breakdown(node: dict[str, Any], depth: int = 0) -> None:
    """Our frames of at least 0.2 s, nested, and the Prefect client start (the local server) when it waited."""
    path = node.get("file_path_short", "") or ""
    name = node.get("function", "")
    ours = str(Path(node.get("file_path") or "/").resolve()).startswith(OURS)
    waited_for_server = name == "SyncClientContext.get_or_create" or name == "get_or_create"
    shown = (ours or waited_for_server) and node["time"] >= 0.2 and depth < 4
    if shown:
        what = " (the Prefect client waiting for its API server)" if waited_for_server else ""
        print(f"  {'  ' * depth}{node['time']:6.2f} s  {name}  {path}:{node.get('line_no', '')}{what}")
    for child in sorted(node.get("children", []), key=lambda c: -c["time"]):
        _breakdown(child, depth + (1 if shown else 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submission", default=str(ROOT / "models" / "submissions" / "demo-trained.yaml"))
    args = parser.parse_args()

    from evals.models.fixtures import build_all

    build_all()  # the demo models are built once per machine; a smoke test does not count it
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        env = {**os.environ, "SLMBENCH_CACHE_DIR": str(tmp / "cache")}

        def command(name: str) -> list[str]:
            return [str(SLMBENCH), "run", args.submission, "--suite", "offline", "--limit", "5"] + [
                "--warehouse",
                str(tmp / "warehouse"),
                "--output-dir",
                str(tmp / name),
            ]

        load_before = _load()
        cold = _run(command("cold"), env)
        cached = _run(command("cached"), env)
        load_after = _load()
        print(f"\nstart-up benchmark: slmbench run {args.submission} --suite offline --limit 5")
        print(f"load average (1/5/15 min) before: {load_before}; after: {load_after}; {os.cpu_count()} cores")
        print(f"{'cold (nothing cached), s':<40}{cold:>8.1f}   (aim < 20)")
        print(f"{'fully cached rerun, s':<40}{cached:>8.1f}   (aim < 10)")
        summary = (tmp / "cached" / "summary.md").read_text()
        print("cached rerun's summary says: " + next(line for line in summary.splitlines() if " units (" in line))
        reused = [line for line in summary.splitlines() if line.startswith("Edge figures reused")]
        print(reused[0] if reused else "edge figures: measured in the cached run")

        if importlib.util.find_spec("pyinstrument") is None:
            print("\n(pip install pyinstrument for the breakdown of a cached run)")
            return
        profile = tmp / "profile.json"
        pyinstrument = [sys.executable, "-m", "pyinstrument", "-r", "json", "-o", str(profile)]
        profiled = _run(pyinstrument + command("profiled"), env)
        print(f"\nwhere a cached rerun's time goes (pyinstrument, wall time; this run took {profiled:.1f} s):")
        _breakdown(json.loads(profile.read_text())["root_frame"])


if __name__ == "__main__":
    main()
