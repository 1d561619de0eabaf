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
    kind
        What is wrong when a caller acts on it: :data:`MAGNITUDE` (a number beyond the
        largest the model takes), :data:`SYNTAX` (not well-formed JSON or YAML), else None.
    """

    def __init__(self, message: str, field: str | None = None, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.kind = kind


class ResultError(InstanceError):
    """A result document read as input (``optim simulate RESULT``) is wrong: a row of its
    ``stages`` or ``demands`` table names no stage of the instance, or states numbers that
    are not the policy simulated. :attr:`field` is the path in the result document
    (``"stages[2].base_stock_level"``), not in the instance, so the CLI names that file's
    line."""


MAGNITUDE = "magnitude"
"""The :attr:`InstanceError.kind` of a number refused for its size (``gate.MAX_MAGNITUDE``,
rationing's ``MAX_QUANTITY``)."""

SYNTAX = "syntax"
"""The :attr:`InstanceError.kind` of a document that is not well-formed JSON or YAML (the
HTTP service answers it 400, a well-formed but invalid document 422)."""


class SolverUnavailableError(OptimError, ImportError):
    """A requested solver backend is not installed; the message says how to install it."""


class NoSolutionError(OptimError):
    """Values were requested from a result that holds no feasible solution."""


class NotExactlyScalable(InstanceError):
    """The chosen integer engine (CP-SAT) cannot solve this input exactly.

    CP-SAT works over the integers; optim hands it a model only when an exact integer
    scaling exists (see :mod:`optim.solvers.cpsat`). The message names the value in the way;
    the CLI exits with 2, as for any input the chosen solver cannot take.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, field="params.solver")


class SpanBeyondMethod(InstanceError):
    """The chosen method cannot solve this input exactly: one component's quantities span
    a wider ratio (largest / smallest positive) than its stated bound.

    The staged LPs (``--method lp``, and the Pyomo reference, ``--solver pyomo``) resolve
    quantities of one component spanning up to
    :data:`optim.models.rationing.waterfill.LP_SPAN`; beyond it they are refused before
    solving, with a message naming the component, its span and the bound (the default method
    is exact there). The CLI exits with 2, as for any input the chosen method cannot take.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, field="params.method")
