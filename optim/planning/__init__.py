"""The planning product: order history → segments → policy → stock, peak plan, rationing.

One run (:func:`run`) segments items and customers, turns the policy table into targets,
places safety stock per item (GSM), plans the peak (capacity) and rations the short week, and
:func:`write` puts every table, each solver's result document and the HTML report in a
folder.

Modules: :mod:`.pipeline` (the run), :mod:`.builders` (segmentation + policy → the
optimisers' instances), :mod:`.folder` (the planner's input folder: read, check, write),
:mod:`.distributor` (the seeded example), :mod:`.report` (HTML), :mod:`.demo` (``optim demo``
and ``optim plan``).

May import :mod:`optim`'s API, :mod:`optim.segmentation`, :mod:`optim.instances` and
:mod:`optim.models`; nothing below it imports the planning product.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optim.planning.builders import build_capacity as build_capacity
    from optim.planning.builders import build_item_safety_stock as build_item_safety_stock
    from optim.planning.builders import build_rationing as build_rationing
    from optim.planning.builders import build_safety_stock as build_safety_stock
    from optim.planning.compare import read_previous as read_previous
    from optim.planning.folder import PlanningData as PlanningData
    from optim.planning.folder import read_folder as read_folder
    from optim.planning.folder import write_folder as write_folder
    from optim.planning.pipeline import PlanningRun as PlanningRun
    from optim.planning.pipeline import Progress as Progress
    from optim.planning.pipeline import run as run
    from optim.planning.pipeline import safety_stock_by_segment as safety_stock_by_segment
    from optim.planning.pipeline import write as write

_HOME = {
    "build_capacity": "builders",
    "build_item_safety_stock": "builders",
    "build_rationing": "builders",
    "build_safety_stock": "builders",
    "read_previous": "compare",
    "PlanningData": "folder",
    "read_folder": "folder",
    "write_folder": "folder",
    "PlanningRun": "pipeline",
    "Progress": "pipeline",
    "run": "pipeline",
    "safety_stock_by_segment": "pipeline",
    "write": "pipeline",
}
"""Public name → its module. Imported on first use (PEP 562), so `optim validate FOLDER`
reads a folder without importing the optimisers and the report (CLI start-up)."""


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'optim.planning' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"optim.planning.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "PlanningData",
    "PlanningRun",
    "Progress",
    "build_capacity",
    "build_item_safety_stock",
    "build_rationing",
    "build_safety_stock",
    "read_folder",
    "read_previous",
    "run",
    "safety_stock_by_segment",
    "write",
    "write_folder",
]
