"""Schema of a multi-echelon safety-stock placement instance (Guaranteed-Service Model).

An instance is a directed acyclic network of stages (``stages``), supply relations
(``arcs``: ``source`` supplies ``target``, ``quantity`` units of source per unit of target)
and customer segments served from stages (``demands``). The math is stated in
:mod:`optim.models.safety_stock`.

Every check raises :class:`optim.errors.InstanceError` naming the field, the offending
stage / segment id and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from optim.errors import InstanceError
from optim.instances.base import Document, Frozen, string_id

__all__ = [
    "DISTRIBUTIONS",
    "LEAD_TIME_METHODS",
    "POOLINGS",
    "SERVICE_MEASURES",
    "Arc",
    "Demand",
    "LeadTimeMethod",
    "LeadTimePoint",
    "Pooling",
    "SafetyStockInstance",
    "Stage",
]

#: ``|sum of probabilities - 1|`` allowed in a ``lead_time_distribution`` (then rescaled to 1).
PROBABILITY_TOLERANCE = 1e-6
#: a normal lead time is considered up to mean + NORMAL_SPAN std devs (the solvers' T_j)
NORMAL_SPAN = 3.0
#: equiprobable quadrature nodes of a normal lead time (its stage table's points)
NORMAL_NODES = 101

Pooling = Literal["critical_level", "max_z", "root_sum_square", "additive"]
POOLINGS = ("critical_level", "max_z", "root_sum_square", "additive")
LeadTimeMethod = Literal["exact", "two_moment"]
LEAD_TIME_METHODS = ("exact", "two_moment")
SERVICE_MEASURES = ("cycle_service", "fill_rate")
DISTRIBUTIONS = ("auto", "normal", "poisson", "negative_binomial")


_id = string_id


def _integer(value: Any, what: str, owner: str) -> Any:
    """Check that ``value`` is a non-negative whole number of periods; return it as ``int``."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value  # let pydantic report the type error
    if not math.isfinite(value):
        raise InstanceError(
            f"{what} {value} of {owner} must be a finite number of periods.", field=what
        )
    if value != int(value):
        raise InstanceError(
            f"{what} {value} of {owner} is not an integer; round it or rescale the period "
            "length (e.g. count in days instead of weeks) so that every time is whole.",
            field=what,
        )
    if value < 0:
        raise InstanceError(f"{what} {value} of {owner} is negative; it must be >= 0.", field=what)
    return int(value)


