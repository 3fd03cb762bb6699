"""Typed errors a backend raises before it loads any weights."""

from __future__ import annotations


class BackendError(ValueError):
    """A backend cannot load what its spec names; the message says how to fix it."""


class UnknownBackendError(BackendError, KeyError):
    """A backend name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0])


class UnsafeWeightsError(BackendError):
    """Weights stored as pickles (.bin, .pt, ...), which can run code when loaded."""


class MissingWeightsError(BackendError, FileNotFoundError):
    """No model file where the spec points."""
