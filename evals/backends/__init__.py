"""Evaluation backends: lm-eval ``LM`` subclasses, chosen by name, loaded lazily.

Each entry is a ``"module:Class"`` string so torch or llama.cpp is imported
only when its backend is chosen (a planner or the site builder never pays for
them)::

    from evals.backends import BackendSpec, load_backend
    lm = load_backend(BackendSpec(backend="llamacpp", path="stories260K.gguf"))
    lm_eval.simple_evaluate(model=lm, tasks=[...])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from contracts.backends import BACKENDS
from evals.backends.errors import BackendError, UnknownBackendError
from evals.backends.spec import BackendSpec, unknown_backend

if TYPE_CHECKING:
    from lm_eval.api.model import LM

# "module:Class" by backend name, from the one declaration of every backend (contracts.backends).
REGISTRY: dict[str, str] = {name: backend.lm_class for name, backend in BACKENDS.items()}

__all__ = ["REGISTRY", "BackendError", "BackendSpec", "UnknownBackendError", "backend_class", "load_backend"]


def backend_class(name: str) -> type[LM]:
    """The ``LM`` class registered as ``name``, importing its module now."""
    if name not in REGISTRY:
        raise UnknownBackendError(unknown_backend(name, list(REGISTRY)))
    module_name, _, class_name = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_backend(spec: BackendSpec) -> LM:
    """Load the model that ``spec`` describes, ready for ``lm_eval.simple_evaluate``."""
    return backend_class(spec.backend).from_spec(spec)
