"""Exceptions and warnings raised by optim.

Every user-facing error names the field, the offending id and what is allowed. The CLI maps
them to exit codes: :class:`InstanceError` → 2, infeasible → 3, time limit without a solution → 4.
"""

from __future__ import annotations


class OptimError(Exception):
    """Base class of every error optim raises on purpose."""


class InstanceError(OptimError, ValueError):
    """The instance is invalid: a bad field, a dangling reference, a duplicate id.

    Parameters
    ----------
    message
        One sentence naming the field, the offending id and what is allowed.
    field
        Dotted path of the offending field, e.g. ``"demand[3].segment"``.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SolverUnavailableError(OptimError, ImportError):
    """A requested solver backend is not installed; the message says how to install it."""


class NoSolutionError(OptimError):
    """Values were requested from a result that holds no feasible solution."""
