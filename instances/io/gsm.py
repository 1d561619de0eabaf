"""Readers that turn published GSM data sets into :class:`SafetyStockInstance` objects.

Pure parsing: no solving, no printing. Three sources are supported.

``read_willems(path)``
    The comma-separated text format of the ``stochasticnetworkcontrol/snc`` repository, used
    for the Willems (2008) chains (``willems_NN.csv``) and for the literature cases
    (``bulldozer.txt``, ``battery.txt``, ``digital_camera.txt``, ...). One row per stage::

        stage_id,lead_time,max_s_time,cost_rate,risk_pool,ext_demand_mean,ext_demand_std,
        ext_demand_thres,up_stage_1,phi_1,up_stage_2,phi_2,...

    (the header of some files says ``cost`` instead of ``cost_rate``; the meaning is the same).

``read_willems_xlsxmap(path)``
    The XML-map export of the original Willems workbook (``raw_xmlmap_csv/NN.csv``).

``from_stockpyl(network)``
    A stockpyl ``SupplyChainNetwork`` (test oracle only; stockpyl is imported lazily).

Conventions of the snc text format (checked against the reference solutions)
---------------------------------------------------------------------------
* ``cost_rate`` is the cost **added** at the stage, not the cumulative item value. The
  holding cost per unit of safety stock and period is

  .. math:: h_j = r \\cdot c_j, \\qquad c_j = a_j + \\sum_{i \\to j} \\phi_{ij} c_i,

  with :math:`r` the holding-cost rate, :math:`a_j` the added cost and :math:`\\phi_{ij}` the
  units of :math:`i` per unit of :math:`j`. This reproduces the brute-force optima of the
  small snc cases to 1e-9 with :math:`r = 1` (e.g. ``bulldozer_small_linear``: 170 084.857)
  and the published totals of the bulldozer (r = 0.3, ≈ 633 000), battery (r = 0.25,
  ≈ 853 000) and digital camera (r = 0.24, ≈ 71 757) cases; reading the column as cumulative
  would put the bulldozer's final assembly at 8 000 per unit instead of ≈ 72 000 and miss by
  an order of magnitude. ``cost_convention="cumulative"`` takes the column as the item value
  itself; the two older snc files ``brute_force_linear_solutions.json`` and
  ``brute_force_convergent_solutions.json`` (48 834.06 and 7 022.63) are reproduced exactly
  that way, and not with the added convention.
* ``ext_demand_thres`` is the safety factor :math:`z = \\Phi^{-1}(\\alpha)` rounded to three
  decimals. It is stored as ``service_level = Φ(z)`` (not the "nice" α it was rounded from),
  so that :math:`\\Phi^{-1}(\\text{service\\_level})` gives back the file's z: the round trip
  error is below 1e-9 for every z in the data (0.385 … 2.326) and below 1e-6 for
  :math:`z \\le 7`. The published optima were computed with the rounded z, so this is the
  convention that reproduces them.
* ``risk_pool`` is the exponent :math:`p` of the demand-bound pooling
  :math:`(\\sum_d (\\phi_{jd} z_d \\sigma_d)^p)^{1/p}`: 2 is ``"root_sum_square"``, 1 is
  ``"additive"``. It is blank on demand stages; every other stage of a file must agree.
* ``max_s_time`` bounds the stage's outbound service time (``Stage.max_service_time``); on a
  demand stage it is also the service time promised to its customers
  (``Demand.max_service_time``). A blank means no bound (a blank promise on a demand stage
  becomes the longest cumulative lead time into the stage, which never binds).
* Stage times (``lead_time``) are mean processing times and may be fractional in 18 of the
  38 Willems chains. The schema needs whole periods, so ``lead_time_rounding`` decides:
  ``"ceil"`` (default: never promises faster than the mean time, never raises), ``"round"``
  (nearest, halves up), ``"floor"`` (what the snc code does, ``int(float(x))``) or
  ``"error"`` (raise :class:`InstanceError` naming the stage).
* Each demand stage gets one segment, named by ``segment`` (default ``"default"``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.graph import CycleError, topological_order

__all__ = [
    "cumulative_costs",
    "from_stockpyl",
    "read_willems",
    "read_willems_xlsxmap",
    "service_level_from_z",
    "to_stockpyl",
]

#: the "max" treatment of a normal stage time: its 95th percentile with z as tabulated, 1.645
#: (the figure Humair et al.'s totals imply: see read_willems_xlsxmap)
MAX_NORMAL_Z = 1.645

Rounding = Literal["ceil", "round", "floor", "error"]
LeadTimes = Literal["rounded", "stochastic", "mean", "max"]

_NORMAL = NormalDist()
_SNC_COLUMNS = 8  # stage_id .. ext_demand_thres; upstream pairs follow


def service_level_from_z(z: float) -> float:
    """Return :math:`\\Phi(z)`, the service level whose safety factor is ``z``.

    ``Φ⁻¹(service_level_from_z(z))`` equals ``z`` to 1e-9 for ``|z| <= 5``.
    """
    return _NORMAL.cdf(z)


def read_willems(
    path: str | Path,
    holding_rate: float = 0.35,
    *,
    lead_time_rounding: Rounding = "ceil",
    cost_convention: Literal["added", "cumulative"] = "added",
    segment: str = "default",
    name: str | None = None,
) -> SafetyStockInstance:
    """Read a chain in the snc text format (see the module docstring for the conventions).

    Parameters
    ----------
    path
        A ``willems_NN.csv`` file or one of the snc literature cases (``bulldozer.txt``, ...).
    holding_rate
        Holding-cost rate :math:`r` per period; the holding cost of stage :math:`j` is
        :math:`r` times its cumulative cost. The Willems (2008) benchmark uses 0.35; the
        literature cases use 0.3 (bulldozer), 0.25 (battery) and 0.24 (digital camera).
    lead_time_rounding
        How a fractional stage time becomes whole periods: ``"ceil"`` (default), ``"round"``,
        ``"floor"`` or ``"error"``.
    cost_convention
        ``"added"`` (default, the snc and Willems convention) or ``"cumulative"``.
    segment
        Segment name given to each stage's external demand.
    name
        Instance name; defaults to the file stem.

    Returns
    -------
    SafetyStockInstance

    Raises
    ------
    InstanceError
        A malformed row, an unknown upstream stage, a cycle, mixed ``risk_pool`` values, or a
        fractional stage time with ``lead_time_rounding="error"``. Messages name the file, the
        line and the stage.
    """
    path = Path(path)
    if holding_rate < 0 or not math.isfinite(holding_rate):
        raise InstanceError(f"holding_rate {holding_rate} must be a finite number >= 0.")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    if not rows:
        raise InstanceError(f"{path.name}: the file is empty.")
    header = [c.strip() for c in rows[0]]
    if len(header) < _SNC_COLUMNS or header[0] != "stage_id" or header[1] != "lead_time":
        raise InstanceError(
            f"{path.name}: header {','.join(header[:8])!r} is not the snc GSM format "
            "(stage_id,lead_time,max_s_time,cost_rate,risk_pool,ext_demand_mean,"
            "ext_demand_std,ext_demand_thres,up_stages...)."
        )

    ids: list[str] = []
    lead: dict[str, int] = {}
    added: dict[str, float] = {}
    max_s: dict[str, int | None] = {}
    pools: set[int] = set()
    demands: list[dict[str, Any]] = []
    arcs: list[dict[str, Any]] = []
    for lineno, raw in enumerate(rows[1:], start=2):
        row = [c.strip() for c in raw] + [""] * max(0, _SNC_COLUMNS - len(raw))
        where = f"{path.name} line {lineno}"
        sid = row[0]
        if not sid:
            raise InstanceError(f"{where}: stage_id is empty.", field="stage_id")
        if sid in lead:
            raise InstanceError(f"{where}: stage {sid!r} appears twice.", field="stage_id")
        owner = f"{where} (stage {sid!r})"
        ids.append(sid)
        lead[sid] = _whole(_number(row[1], "lead_time", owner), lead_time_rounding, owner)
        ms = _number(row[2], "max_s_time", owner) if row[2] else None
        max_s[sid] = None if ms is None else _whole(ms, "error", owner, what="max_s_time")
        added[sid] = _number(row[3], "cost_rate", owner)
        if row[4]:
            pools.add(int(_number(row[4], "risk_pool", owner)))
        if row[5]:
            z = _number(row[7], "ext_demand_thres", owner)
            demands.append(
                {
                    "stage": sid,
                    "segment": segment,
                    "mean": _number(row[5], "ext_demand_mean", owner),
                    "std_dev": _number(row[6], "ext_demand_std", owner),
                    "service_level": service_level_from_z(z),
                    # a blank promise on a demand stage: no bound (checked below)
                    "max_service_time": max_s[sid],
                }
            )
        ups = list(row[_SNC_COLUMNS:])
        while ups and not ups[-1]:
            ups.pop()
        if len(ups) % 2:
            raise InstanceError(
                f"{owner}: upstream stages must come in pairs 'id,quantity'; got {ups}.",
                field="up_stages",
            )
        for k in range(0, len(ups), 2):
            arcs.append(
                {
                    "source": ups[k],
                    "target": sid,
                    "quantity": _number(ups[k + 1], f"quantity of upstream {ups[k]!r}", owner),
                }
            )

    known = set(ids)
    for a in arcs:
        if a["source"] not in known:
            raise InstanceError(
                f"{path.name}: stage {a['target']!r} lists upstream stage {a['source']!r}, "
                "which has no row of its own.",
                field="up_stages",
            )
    if len(pools) > 1:
        raise InstanceError(
            f"{path.name}: risk_pool differs between stages ({sorted(pools)}); one pooling "
            "rule per instance is supported (2 = root_sum_square, 1 = additive).",
            field="risk_pool",
        )
    pool = pools.pop() if pools else 2
    if pool not in (1, 2):
        raise InstanceError(
            f"{path.name}: risk_pool {pool} is not supported; use 2 (root_sum_square) or "
            "1 (additive).",
            field="risk_pool",
        )

    edges = [(a["source"], a["target"], float(a["quantity"])) for a in arcs]
    if cost_convention == "added":
        value = cumulative_costs(ids, edges, added)
    elif cost_convention == "cumulative":
        value = dict(added)
    else:
        raise InstanceError(
            f"cost_convention {cost_convention!r} is not one of 'added', 'cumulative'."
        )

    if any(d["max_service_time"] is None for d in demands):
        horizon = _longest_path(ids, edges, lead)
        for d in demands:
            if d["max_service_time"] is None:
                d["max_service_time"] = horizon[d["stage"]]
    stages = [
        {
            "id": sid,
            "lead_time": lead[sid],
            "holding_cost": holding_rate * value[sid],
            **({"max_service_time": max_s[sid]} if max_s[sid] is not None else {}),
        }
        for sid in ids
    ]
    return SafetyStockInstance(
        name=name if name is not None else path.stem,
        stages=stages,
        arcs=arcs,
        demands=demands,
        pooling="root_sum_square" if pool == 2 else "additive",
    )


def read_willems_xlsxmap(
    path: str | Path,
    holding_rate: float = 0.35,
    *,
    lead_time_rounding: Rounding = "ceil",
    lead_times: LeadTimes = "rounded",
    subperiods: int = 1,
    segment: str = "default",
    name: str | None = None,
) -> SafetyStockInstance:
    """Read a chain of the XML-map export of the Willems (2008) workbook (``raw_xmlmap_csv``).

    Row 1 is ``/chain``, row 2 holds XPath column names. Arc rows fill ``/arcs/arc/@from`` →
    ``/arcs/arc/@to`` (supplier → customer, one unit per unit); stage rows fill ``stageName``,
    ``stageTime`` (mean time), ``stDevStageTime`` (its standard deviation),
    ``StageTime_k_p`` / ``StageTime_k_v`` (k = 1..5: a discrete distribution of the stage
    time), ``stageCost`` (added cost), and for demand stages ``avgDemand``, ``stDevDemand``,
    ``serviceLevel`` and ``maxServiceTime``. Costs follow the same convention as
    :func:`read_willems` (added → cumulative × rate).

    Parameters
    ----------
    path, holding_rate, segment, name
        As in :func:`read_willems`.
    lead_time_rounding
        For ``lead_times="rounded"``: how a fractional mean time becomes whole periods.
    lead_times
        How stage times are read (the three treatments of Humair et al. 2013, plus the
        historical default):

        * ``"rounded"``: the mean time rounded by ``lead_time_rounding``, variability
          ignored (what this reader did before stochastic lead times);
        * ``"stochastic"``: a discrete distribution when ``StageTime_k_*`` is given, else a
          normal time with ``stDevStageTime`` when > 0; fractional means kept exactly;
        * ``"mean"``: deterministic at the mean (of the distribution when given), exact;
        * ``"max"``: deterministic at the largest value of the distribution, or at the 95th
          percentile (mean + 1.645 std devs) for a normal time: Humair et al.'s convention,
          shown by their figures (their max-treatment total stock less safety stock is the
          pipeline stock at exactly these lead times on chains 6, 7, 10, 11, 14 and 15; with
          mean + 3 std devs it would be 5-18 % larger).

    subperiods
        Time-unit rescaling: count time in ``1/subperiods`` of the data's period (stage
        times, their std devs and distributions and maximum service times times
        ``subperiods``; demand mean divided by it, its std dev by its square root, so the
        safety stock of a deterministic stage is unchanged). Service times are whole periods
        in the GSM here; Humair et al. let them be fractional, so a stage time of 9.5 can be
        passed on exactly. With ``subperiods=10`` every extreme point of chains whose times
        have one decimal is whole: their mean-treatment figures are then approached (chain 3:
        5,017 vs 5,004 reported, 5,155 in whole periods; chain 8: 41,567 vs 41,180, 54,064).

        A discrete distribution whose mean and std dev contradict the row's ``stageTime`` and
        ``stDevStageTime`` is repaired when changing exactly one of its values makes both
        moments agree (chain 8, ``Part_0001``: ``{1: 0.5, 45: 0.5}`` with stage time 42.5 and
        std dev 2.5 is read as ``{40: 0.5, 45: 0.5}``; Humair et al.'s pipeline stock for the
        chain confirms 42.5); any other contradiction is refused naming the line.

    Returns
    -------
    SafetyStockInstance
    """
    import pandas as pd

    from optim.instances.safety_stock import NORMAL_SPAN

    if isinstance(subperiods, bool) or not isinstance(subperiods, int) or subperiods < 1:
        raise InstanceError(
            f"subperiods {subperiods!r} is not allowed; it must be a whole number >= 1.",
            field="subperiods",
        )
    if lead_times not in ("rounded", "stochastic", "mean", "max"):
        raise InstanceError(
            f"lead_times {lead_times!r} is not one of 'rounded', 'stochastic', 'mean', 'max'.",
            field="lead_times",
        )
    path = Path(path)
    frame = pd.read_csv(path, header=1, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    cols = {c.rsplit("/", 1)[-1].lstrip("@"): c for c in frame.columns}

    def col(key: str) -> str:
        for k, c in cols.items():
            if k.lower() == key.lower():
                return c
        raise InstanceError(f"{path.name}: column {key!r} is missing.", field=key)

    def optional(key: str) -> str | None:
        return next((c for k, c in cols.items() if k.lower() == key.lower()), None)

    c_from, c_to = col("from"), col("to")
    c_name, c_time, c_cost = col("stageName"), col("stageTime"), col("stageCost")
    c_mu, c_sd, c_sl, c_ms = (
        col("avgDemand"),
        col("stDevDemand"),
        col("serviceLevel"),
        col("maxServiceTime"),
    )
    c_tsd = optional("stDevStageTime")
    c_points: list[tuple[str, str]] = []
    for k in range(1, 10):
        cp, cv = optional(f"StageTime_{k}_p"), optional(f"StageTime_{k}_v")
        if cp is not None and cv is not None:
            c_points.append((cp, cv))

    ids: list[str] = []
    lead: dict[str, int | float] = {}
    span: dict[str, int] = {}
    extra: dict[str, dict[str, Any]] = {}
    added: dict[str, float] = {}
    edges: list[tuple[str, str, float]] = []
    demands: list[dict[str, Any]] = []
    for lineno, row in enumerate(frame.itertuples(index=False), start=3):
        rec = dict(zip(frame.columns, row, strict=True))
        src, dst = rec[c_from].strip(), rec[c_to].strip()
        if src and dst:
            edges.append((src, dst, 1.0))
        sid = rec[c_name].strip()
        if not sid:
            continue
        owner = f"{path.name} line {lineno} (stage {sid!r})"
        if sid in lead:
            raise InstanceError(f"{owner}: stage appears twice.", field="stageName")
        ids.append(sid)
        mean_time = _number(rec[c_time], "stageTime", owner)
        points = [
            (_number(rec[v], "StageTime_v", owner), _number(rec[p], "StageTime_p", owner))
            for p, v in c_points
            if rec[p].strip()
        ]
        sd_time = (
            _number(rec[c_tsd], "stDevStageTime", owner) if c_tsd and rec[c_tsd].strip() else 0.0
        )
        if points:
            points = _reconcile(points, mean_time, sd_time, owner)
        if subperiods != 1:
            mean_time, sd_time = mean_time * subperiods, sd_time * subperiods
            points = [(v * subperiods, p) for v, p in points]
        if lead_times == "rounded":
            lead[sid] = _whole(mean_time, lead_time_rounding, owner)
        elif points:
            total = sum(p for _, p in points) or 1.0
            mean_time = sum(v * p for v, p in points) / total
            if lead_times == "stochastic":
                extra[sid] = {
                    "lead_time_distribution": [{"value": v, "probability": p} for v, p in points]
                }
            else:
                lead[sid] = _exact(max(v for v, _ in points) if lead_times == "max" else mean_time)
        else:
            if lead_times == "stochastic" and sd_time > 0:
                extra[sid] = {"lead_time_std_dev": sd_time}
            top = mean_time + (MAX_NORMAL_Z * sd_time if lead_times == "max" else 0.0)
            lead[sid] = _exact(top)
        lead.setdefault(sid, _exact(mean_time))
        # the longest time the solvers consider (blank promises must never bind)
        span[sid] = math.ceil(
            max([float(lead[sid])] + [v for v, _ in points if lead_times == "stochastic"])
            + (NORMAL_SPAN * sd_time if lead_times == "stochastic" and not points else 0.0)
            - 1e-12
        )
        added[sid] = _number(rec[c_cost] or "0", "stageCost", owner)
        if rec[c_mu].strip():
            demands.append(
                {
                    "stage": sid,
                    "segment": segment,
                    "mean": _number(rec[c_mu], "avgDemand", owner) / subperiods,
                    "std_dev": _number(rec[c_sd] or "0", "stDevDemand", owner)
                    / math.sqrt(subperiods),
                    "service_level": _number(rec[c_sl], "serviceLevel", owner),
                    "max_service_time": (
                        _whole(_number(rec[c_ms], "maxServiceTime", owner), "error", owner)
                        * subperiods
                        if rec[c_ms].strip()
                        else None
                    ),
                }
            )
    known = set(ids)
    for u, v, _ in edges:
        for end in (u, v):
            if end not in known:
                raise InstanceError(
                    f"{path.name}: arc {u!r} -> {v!r} names stage {end!r}, which has no row.",
                    field="arcs",
                )
    value = cumulative_costs(ids, edges, added)
    promise = {d["stage"]: d["max_service_time"] for d in demands}
    if any(d["max_service_time"] is None for d in demands):
        horizon = _longest_path(ids, edges, span)
        for d in demands:
            if d["max_service_time"] is None:
                d["max_service_time"] = horizon[d["stage"]]
    return SafetyStockInstance(
        name=name if name is not None else path.stem,
        stages=[
            {
                "id": s,
                **({} if "lead_time_distribution" in extra.get(s, {}) else {"lead_time": lead[s]}),
                **extra.get(s, {}),
                "holding_cost": holding_rate * value[s],
                **({"max_service_time": promise[s]} if promise.get(s) is not None else {}),
            }
            for s in ids
        ],
        arcs=[{"source": u, "target": v, "quantity": q} for u, v, q in edges],
        demands=demands,
    )


def _exact(value: float) -> int | float:
    """A stage time as given: whole values as ``int``, fractional ones kept (to 1e-9)."""
    r = round(value)
    return int(r) if abs(value - r) <= 1e-9 else float(value)


def from_stockpyl(network: Any, *, segment: str = "default") -> SafetyStockInstance:
    """Convert a stockpyl GSM ``SupplyChainNetwork`` (a tree) to a :class:`SafetyStockInstance`.

    Mapping: node ``index`` → stage id (as a string); ``processing_time`` → ``lead_time``;
    ``local_holding_cost`` → ``holding_cost`` (stockpyl's GSM charges it per unit of safety
    stock, as we do); ``external_inbound_cst`` → ``external_service_time``;
    ``external_outbound_cst`` → the stage's ``max_service_time`` and, for a node with external
    demand, the segment's promise; ``demand_source.mean`` / ``standard_deviation`` and
    ``demand_bound_constant`` (z, defaulting like stockpyl to the first sink's z, else 1) →
    one demand with ``service_level = Φ(z)``. Arcs carry quantity 1 (stockpyl's GSM has no
    bill-of-material quantities).

    stockpyl computes a stage's safety stock as :math:`z_j \\sigma_j \\sqrt{\\tau}` with its
    own :math:`z_j` and the root-sum-square of downstream standard deviations; this equals our
    :math:`\\sqrt{\\tau}\\sqrt{\\sum_d (z_d \\sigma_d)^2}` only when every z in the network is the
    same, which is checked.

    Parameters
    ----------
    network
        A ``stockpyl.supply_chain_network.SupplyChainNetwork``.
    segment
        Segment name of each node's external demand.

    Raises
    ------
    ImportError
        stockpyl is not installed (it is a test-only dependency).
    InstanceError
        The network mixes different demand-bound constants.
    """
    try:
        import stockpyl  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without stockpyl
        raise ImportError(
            "from_stockpyl needs the stockpyl package (a test-only dependency of optim); "
            "install it with `pip install stockpyl==1.0.2`."
        ) from exc

    nodes = sorted(network.nodes, key=lambda n: n.index)
    sinks = [n for n in nodes if not n.successor_indices()]
    z_default = next(
        (n.demand_bound_constant for n in sinks if n.demand_bound_constant is not None), 1.0
    )
    zs = {
        n.index: n.demand_bound_constant if n.demand_bound_constant is not None else z_default
        for n in nodes
    }
    if len({round(float(z), 12) for z in zs.values()}) > 1:
        raise InstanceError(
            "stockpyl network mixes demand_bound_constant values "
            f"({sorted(set(zs.values()))}); optim pools per-demand z values, which equals "
            "stockpyl's per-node z only when all are equal.",
            field="demand_bound_constant",
        )
    edges = [(str(p), str(n.index), 1.0) for n in nodes for p in n.predecessor_indices()]
    lead = {str(n.index): int(n.processing_time or 0) for n in nodes}
    horizon = _longest_path(list(lead), edges, lead)
    stages: list[dict[str, Any]] = []
    demands: list[dict[str, Any]] = []
    for n in nodes:
        sid = str(n.index)
        inbound = int(n.external_inbound_cst or 0)
        outbound = n.external_outbound_cst
        stage: dict[str, Any] = {
            "id": sid,
            "lead_time": lead[sid],
            "holding_cost": float(n.local_holding_cost or 0.0),
            "external_service_time": inbound,
        }
        if outbound is not None:
            stage["max_service_time"] = int(outbound)
        stages.append(stage)
        src = n.demand_source
        mean = getattr(src, "mean", None) if src is not None else None
        sd = getattr(src, "standard_deviation", None) if src is not None else None
        if mean is not None or sd is not None:
            demands.append(
                {
                    "stage": sid,
                    "segment": segment,
                    "mean": float(mean or 0.0),
                    "std_dev": float(sd or 0.0),
                    "service_level": service_level_from_z(float(zs[n.index])),
                    "max_service_time": (
                        int(outbound) if outbound is not None else horizon[sid] + inbound
                    ),
                }
            )
    return SafetyStockInstance(
        stages=stages,
        arcs=[{"source": u, "target": v, "quantity": q} for u, v, q in edges],
        demands=demands,
    )


def to_stockpyl(instance: SafetyStockInstance) -> Any:
    """The instance as a stockpyl ``SupplyChainNetwork`` (for cross-checks; test-only).

    Stages become nodes ``1..n`` in instance order (``from_stockpyl`` returns them as ids
    ``"1".."n"``). Only what stockpyl's GSM tree solver can express is accepted: a tree, arc
    quantities of 1, at most one demand per stage and the same service level everywhere.

    Raises
    ------
    ImportError
        stockpyl is not installed.
    InstanceError
        The instance uses something stockpyl cannot express.
    """
    try:
        from stockpyl.demand_source import DemandSource
        from stockpyl.supply_chain_network import SupplyChainNetwork
        from stockpyl.supply_chain_node import SupplyChainNode
    except ImportError as exc:  # pragma: no cover - exercised only without stockpyl
        raise ImportError(
            "to_stockpyl needs the stockpyl package (a test-only dependency of optim); "
            "install it with `pip install stockpyl==1.0.2`."
        ) from exc

    levels = {d.service_level for d in instance.demands}
    if len(levels) > 1:
        raise InstanceError(
            f"stockpyl needs one service level for all demands; got {sorted(levels)}.",
            field="demands.service_level",
        )
    if any(a.quantity != 1 for a in instance.arcs):
        raise InstanceError("stockpyl's GSM has no bill-of-material quantities.", field="arcs")
    if not instance.is_spanning_tree():
        raise InstanceError("stockpyl's GSM solver needs a tree network.", field="arcs")
    per_stage = [d.stage for d in instance.demands]
    if len(set(per_stage)) < len(per_stage):
        raise InstanceError("stockpyl takes one demand per stage.", field="demands")
    z = _NORMAL.inv_cdf(levels.pop()) if levels else 1.0
    index = {s.id: k + 1 for k, s in enumerate(instance.stages)}
    network = SupplyChainNetwork()
    nodes = {}
    for s in instance.stages:
        node = SupplyChainNode(index=index[s.id], network=network)
        node.processing_time = s.lead_time
        node.local_holding_cost = s.holding_cost
        node.external_inbound_cst = s.external_service_time
        node.demand_bound_constant = z
        node.demand_source = DemandSource()
        if s.max_service_time is not None:
            node.external_outbound_cst = s.max_service_time
        nodes[s.id] = node
        network.add_node(node)
    for d in instance.demands:
        node = nodes[d.stage]
        node.demand_source = DemandSource(type="N", mean=d.mean, standard_deviation=d.std_dev)
        cap = node.external_outbound_cst
        node.external_outbound_cst = (
            d.max_service_time if cap is None else min(cap, d.max_service_time)
        )
    for a in instance.arcs:
        network.add_edge(index[a.source], index[a.target])
    return network


# --- helpers ---------------------------------------------------------------------------------


def cumulative_costs(
    ids: Iterable[str], edges: Iterable[tuple[str, str, float]], added: dict[str, float]
) -> dict[str, float]:
    """Cumulative unit value :math:`c_j = a_j + \\sum_{i \\to j} \\phi_{ij} c_i` of every stage.

    Parameters
    ----------
    ids
        Stage ids.
    edges
        ``(source, target, quantity)`` triples: ``quantity`` units of source per target.
    added
        Cost added at each stage.

    Raises
    ------
    InstanceError
        The network has a cycle.
    """
    ids = list(ids)
    preds: dict[str, list[tuple[str, float]]] = {s: [] for s in ids}
    for u, v, q in edges:
        preds[v].append((u, q))
    value: dict[str, float] = {}
    for s in _topological(ids, edges):
        value[s] = added[s] + sum(q * value[u] for u, q in preds[s])
    return value


def _topological(ids: list[str], edges: Iterable[tuple[str, str, float]]) -> list[str]:
    pos = {s: k for k, s in enumerate(ids)}
    pairs = [(pos[u], pos[v]) for u, v, _ in edges]
    try:
        order = topological_order(len(ids), [u for u, _ in pairs], [v for _, v in pairs])
    except CycleError as exc:
        stuck = sorted(ids[k] for k in exc.nodes)[:5]
        raise InstanceError(
            f"the network has a cycle through stages {', '.join(stuck)}; GSM needs an "
            "acyclic network.",
            field="arcs",
        ) from None
    return [ids[k] for k in order.tolist()]


def _longest_path(
    ids: list[str], edges: list[tuple[str, str, float]], lead: dict[str, int]
) -> dict[str, int]:
    """Longest cumulative lead time ending at each stage (a non-binding service bound)."""
    preds: dict[str, list[str]] = {s: [] for s in ids}
    for u, v, _ in edges:
        preds[v].append(u)
    out: dict[str, int] = {}
    for s in _topological(ids, edges):
        out[s] = lead[s] + max((out[u] for u in preds[s]), default=0)
    return out


def _moments(points: list[tuple[float, float]]) -> tuple[float, float]:
    total = sum(p for _, p in points)
    mean = sum(v * p for v, p in points) / total
    return mean, math.sqrt(max(sum(p * (v - mean) ** 2 for v, p in points) / total, 0.0))


def _reconcile(
    points: list[tuple[float, float]], mean_time: float, sd_time: float, owner: str
) -> list[tuple[float, float]]:
    """The ``(value, probability)`` points of a stage-time distribution, checked against the
    row's own ``stageTime`` (and ``stDevStageTime`` when given) to 1e-3 relative; a single
    wrong value is repaired when exactly one replacement makes both moments agree (see
    :func:`read_willems_xlsxmap`), anything else is refused."""

    def agrees(m: float, sd: float) -> bool:
        return abs(m - mean_time) <= 1e-3 * max(1.0, abs(mean_time)) and (
            sd_time <= 0 or abs(sd - sd_time) <= 1e-3 * max(1.0, sd_time)
        )

    if agrees(*_moments(points)):
        return points
    total = sum(p for _, p in points)
    first = sum(v * p for v, p in points)
    repairs = []
    if sd_time > 0:
        for i, (v, p) in enumerate(points):
            w = (mean_time * total - (first - v * p)) / p
            cand = [(w, q) if k == i else (u, q) for k, (u, q) in enumerate(points)]
            if w >= 0 and agrees(*_moments(cand)):
                repairs.append(cand)
    if len(repairs) == 1:
        return repairs[0]
    m, sd = _moments(points)
    raise InstanceError(
        f"{owner}: the StageTime_k distribution has mean {m:.6g} and std dev {sd:.6g}, but "
        f"stageTime is {mean_time:g} and stDevStageTime {sd_time:g}; they must agree (to "
        "1e-3 relative). Fix the distribution or the stage time.",
        field="StageTime_k_v",
    )


def _number(text: str, what: str, owner: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InstanceError(f"{owner}: {what} {text!r} is not a number.", field=what) from None
    if not math.isfinite(value):
        raise InstanceError(f"{owner}: {what} {text!r} must be finite.", field=what)
    return value


def _whole(value: float, rounding: str, owner: str, what: str = "lead_time") -> int:
    if value == int(value):
        return int(value)
    if rounding == "ceil":
        return math.ceil(value)
    if rounding == "floor":
        return math.floor(value)
    if rounding == "round":
        return math.floor(value + 0.5)
    if rounding == "error":
        hint = (
            "; pass lead_time_rounding='ceil', 'round' or 'floor' to convert it"
            if what == "lead_time"
            else ""
        )
        raise InstanceError(
            f"{owner}: {what} {value} is not a whole number of periods{hint}.", field=what
        )
    raise InstanceError(
        f"lead_time_rounding {rounding!r} is not one of 'ceil', 'round', 'floor', 'error'."
    )
