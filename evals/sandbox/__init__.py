"""The one place that executes model-generated code: ``run_python`` runs a program under the strongest isolation
the host offers (``probe``), supervised (``supervision``), behind a bootstrap that tells a program's end from an
early exit (``bootstrap.py``), and says what it came to (``verdicts``).

Public: run_python, SandboxResult, verdict_counts, isolation, require_isolation, IsolationError. Task code
imports them from here (``from evals.sandbox import run_python``).
"""

from evals.sandbox.launcher import run_python
from evals.sandbox.probe import IsolationError, isolation, require_isolation
from evals.sandbox.verdicts import SandboxResult, verdict_counts

__all__ = ["IsolationError", "SandboxResult", "isolation", "require_isolation", "run_python", "verdict_counts"]
