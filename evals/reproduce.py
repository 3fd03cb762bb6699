"""The plain lm-eval command that computes the same numbers as our transformers backend.

A reader can check a score without SLM Bench: lm-eval's own CLI, its HF model,
the same task configs (``include_path``), limit, few-shot count and seed.
The engine test and the engine benchmark run exactly this command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def lm_eval_command(
    hf_dir: Path,
    tasks: Sequence[str],
    *,
    output_path: Path,
    include_paths: Sequence[Path] = (),
    limit: int | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    dtype: str = "float32",
    device: str = "cpu",
    apply_chat_template: bool = False,
    fewshot_as_multiturn: bool = True,
    system_instruction: str | None = None,
) -> list[str]:
    """argv for ``python -m lm_eval`` on one local HF model folder (batch size 1, as our workers).

    With ``apply_chat_template``, prompts go through the tokenizer's chat template as a variant with
    ``chat_template`` set runs them (lm-eval's ``--apply_chat_template``, ``--fewshot_as_multiturn``
    and ``--system_instruction``).
    """
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={hf_dir},dtype={dtype}"]
    for path in include_paths:
        cmd += ["--include_path", str(path)]
    cmd += ["--tasks", ",".join(tasks), "--num_fewshot", str(num_fewshot), "--seed", str(seed)]
    cmd += ["--device", device, "--batch_size", "1", "--output_path", str(output_path)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if apply_chat_template:
        cmd += ["--apply_chat_template", "--fewshot_as_multiturn", str(fewshot_as_multiturn).lower()]
        if system_instruction is not None:
            cmd += ["--system_instruction", system_instruction]
    return cmd
