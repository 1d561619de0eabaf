"""optim: customer-segment-aware inventory and allocation optimisation.

>>> import optim
>>> inst = optim.load_example("weekly_rationing")
>>> res = optim.solve(inst)
>>> res.status
<Status.OPTIMAL: 'optimal'>
>>> res.table("lines").set_index("demand_id").loc[["L3", "L4"], "allocated"].tolist()
[18.75, 11.25]
"""

from __future__ import annotations

from importlib.resources import files as _files
from typing import TYPE_CHECKING, Any

from optim.api import from_dict as from_dict
from optim.api import load as load
from optim.api import schema as schema
from optim.api import solve as solve
from optim.errors import InstanceError as InstanceError
from optim.errors import NoSolutionError as NoSolutionError
from optim.errors import OptimError as OptimError
from optim.errors import SolverUnavailableError as SolverUnavailableError
from optim.status import SolutionStatus as SolutionStatus
from optim.status import Status as Status
from optim.status import Termination as Termination

if TYPE_CHECKING:
    from optim.params import SolveParams as SolveParams
    from optim.result import Result as Result

_LAZY = {"SolveParams": "optim.params", "Result": "optim.result"}


def __getattr__(name: str) -> Any:
    """``SolveParams`` and ``Result`` are imported on first use (pydantic and pandas are
    slow to import; ``optim --version`` and ``optim schema`` need neither)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optim' has no attribute {name!r}")


__version__ = "0.1.0"


def load_example(name: str) -> Any:
    """Load a bundled example instance by name (see ``optim.examples()``)."""
    path = _files("optim.instances") / "data" / f"{name}.json"
    if not path.is_file():
        raise InstanceError(
            f"no bundled example {name!r}; available: {', '.join(examples())}", field="name"
        )
    return load(str(path))


def forecast(history: Any, **kwargs: Any) -> Any:
    """Forecast every series of an order history (see :func:`optim.forecasting.forecast`).

    Imported on first use: statsforecast takes about a second to import.
    """
    from optim.forecasting import forecast as _forecast

    return _forecast(history, **kwargs)


def examples() -> list[str]:
    """Names of the bundled example instances."""
    folder = _files("optim.instances") / "data"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


__all__ = [
    "InstanceError",
    "NoSolutionError",
    "OptimError",
    "Result",
    "SolutionStatus",
    "SolveParams",
    "SolverUnavailableError",
    "Status",
    "Termination",
    "examples",
    "forecast",
    "from_dict",
    "load",
    "load_example",
    "schema",
    "solve",
]
