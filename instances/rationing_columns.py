"""The rationing document's columns and quantity limit, light to import (no pydantic, no
numpy): :mod:`optim.instances.rationing_document` (the record models) re-exports them, and
the plain check of a small document (:mod:`optim.instances.rationing_small`: ``optim
validate``'s start-up) and the split run read them here.
"""

from __future__ import annotations

from optim.instances.rules import FAIR_SHARES

__all__ = [
    "DEMAND_COLUMNS",
    "FAIR_SHARES",
    "LANE_COLUMNS",
    "MAX_QUANTITY",
    "PREVIOUS_COLUMNS",
    "SEGMENT_COLUMNS",
    "SUPPLY_COLUMNS",
]

SUPPLY_COLUMNS = ("item", "location", "quantity")
DEMAND_COLUMNS = (
    "id",
    "customer",
    "item",
    "quantity",
    "segment",
    "locations",
    "min_quantity",
    "max_quantity",
    "weight",
    "all_or_nothing",
    "lot_size",
)
SEGMENT_COLUMNS = ("name", "tier", "fair_share")
LANE_COLUMNS = ("location", "customer", "cost")
PREVIOUS_COLUMNS = ("demand_id", "location", "quantity")

MAX_QUANTITY = 1e12
"""Largest quantity (supply, request, minimum, lot size, previous) rationing accepts.

Plans are exact on a grid of 1e-6 units up to 1e9; above that the solve works in units of a
power of ten (:mod:`optim.models.rationing.solve`), so at 1e12 the grid is 1e-3 units: every
quantity is at most 10^15 whole quanta, below 2^53, where a double holds each exactly and
sums of them are exact — the flow method decides in those integers, so any mix of magnitudes
up to this limit is rationed exactly. Beyond 1e12 a double no longer holds the grid exactly
and the instance is refused."""
