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

Service measure. Every row states how its ``service_level`` is measured (one definition for
the safety-stock model, the simulator and the report, :mod:`optim.models.safety_stock.critical`):
``cycle_service`` = share of periods in which the segment has no shortage, ``fill_rate`` =
share of the segment's demand served from stock by its due date. A row may give
``service_measure``; a row that does not gets the **default rule**: ``cycle_service``, the
measure of the GSM square-root model and of ``max_z`` (cover the strictest), so the planning
run's saving against ``max_z`` compares like with like. Give ``fill_rate`` on a row to promise
a share of units instead (for slow or lumpy items this usually needs much more stock than the
same cycle service: a period without demand is a period without shortage, while a fill rate
must cover the lumps). The ``"max"`` combine rule takes ``cycle_service`` when either row has
it. A demand pattern may set ``service_measure`` too; it wins over the combined rows for the
items of that pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
from pydantic import Field, field_validator, model_validator

from optim.errors import InstanceError
from optim.instances.base import Document, Frozen
from optim.instances.rules import FairShare

__all__ = [
    "DEFAULT_SERVICE_MEASURE",
    "ITEM_POLICY_COLUMNS",
    "POLICY_COLUMNS",
    "PatternRule",
    "PolicyRow",
    "PolicyTable",
    "default_policy",
]  # fmt: skip

T = TypeVar("T")
Pattern = Literal["smooth", "erratic", "intermittent", "lumpy"]
ServiceMeasure = Literal["cycle_service", "fill_rate"]
ITEM_POLICY_COLUMNS = [
    "item",
    "abc",
    "xyz",
    "pattern",
    "service_level",
    "max_service_time_days",
    "forecasting",
    "review_frequency",
    "service_measure",
]

POLICY_COLUMNS = [
    "segment",
    "dimension",
    "service_level",
    "max_service_time_days",
    "rationing_tier",
    "fair_share",
    "forecasting",
    "review_frequency",
    "service_measure",
]


DEFAULT_SERVICE_MEASURE: ServiceMeasure = "cycle_service"
"""The measure of a row that gives none (module docstring: the measure of the GSM
square-root model and of ``max_z``, so the saving against it compares like with like)."""


def _check_forecasting(value: str | None) -> str | None:
    """A ``forecasting`` text that misspells a model is refused (it read as free text)."""
    from optim.forecasting.methods import check_label

    return check_label(value)


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
    fair_share: FairShare = Field(description="How a shortage is split inside one rationing tier.")
    forecasting: str = Field(description="Forecasting approach.")
    review_frequency: str = Field(description="How often parameters are reviewed.")
    service_measure: ServiceMeasure | None = Field(
        default=None,
        description="How service_level is measured: cycle_service | fill_rate; omitted: "
        "cycle_service (the default rule).",
    )

    _forecasting = field_validator("forecasting")(_check_forecasting)

    @property
    def measure(self) -> ServiceMeasure:
        """The row's service measure: the given one, else the default rule's."""
        if self.service_measure is not None:
            return self.service_measure
        return DEFAULT_SERVICE_MEASURE


class PatternRule(Frozen):
    """Overrides for the items of one demand pattern (None: keep the ABC row's)."""

    forecasting: str | None = Field(default=None, description="Forecasting approach.")
    review_frequency: str | None = Field(default=None, description="Review frequency.")
    service_measure: ServiceMeasure | None = Field(
        default=None,
        description="Service measure of the pattern's items (wins over the combined rows).",
    )

    _forecasting = field_validator("forecasting")(_check_forecasting)


