"""How long one unit may run: a wall-clock limit that grows with the unit's estimated cost.

A submission's weights, tokenizer and chat template are the submitter's; a unit that never
ends would hold one of the run's workers for ever. Each unit gets

    limit = SLMBENCH_UNIT_TIME_SCALE x (MINIMUM_S + SECONDS_PER_COST x unit.cost)

seconds, ``unit.cost`` being the plan's estimate in token-equivalents (``evals.catalog.costs``).
The defaults are far from any real run: 0.25 s per token-equivalent is about five times what a
3B model in float32 takes on two slow CPU cores (prefill about 20 tokens/s; a generated token
costs 10 token-equivalents), and the 10 minutes on top cover loading the weights and lm-eval's
task setup. Raise the scale for slower hardware; lower it to test. A unit past its limit fails
with :class:`UnitTimedOut`, and its worker is replaced (``evals.cluster.pool``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from contracts.errors import UserError

SECONDS_PER_COST = 0.25
MINIMUM_S = 600.0
SCALE_ENV = "SLMBENCH_UNIT_TIME_SCALE"


class UnitTimedOut(RuntimeError):
    """A unit ran past its wall-clock limit. Not a ``TimeoutError``: the unit is not retried, it failed."""


@dataclass(frozen=True)
class UnitTimeLimit:
    scale: float = 1.0

    def seconds(self, cost: float) -> float:
        return self.scale * (MINIMUM_S + SECONDS_PER_COST * max(cost, 0.0))

    def reason(self, unit_name: str, cost: float) -> str:
        return (
            f"unit {unit_name} ran past its time limit of {self.seconds(cost):,.0f} s "
            f"({SCALE_ENV}={self.scale:g} x ({MINIMUM_S:.0f} s + {SECONDS_PER_COST:g} s x its estimated cost "
            f"{cost:,.0f})); its worker was replaced. Raise {SCALE_ENV} if the hardware is this slow"
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> UnitTimeLimit:
        text = (os.environ if env is None else env).get(SCALE_ENV, "").strip()
        if not text:
            return cls()
        try:
            scale = float(text)
        except ValueError:
            scale = math.nan
        if not (0 < scale <= 1e6):  # also false for nan
            raise UserError(
                f"{SCALE_ENV} must be a positive number (1 is the default, 2 doubles every limit), got {text!r}"
            )
        return cls(scale)
