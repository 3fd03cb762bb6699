"""Sandbox overhead per executed completion: ``python -m benchmarks.sandbox_overhead``.

Times ``run_python`` on a HumanEval-sized passing program (a function and
its asserts) against the same program run by a bare ``python -I -S -B``
subprocess, and against the program's own time in-process. The overhead is
the sandbox's median minus the bare subprocess's median, and minus the
in-process time (aim: under 50 ms). Also prints the isolation mode in use, and
times our own ``unshare`` fallback (``ns+uid``) in the same run where the host
can give it: bubblewrap's cost beside the code it replaced.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

from evals.sandbox import IsolationError, isolation, run_python
from evals.sandbox.probe import ISOLATION_ENV, MIN_ISOLATION_ENV

PROGRAM = """
def add(a, b):
    return a + b

def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
    assert candidate(10, 20) == 30

check(add)
"""


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def main(n: int = 40) -> None:
    iso = isolation()
    print(f"isolation: {iso.mode} (python {iso.python})")
    result = run_python(PROGRAM)
    if not result.passed:
        raise SystemExit(f"the benchmark program failed in the sandbox: {result.stderr}")
    sandbox = median_ms(lambda: run_python(PROGRAM), n)
    bare = median_ms(lambda: subprocess.run([iso.python, "-I", "-S", "-B", "-c", PROGRAM], check=True), n)
    inproc = median_ms(lambda: exec(compile(PROGRAM, "p", "exec"), {}), n)  # noqa: S102 - our own constant
    print(f"sandboxed run        median {sandbox:7.1f} ms over {n}")
    print(f"bare subprocess      median {bare:7.1f} ms")
    print(f"in-process exec      median {inproc:7.3f} ms")
    print(f"overhead vs bare subprocess: {sandbox - bare:6.1f} ms (aim < 50)")
    print(f"overhead vs in-process:      {sandbox - inproc:6.1f} ms")
    if iso.mode == "full":
        os.environ[ISOLATION_ENV] = os.environ[MIN_ISOLATION_ENV] = "ns+uid"
        try:
            fallback = median_ms(lambda: run_python(PROGRAM), n)
        except IsolationError as err:
            print(f"fallback ns+uid: not on this host ({err})")
        else:
            print(f"fallback ns+uid      median {fallback:7.1f} ms (full/ns+uid: {sandbox / fallback:.2f}x)")


if __name__ == "__main__":
    main()