class PolicyTable(Document):
    """Editable policy table; load one with :meth:`from_yaml`.

    Attributes
    ----------
    combine
        How an item-class row and a customer-segment row combine (see module docstring).
    segments
        Segment name → :class:`PolicyRow`.
    patterns
        Demand pattern → :class:`PatternRule` (see module docstring).
    """

    combine: Literal["max", "customer", "item"] = "max"
    segments: dict[str, PolicyRow]
    patterns: dict[Pattern, PatternRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_empty(self) -> PolicyTable:
        if not self.segments:
            raise ValueError("policy.segments is empty; give at least one segment row.")
        return self

    @classmethod
    def from_yaml(cls, source: str | Path) -> PolicyTable:
        """Read a policy table from a YAML file (same layout as ``default_policy.yaml``)."""
        path = Path(source)
        data = read_yaml_mapping(path, "policy")
        return with_file(path, lambda: cls.model_validate(data))

    def to_frame(self) -> pd.DataFrame:
        """One row per segment, columns :data:`POLICY_COLUMNS`, in the table's order;
        ``service_measure`` is the row's measure (given, or the default rule's)."""
        rows = [
            {"segment": name, **row.model_dump(), "service_measure": row.measure}
            for name, row in self.segments.items()
        ]
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

    def item_row(self, item_class: str, pattern: str | None = None) -> PolicyRow:
        """The row of ``item_class`` with the overrides of demand ``pattern`` applied."""
        row = self.row(item_class)
        rule = self.patterns.get(pattern) if pattern is not None else None  # type: ignore[call-overload]
        if rule is None:
            return row
        over = {k: v for k, v in rule.model_dump().items() if v is not None}
        return row.model_copy(update=over)

    def combine_rows(
        self, item_class: str, customer_segment: str, pattern: str | None = None
    ) -> dict[str, Any]:
        """Targets of one (item class, customer segment) cell under the ``combine`` rule;
        ``pattern`` applies the item's demand-pattern overrides (its ``service_measure``
        wins over the rows'; module docstring)."""
        item, cust = self.item_row(item_class, pattern), self.row(customer_segment)
        if self.combine == "customer":
            out = cust.model_dump(exclude={"dimension"}) | {"service_measure": cust.measure}
        elif self.combine == "item":
            out = item.model_dump(exclude={"dimension"}) | {"service_measure": item.measure}
        else:
            strict = "cycle_service" in (item.measure, cust.measure)
            out = {
                "service_level": max(item.service_level, cust.service_level),
                "max_service_time_days": min(
                    item.max_service_time_days, cust.max_service_time_days
                ),
                "rationing_tier": cust.rationing_tier,
                "fair_share": cust.fair_share,
                "forecasting": item.forecasting,
                "review_frequency": item.review_frequency,
                "service_measure": "cycle_service" if strict else "fill_rate",
            }
        rule = self.patterns.get(pattern) if pattern is not None else None  # type: ignore[call-overload]
        if rule is not None and rule.service_measure is not None:
            out["service_measure"] = rule.service_measure
        return out


_STDIN: dict[str, str] = {}
"""The text of a YAML file read from standard input (``-``), kept for :func:`with_file`
(standard input can be read once)."""


def _name(path: Path) -> str:
    return "standard input" if str(path) == "-" else str(path)


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The mapping a YAML file (``-``: standard input) holds, through the input gate
    (:mod:`optim.instances.gate`: safe loader, alias budget, repeated keys refused);
    :class:`InstanceError` naming the file and line otherwise."""
    from optim.instances import gate

    path = Path(path)
    if str(path) != "-" and not path.is_file() and not path.is_dir():
        raise InstanceError(f"{what} file {str(path)!r} does not exist.", field=what)
    text = gate.read_text(path, f"{what} file")
    if str(path) == "-":
        _STDIN["text"] = text
    data = gate.parse_yaml(text, _name(path)) or {}
    if not isinstance(data, Mapping):
        raise InstanceError(
            f"{_name(path)}: a {what} file must hold a mapping (key: value lines), got "
            f"{type(data).__name__}.",
            field=what,
        )
    return dict(data)


def with_file(path: Path, build: Callable[[], T]) -> T:
    """Run ``build``; an :class:`InstanceError` it raises gets the file's name and the line
    of its field in front."""
    from optim.instances import gate

    try:
        return build()
    except InstanceError as exc:
        if str(path) == "-":
            raise gate.located(exc, _name(path), _STDIN.get("text", ""), ".yaml") from None
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, ValueError):
            raise InstanceError(f"{path.name}: {exc}", field=exc.field) from None
        raise gate.located(exc, path.name, text, ".yaml") from None


def default_policy() -> PolicyTable:
    """The packaged default table (``optim/segmentation/default_policy.yaml``)."""
    text = resources.files("optim.segmentation").joinpath("default_policy.yaml").read_text("utf-8")
    from optim.instances import gate  # read as a planner's policy file is (YAML 1.2 scalars)

    return PolicyTable.model_validate(gate.parse_yaml(text, "default_policy.yaml"))
