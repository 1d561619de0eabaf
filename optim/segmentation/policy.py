"""Segment policy table: segment → service target, service time, rationing rule, planning.

The table has one row per customer segment (``dimension="customer"``) and one per item ABC
class (``dimension="item"``). The defaults live in ``default_policy.yaml`` next to this
module and follow the common industry table (strategic / A: 98–99 %, collaborative
planning, frequent review; standard / B: 92–95 %, statistical forecasting; transactional
/ C: 85–90 %, min/max or make-to-order); the service levels are the midpoints.

For one (item class, customer segment) cell, :meth:`PolicyTable.combine_rows` applies the
table's ``combine`` rule. ``"max"`` takes the more demanding of the two rows: the higher
service level and the shorter maximum service time; the rationing tier and fair-share rule
come from the customer segment (rationing splits scarce stock between customers), the
forecasting approach and review frequency from the item class (they are planned per item).
``"customer"`` and ``"item"`` take the whole row of that dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import Field, model_validator

from optim.errors import InstanceError
from optim.instances.base import Frozen

__all__ = ["POLICY_COLUMNS", "PolicyRow", "PolicyTable", "default_policy"]

POLICY_COLUMNS = [
    "segment",
    "dimension",
    "service_level",
    "max_service_time_days",
    "rationing_tier",
    "fair_share",
    "forecasting",
    "review_frequency",
]


class PolicyRow(Frozen):
    """Targets of one segment (a customer segment or an item ABC class)."""

    dimension: Literal["customer", "item"] = Field(
        description="Whether the row is a customer segment or an item ABC class."
    )
    service_level: float = Field(gt=0.0, lt=1.0, description="Service-level target in (0, 1).")
    max_service_time_days: float = Field(
        ge=0.0, description="Longest promised service time to the segment, days."
    )
    rationing_tier: int = Field(ge=1, description="1 = served first in a shortage.")
    fair_share: Literal["proportional", "equal", "weighted"] = Field(
        description="How a shortage is split inside one rationing tier."
    )
    forecasting: str = Field(description="Forecasting approach.")
    review_frequency: str = Field(description="How often parameters are reviewed.")


class PolicyTable(Frozen):
    """Editable policy table; load one with :meth:`from_yaml`.

    Attributes
    ----------
    combine
        How an item-class row and a customer-segment row combine (see module docstring).
    segments
        Segment name → :class:`PolicyRow`.
    """

    combine: Literal["max", "customer", "item"] = "max"
    segments: dict[str, PolicyRow]

    @model_validator(mode="after")
    def _not_empty(self) -> PolicyTable:
        if not self.segments:
            raise ValueError("policy.segments is empty; give at least one segment row.")
        return self

    @classmethod
    def from_yaml(cls, source: str | Path) -> PolicyTable:
        """Read a policy table from a YAML file (same layout as ``default_policy.yaml``)."""
        path = Path(source)
        if not path.is_file():
            raise InstanceError(f"policy file {str(path)!r} does not exist.", field="policy")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise InstanceError(
                f"policy file {str(path)!r} must hold a mapping with 'segments'.", field="policy"
            )
        return cls.model_validate(dict(data))

    def to_frame(self) -> pd.DataFrame:
        """One row per segment, columns :data:`POLICY_COLUMNS`, in the table's order."""
        rows = [{"segment": name, **row.model_dump()} for name, row in self.segments.items()]
        return pd.DataFrame(rows, columns=POLICY_COLUMNS)

    def row(self, segment: str) -> PolicyRow:
        """Return the row of ``segment``; :class:`InstanceError` when it has none."""
        try:
            return self.segments[segment]
        except KeyError:
            raise InstanceError(
                f"policy has no row for segment {segment!r}; known: {sorted(self.segments)}.",
                field="policy.segments",
            ) from None

    def combine_rows(self, item_class: str, customer_segment: str) -> dict[str, Any]:
        """Targets of one (item class, customer segment) cell under the ``combine`` rule."""
        item, cust = self.row(item_class), self.row(customer_segment)
        if self.combine == "customer":
            return cust.model_dump(exclude={"dimension"})
        if self.combine == "item":
            return item.model_dump(exclude={"dimension"})
        return {
            "service_level": max(item.service_level, cust.service_level),
            "max_service_time_days": min(item.max_service_time_days, cust.max_service_time_days),
            "rationing_tier": cust.rationing_tier,
            "fair_share": cust.fair_share,
            "forecasting": item.forecasting,
            "review_frequency": item.review_frequency,
        }


def default_policy() -> PolicyTable:
    """The packaged default table (``optim/segmentation/default_policy.yaml``)."""
    text = resources.files("optim.segmentation").joinpath("default_policy.yaml").read_text("utf-8")
    return PolicyTable.model_validate(yaml.safe_load(text))
