"""The rationing document's contract: record models, columns, limits (no numpy/pandas).

:class:`RationingDocument` is the JSON/YAML form of a rationing instance and generates its JSON
Schema (``optim schema rationing``); the validated, columnar instance and its vectorised
checks are :mod:`optim.instances.rationing`, which re-exports every name here. Kept apart so
that describing the contract imports only pydantic (CLI start-up).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictInt

from optim.instances.base import Frozen
from optim.instances.rationing_columns import (
    DEMAND_COLUMNS,
    FAIR_SHARES,
    LANE_COLUMNS,
    MAX_QUANTITY,
    PREVIOUS_COLUMNS,
    SEGMENT_COLUMNS,
    SUPPLY_COLUMNS,
)
from optim.instances.rules import FairShare

__all__ = [
    "DEMAND_COLUMNS",
    "FAIR_SHARES",
    "LANE_COLUMNS",
    "MAX_QUANTITY",
    "PREVIOUS_COLUMNS",
    "SEGMENT_COLUMNS",
    "SUPPLY_COLUMNS",
    "DemandRecord",
    "FairShare",
    "LaneRecord",
    "PreviousRecord",
    "RationingDocument",
    "SegmentRecord",
    "SupplyRecord",
]


# --- record models: the JSON contract (documentation and JSON Schema) -------------------------
# Numbers and flags are strict, as in the validator: a boolean is not a quantity and a string
# is not a number (tests/instances/test_rationing_schema_agrees.py checks the two agree).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Id = str | StrictInt  # integer ids (as in CSV files) are read as their decimal string
Flag = Annotated[bool, Field(strict=True)] | None  # a JSON boolean; null is the default


class SupplyRecord(Frozen):
    """Stock of one item at one location."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    item: Id
    location: Id
    quantity: Number = Field(ge=0, le=MAX_QUANTITY, description="Units available.")


class DemandRecord(Frozen):
    """One demand line (an order line or a customer's weekly requirement)."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    id: Id = Field(description="Unique id of the line.")
    customer: Id
    item: Id
    quantity: Number = Field(gt=0, le=MAX_QUANTITY, description="Units requested.")
    segment: str = Field(description="Name of a segment in `segments`.")
    locations: list[Id] | None = Field(
        default=None,
        description="Eligible source locations in order of preference; default: every location "
        "holding the item. In CSV: separated by ';'.",
    )
    min_quantity: Number | None = Field(
        default=None, ge=0, le=MAX_QUANTITY, description="Contractual floor."
    )
    max_quantity: Number | None = Field(default=None, ge=0, description="Cap on the allocation.")
    weight: Number | None = Field(default=None, gt=0, description="Weight for the weighted rule.")
    all_or_nothing: Flag = Field(default=False, description="Allocate the full amount or 0.")
    lot_size: Number | None = Field(
        default=None, gt=0, le=MAX_QUANTITY, description="Allocate multiples only."
    )


class SegmentRecord(Frozen):
    """A customer segment and its rationing rule."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    name: Id
    tier: int = Field(ge=1, description="1 is served first; tiers are 1..K without gaps.")
    fair_share: FairShare | None = "proportional"  # null: the default rule


class LaneRecord(Frozen):
    """Cost per unit shipped from a location to a customer."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    location: Id
    customer: Id
    cost: float = Field(ge=0)


class PreviousRecord(Frozen):
    """One row of the previous run's allocation."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    demand_id: Id
    location: Id
    quantity: float = Field(ge=0, le=MAX_QUANTITY)


class RationingDocument(Frozen):
    """The rationing instance as a JSON/YAML document (the contract; see module docstring)."""

    number_limit: ClassVar[float | None] = None  # magnitudes: the validator's rule

    kind: Literal["rationing"] = "rationing"
    supply: list[SupplyRecord]
    demand: list[DemandRecord]
    segments: list[SegmentRecord]
    lanes: list[LaneRecord] = Field(default_factory=list)
    previous: list[PreviousRecord] = Field(default_factory=list)
    stability: bool = Field(
        default=False, description="Minimise routing change against `previous`."
    )
    name: str | None = None
    unit: str = Field(
        default="units",
        min_length=1,
        description="What the quantities count (e.g. pcs, boxes); the explanations name it.",
    )