def _lead_time(value: Any, owner: str) -> Any:
    """A mean lead time: finite, >= 0; whole values are kept as ``int``."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if not math.isfinite(value):
        raise InstanceError(
            f"lead_time {value} of {owner} must be a finite number of periods (>= 0)."
        )
    if value < 0:
        raise InstanceError(f"lead_time {value} of {owner} is negative; it must be >= 0.")
    # whole values as int, but not past 2**53 (1e30 stays 1e30 in the magnitude message)
    return int(value) if value == int(value) and abs(value) <= 2**53 else float(value)


class LeadTimePoint(Frozen):
    """One value of a discrete lead-time distribution."""

    value: float = Field(ge=0, description="Lead time in periods (>= 0, may be fractional).")
    probability: float = Field(gt=0, le=1, description="Probability of this value, in (0, 1].")


class Stage(Frozen):
    """One stage (a stocking point) of the network.

    Attributes
    ----------
    id
        Unique stage id.
    lead_time
        Processing / transit time :math:`T_j` in periods (>= 0), the mean when the lead time
        is random. Non-integer values are handled exactly (continuous time within the
        period, see :mod:`optim.models.safety_stock.lead_times`), not rounded. May be omitted
        when ``lead_time_distribution`` is given (then it is the distribution's mean).
    lead_time_std_dev
        Standard deviation of a normal lead time with mean ``lead_time`` (>= 0; 0 or absent:
        deterministic).
    lead_time_distribution
        Discrete lead time: ``[{value, probability}, ...]``, probabilities summing to 1 within
        :data:`PROBABILITY_TOLERANCE` (then rescaled). Exclusive with ``lead_time_std_dev``.
    holding_cost
        Cost :math:`h_j` per unit of safety stock per period (>= 0).
    external_service_time
        Inbound service time :math:`s^e_j` promised by an outside supplier (>= 0, default 0):
        :math:`SI_j \\ge s^e_j`.
    max_service_time
        Optional upper bound on the stage's outbound service time :math:`S_j`.
    """

    id: str = Field(min_length=1, description="Unique stage id.")
    lead_time: int | float = Field(description="(Mean) lead time T_j in periods (>= 0).")
    holding_cost: float = Field(
        description="Holding cost h_j per unit of safety stock per period."
    )
    external_service_time: int = Field(
        default=0, description="Inbound service time of an outside supplier (>= 0)."
    )
    max_service_time: int | None = Field(
        default=None, description="Upper bound on the outbound service time S_j (>= 0)."
    )
    lead_time_std_dev: float | None = Field(
        default=None, description="Std dev of a normal lead time (>= 0)."
    )
    lead_time_distribution: tuple[LeadTimePoint, ...] | None = Field(
        default=None, description="Discrete lead time: [{value, probability}], sum 1."
    )

    @property
    def stochastic_lead_time(self) -> bool:
        """True when the lead time is random (a std dev > 0 or several values)."""
        if self.lead_time_distribution is not None:
            return len({p.value for p in self.lead_time_distribution}) > 1
        return bool(self.lead_time_std_dev)

    @property
    def solver_lead_time(self) -> int:
        """The integer lead time :math:`T_j` the solvers plan for: the lead time rounded up,
        a normal one's mean + :data:`NORMAL_SPAN` std devs, a discrete one's largest value
        (:mod:`optim.models.safety_stock.lead_times`)."""
        if self.lead_time_distribution is not None:
            top = max(p.value for p in self.lead_time_distribution)
        else:
            top = float(self.lead_time) + NORMAL_SPAN * float(self.lead_time_std_dev or 0.0)
        return math.ceil(top - 1e-12)

    @property
    def table_points(self) -> int | None:
        """Points of the lead-time law in the stage's exact table
        (:mod:`optim.models.safety_stock.lead_times`): :data:`NORMAL_NODES` for a normal lead
        time, the values of a discrete one, 1 for a fractional deterministic one; ``None``
        for a deterministic whole lead time (the square-root model needs no table)."""
        if self.lead_time_distribution is not None:
            values = [p.value for p in self.lead_time_distribution]
            if len(values) == 1 and values[0] == int(values[0]):
                return None
            return len(values)
        if self.lead_time_std_dev:
            return NORMAL_NODES
        return None if float(self.lead_time) == int(self.lead_time) else 1

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        data["id"] = _id(data.get("id"))
        owner = f"stage {data.get('id')!r}"
        for key in ("external_service_time", "max_service_time"):
            if key in data:
                data[key] = _integer(data[key], key, owner)
        if "lead_time" in data:
            data["lead_time"] = _lead_time(data["lead_time"], owner)
        _check_lead_time_model(data, owner)
        h = data.get("holding_cost")
        if isinstance(h, (int, float)) and not isinstance(h, bool) and h < 0:
            raise InstanceError(
                f"holding_cost {h} of {owner} is negative; it must be >= 0.", field="holding_cost"
            )
        return data


def _check_lead_time_model(data: dict[str, Any], owner: str) -> None:
    """Validate ``lead_time_std_dev`` / ``lead_time_distribution``; fill the mean lead time."""
    sd = data.get("lead_time_std_dev")
    dist = data.get("lead_time_distribution")
    if sd is not None and dist is not None:
        raise InstanceError(
            f"{owner} has both lead_time_std_dev and lead_time_distribution; give one "
            "(a normal lead time by its std dev, or a discrete one by its values).",
            field="lead_time_std_dev",
        )
    if (
        isinstance(sd, (int, float))
        and not isinstance(sd, bool)
        and (not math.isfinite(sd) or sd < 0)
    ):
        raise InstanceError(
            f"lead_time_std_dev {sd} of {owner} is not allowed; it must be a finite "
            "number >= 0 (0 = deterministic lead time).",
            field="lead_time_std_dev",
        )
    if dist is None:
        return
    if not isinstance(dist, (list, tuple)):
        raise InstanceError(
            f"lead_time_distribution of {owner} must be a list of {{value, probability}}.",
            field="lead_time_distribution",
        )
    if len(dist) == 0:
        raise InstanceError(
            f"lead_time_distribution of {owner} is empty; give at least one "
            "{value, probability} (probabilities summing to 1), or omit the field.",
            field="lead_time_distribution",
        )
    points: list[tuple[float, float]] = []
    for k, p in enumerate(dist):
        rec = p.model_dump() if isinstance(p, LeadTimePoint) else p
        if not isinstance(rec, Mapping) or set(rec) != {"value", "probability"}:
            raise InstanceError(
                f"lead_time_distribution[{k}] of {owner} must be {{value, probability}}, "
                f"got {rec!r}.",
                field=f"lead_time_distribution[{k}]",
            )
        v, q = rec["value"], rec["probability"]
        for what, x in (("value", v), ("probability", q)):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise InstanceError(
                    f"lead_time_distribution[{k}].{what} {x!r} of {owner} must be a finite "
                    "number.",
                    field=f"lead_time_distribution[{k}].{what}",
                )
        if v < 0:
            raise InstanceError(
                f"lead_time_distribution[{k}].value {v} of {owner} is negative; lead times "
                "must be >= 0.",
                field=f"lead_time_distribution[{k}].value",
            )
        if not 0 < q <= 1:
            raise InstanceError(
                f"lead_time_distribution[{k}].probability {q} of {owner} is outside (0, 1].",
                field=f"lead_time_distribution[{k}].probability",
            )
        points.append((float(v), float(q)))
    total = sum(q for _, q in points)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise InstanceError(
            f"lead_time_distribution of {owner}: probabilities sum to {total:.9g}; they must "
            f"sum to 1 (tolerance {PROBABILITY_TOLERANCE:g}).",
            field="lead_time_distribution",
        )
    merged: dict[float, float] = {}
    for v, q in points:
        merged[v] = merged.get(v, 0.0) + q / total
    data["lead_time_distribution"] = [
        {"value": v, "probability": q} for v, q in sorted(merged.items())
    ]
    mean = sum(v * q for v, q in merged.items())
    given = data.get("lead_time")
    if given is None:
        data["lead_time"] = _lead_time(round(mean, 12), owner)
    elif isinstance(given, (int, float)) and abs(given - mean) > 1e-6 * max(1.0, mean):
        raise InstanceError(
            f"lead_time {given} of {owner} differs from the mean {mean:.6g} of its "
            "lead_time_distribution; omit lead_time (it is the distribution's mean) or fix "
            "the distribution.",
            field="lead_time",
        )


class Arc(Frozen):
    """Supply relation: stage ``source`` supplies stage ``target``.

    Attributes
    ----------
    source, target
        Stage ids (``source`` is upstream).
    quantity
        Units of ``source`` consumed per unit of ``target`` (> 0, default 1).
    """

    source: str
    target: str
    quantity: float = Field(default=1.0, gt=0, description="Units of source per unit of target.")

    @field_validator("source", "target", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _id(value)


class Demand(Frozen):
    """External demand of one customer segment at one stage.

    Attributes
    ----------
    stage
        Stage id that serves the segment.
    segment
        Segment name (unique per stage).
    mean, std_dev
        Mean and standard deviation of demand per period (>= 0).
    service_level
        :math:`\\alpha_d \\in (0, 1)`; :math:`z_d = \\Phi^{-1}(\\alpha_d)`.
    max_service_time
        Service time promised to the segment (whole periods >= 0): :math:`S_j \\le` it.
    service_measure
        What ``service_level`` measures: ``"cycle_service"`` (default; share of periods in
        which the segment has no shortage) or ``"fill_rate"`` (share of its demand served
        from stock by its due date). Model, simulator and report use these definitions.
    distribution
        Per-period demand at a stage with critical levels: ``"auto"`` (default: normal when
        ``std_dev <= mean / 2``, else negative binomial, or Poisson when
        ``std_dev**2 <= mean``), ``"normal"``, ``"poisson"`` (``std_dev`` ignored) or
        ``"negative_binomial"`` (needs ``std_dev**2 > mean``). Stages sized by the square-root
        model (one segment, ``max_z``, ...) assume normal demand.
    tier
        Rationing tier (1 = served first). At a stage with critical levels the priority is the
        tier, then the higher service level; either every segment at the stage has a tier or
        none has.
    """

    stage: str
    segment: str
    mean: float
    std_dev: float
    service_level: float
    max_service_time: int
    service_measure: Literal["cycle_service", "fill_rate"] = "cycle_service"
    distribution: Literal["auto", "normal", "poisson", "negative_binomial"] = "auto"
    tier: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        data["stage"] = _id(data.get("stage"))
        data["segment"] = _id(data.get("segment"))
        owner = f"segment {data.get('segment')!r} at stage {data.get('stage')!r}"
        if "max_service_time" in data:
            data["max_service_time"] = _integer(
                data["max_service_time"], "max_service_time", owner
            )
        for key in ("mean", "std_dev"):
            v = data.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise InstanceError(
                    f"{key} {v} of {owner} is negative; it must be >= 0.", field=key
                )
        a = data.get("service_level")
        if isinstance(a, (int, float)) and not isinstance(a, bool) and not 0 < a < 1:
            raise InstanceError(
                f"service_level {a} of {owner} is outside (0, 1); give a fraction such as 0.95.",
                field="service_level",
            )
        m = data.get("service_measure")
        if m is not None and m not in SERVICE_MEASURES:
            raise InstanceError(
                f"service_measure {m!r} of {owner} is unknown; allowed: "
                f"{', '.join(SERVICE_MEASURES)}."
            )
        dist = data.get("distribution")
        if dist is not None and dist not in DISTRIBUTIONS:
            raise InstanceError(
                f"distribution {dist!r} of {owner} is unknown; allowed: "
                f"{', '.join(DISTRIBUTIONS)}."
            )
        t = data.get("tier")
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            raise InstanceError(f"tier {t!r} of {owner} must be a whole number >= 1 (1 = first).")
        if dist == "negative_binomial":
            mu, sd = data.get("mean"), data.get("std_dev")
            if isinstance(mu, (int, float)) and isinstance(sd, (int, float)) and sd**2 <= mu:
                raise InstanceError(
                    f"std_dev {sd} of {owner} gives variance {sd**2:g} <= mean {mu}; "
                    "negative_binomial needs variance > mean (use poisson)."
                )
        return data


class SafetyStockInstance(Document):
    """A Guaranteed-Service Model instance (see :mod:`optim.models.safety_stock`).

    Attributes
    ----------
    kind
        Always ``"safety_stock"``.
    name
        Optional label.
    stages
        The stages; ids unique.
    arcs
        Supply relations; the network must be acyclic.
    demands
        External demands, one per (stage, segment).
    pooling
        How a stage shares its stock among the segments it serves: ``"critical_level"``
        (default; one base stock, a critical level per segment, each segment its own target),
        ``"max_z"`` (cover the strictest), ``"root_sum_square"`` or ``"additive"`` (these two do
        not differentiate service: first come, first served; see
        :mod:`optim.models.safety_stock`).
    lead_time_method
        How a first-come-first-served stage with a random lead time sizes its stock
        (:mod:`optim.models.safety_stock.lead_times`): ``"exact"`` (default; the quantile of
        demand over the random replenishment time, meets the target in simulation) or
        ``"two_moment"`` (the closed form of Humair, Ruark, Tomlin & Willems 2013, mean and
        variance only: reproduces their published figures, may fall short of the target).
        Stages with critical levels always use their exact model.
    """

    kind: Literal["safety_stock"] = "safety_stock"
    name: str = ""
    stages: tuple[Stage, ...]
    arcs: tuple[Arc, ...] = ()
    demands: tuple[Demand, ...]
    pooling: Pooling = "critical_level"
    lead_time_method: LeadTimeMethod = "exact"

    @model_validator(mode="after")
    def _check_references(self) -> SafetyStockInstance:
        if not self.stages:
            raise InstanceError(
                "stages is empty; allowed: at least one stage (an empty network has nothing "
                "to place).",
                field="stages",
            )
        if not self.demands:
            raise InstanceError(
                "demands is empty; allowed: at least one demand (without demand no stock is "
                "needed anywhere).",
                field="demands",
            )
        ids: set[str] = set()
        for k, s in enumerate(self.stages):
            if s.id in ids:
                raise InstanceError(f"stage id {s.id!r} appears twice.", field=f"stages[{k}].id")
            ids.add(s.id)
        known = _known(ids)
        pairs: set[tuple[str, str]] = set()
        for k, a in enumerate(self.arcs):
            for end in ("source", "target"):
                sid = getattr(a, end)
                if sid not in ids:
                    raise InstanceError(
                        f"arcs[{k}].{end} {sid!r} is not a stage id (known: {known}).",
                        field=f"arcs[{k}].{end}",
                    )
            if a.source == a.target:
                raise InstanceError(
                    f"arcs[{k}] is a loop at stage {a.source!r}; the network must be acyclic "
                    f"(cycle: {a.source} -> {a.source}).",
                    field=f"arcs[{k}]",
                )
            if (a.source, a.target) in pairs:
                raise InstanceError(
                    f"arc {a.source!r} -> {a.target!r} appears twice; merge the quantities.",
                    field=f"arcs[{k}]",
                )
            pairs.add((a.source, a.target))
        pos = {s.id: j for j, s in enumerate(self.stages)}
        src = [pos[a.source] for a in self.arcs]
        tgt = [pos[a.target] for a in self.arcs]
        from optim.models.graph import find_cycle  # numpy: not for `optim schema` (start-up)

        cycle = [self.stages[j].id for j in find_cycle(len(self.stages), src, tgt)]
        if cycle:
            raise InstanceError(
                "the network has a cycle: " + " -> ".join([*cycle, cycle[0]]) + "; GSM needs "
                "an acyclic network (remove or reverse one of these arcs).",
                field="arcs",
            )
        seen: set[tuple[str, str]] = set()
        for k, d in enumerate(self.demands):
            if d.stage not in ids:
                raise InstanceError(
                    f"demands[{k}].stage {d.stage!r} (segment {d.segment!r}) is not a stage id "
                    f"(known: {known}).",
                    field=f"demands[{k}].stage",
                )
            if (d.stage, d.segment) in seen:
                raise InstanceError(
                    f"segment {d.segment!r} appears twice at stage {d.stage!r}.",
                    field=f"demands[{k}].segment",
                )
            seen.add((d.stage, d.segment))
        tiered: dict[str, list[bool]] = {}
        for d in self.demands:
            tiered.setdefault(d.stage, []).append(d.tier is not None)
        for k, d in enumerate(self.demands):
            flags = tiered[d.stage]
            if d.tier is None and any(flags) and self.pooling == "critical_level":
                raise InstanceError(
                    f"segment {d.segment!r} at stage {d.stage!r} has no tier while other "
                    "segments at that stage have one; give every segment of the stage a tier "
                    "(1 = served first) or none.",
                    field=f"demands[{k}].tier",
                )

        from optim.instances.gate import check_gsm_memory, memory_inputs

        caps = {s.id: s.max_service_time for s in self.stages if s.max_service_time is not None}
        for d in self.demands:
            caps[d.stage] = min(caps.get(d.stage, d.max_service_time), d.max_service_time)
        check_gsm_memory(
            **memory_inputs(self.stages, [(a.source, a.target) for a in self.arcs]),
            tree=self.is_spanning_tree(),
            caps=caps,
        )
        return self

    # --- small conveniences -------------------------------------------------------------
    @property
    def stage_ids(self) -> list[str]:
        """Stage ids in input order."""
        return [s.id for s in self.stages]

    def is_spanning_tree(self) -> bool:
        """True when the undirected graph underlying the network has no cycle (a forest).

        Serial, assembly, distribution and mixed trees qualify; these are solved exactly by
        the Graves–Willems dynamic program.
        """
        from optim.models.graph import is_forest

        pos = {s.id: j for j, s in enumerate(self.stages)}
        return is_forest(
            len(self.stages),
            [pos[a.source] for a in self.arcs],
            [pos[a.target] for a in self.arcs],
        )


def _known(ids: set[str], limit: int = 8) -> str:
    shown = sorted(ids)[:limit]
    return ", ".join(shown) + (", ..." if len(ids) > limit else "")
