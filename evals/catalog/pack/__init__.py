"""The offline task pack: lm-eval tasks generated from a small seeded world, plus its training corpus.

``build_pack()`` writes the lm-eval task folder (YAML + JSONL + utils.py);
``corpus.training_texts()`` gives the demo models' training documents.
"""

from __future__ import annotations

from pathlib import Path


def build_pack(dest: Path | None = None, force: bool = False) -> Path:
    """Build (or reuse) the pack folder; see :func:`evals.catalog.pack.pack.build_pack`."""
    # imported here so `import evals.catalog.pack.corpus` stays light for trainers
    from evals.catalog.pack.pack import build_pack as _build

    return _build(dest, force)


__all__ = ["build_pack"]
