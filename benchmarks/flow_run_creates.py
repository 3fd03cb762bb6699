"""Creating 100 deployment runs at once against the embedded Prefect server, gated and ungated.

    python -m benchmarks.flow_run_creates [--threads 40] [--runs 100] [--gates 1 4 40]

The receiver (flows/chatops/runs.py) lets at most ``CONCURRENT_CREATES`` creates reach
Prefect at once. This prints, for each gate, the wall time for ``--runs`` creates from
``--threads`` threads and the p50/p90/p99 latency of one create, waiting for the gate
included: the figures that chose the gate.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flows import settings

settings.apply_defaults()


def main(argv: list[str] | None = None) -> int:
    from prefect.testing.utilities import prefect_test_harness

    from flows.chatops.deployments import build_deployments
    from flows.chatops.runs import CONCURRENT_CREATES, Orchestrator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--gates", type=int, nargs="+", default=[1, CONCURRENT_CREATES, 40])
    args = parser.parse_args(argv)

    with prefect_test_harness(server_startup_timeout=60):
        for deployment in build_deployments():
            deployment.apply()
        name = "benchmark-submission/benchmark-submission"
        orchestrator = Orchestrator()
        orchestrator.start(name, {"submission_path": "warm.yaml"}, ["warm-up"], "warm-up")
        print(f"{args.runs} creates from {args.threads} threads; the receiver's gate is {CONCURRENT_CREATES}")
        for gate_size in args.gates:
            gate = threading.BoundedSemaphore(gate_size)

            def create(i: int, gate: threading.BoundedSemaphore = gate, size: int = gate_size) -> float:
                began = time.perf_counter()
                with gate:
                    orchestrator.start(name, {"submission_path": f"{i}.yaml"}, [f"bench:{i}"], f"gate{size}-{i}")
                return time.perf_counter() - began

            began = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                took = sorted(pool.map(create, range(args.runs)))
            wall = time.perf_counter() - began

            def ms(q: float, took: list[float] = took) -> float:
                return took[min(len(took) - 1, int(q * len(took)))] * 1000

            print(
                f"  gate {gate_size:>3}: wall {wall:5.1f} s   one create p50 {ms(0.5):6.0f} ms  "
                f"p90 {ms(0.9):6.0f} ms  p99 {ms(0.99):6.0f} ms"
            )
        orchestrator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
