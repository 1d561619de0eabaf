"""Seeded generators of Guaranteed-Service-Model instances (pure: no I/O, no solving).

Every generator takes ``seed`` and returns the same :class:`SafetyStockInstance` for the same
arguments. Holding costs follow the usual echelon logic: each stage adds a random cost
:math:`a_j` and holds inventory at :math:`h_j = r\\,c_j` with the cumulative value
:math:`c_j = a_j + \\sum_{i \\to j} c_i` (rate :math:`r` = ``holding_rate``), so downstream
stock is dearer than upstream stock, which is what makes placement non-trivial.

``random_tree``
    A random spanning tree with arcs oriented at random (mixed assembly/distribution), demand
    at every stage without successors.
``serial``
    A chain ``1 -> 2 -> ... -> n`` with demand at the last stage.
``distribution``
    One plant feeding ``n_dcs`` distribution centres, each feeding ``n_retailers`` retailers;
    each retailer serves ``segments`` customer segments with different service levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.graph import topological_order

__all__ = ["distribution", "random_tree", "serial"]


def random_tree(
    n: int,
    seed: int = 0,
    *,
    service_levels: Sequence[float] = (0.95,),
    max_lead_time: int = 10,
    max_promise: int = 3,
    holding_rate: float = 0.25,
) -> SafetyStockInstance:
    """A random tree network of ``n`` stages.

    Stage ``k`` (k >= 1) attaches to a uniformly random earlier stage; the arc points either
    way with probability 1/2. The undirected graph is a tree, so every orientation is acyclic
    and the Graves–Willems dynamic program applies.

    Parameters
    ----------
    n
        Number of stages (>= 1).
    seed
        Random seed.
    service_levels
        Service levels drawn (uniformly) for the demands. With a single value every demand
        has the same z, which is what stockpyl's tree solver assumes.
    max_lead_time
        Lead times are drawn from ``1..max_lead_time``.
    max_promise
        Promised service times to customers are drawn from ``0..max_promise``.
    holding_rate
        Rate :math:`r` applied to the cumulative cost.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    parent = [int(rng.integers(0, k)) for k in range(1, n)]
    up = rng.random(n - 1) < 0.5
    arcs = [
        (p, k + 1) if flip else (k + 1, p)
        for k, (p, flip) in enumerate(zip(parent, up.tolist(), strict=True))
    ]
    return _build(
        rng,
        n,
        arcs,
        sinks_get_demand=True,
        service_levels=service_levels,
        max_lead_time=max_lead_time,
        max_promise=max_promise,
        holding_rate=holding_rate,
        name=f"random_tree_{n}_{seed}",
    )


def serial(
    n: int,
    seed: int = 0,
    *,
    service_level: float = 0.95,
    max_lead_time: int = 10,
    max_promise: int = 0,
    holding_rate: float = 0.25,
) -> SafetyStockInstance:
    """A serial chain ``"1" -> "2" -> ... -> "n"`` with external demand at stage ``"n"``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    rng = np.random.default_rng(seed)
    return _build(
        rng,
        n,
        [(k, k + 1) for k in range(n - 1)],
        sinks_get_demand=True,
        service_levels=(service_level,),
        max_lead_time=max_lead_time,
        max_promise=max_promise,
        holding_rate=holding_rate,
        name=f"serial_{n}_{seed}",
    )


def distribution(
    n_dcs: int = 2,
    n_retailers: int = 3,
    seed: int = 0,
    *,
    segments: Sequence[float] = (0.95,),
    max_lead_time: int = 6,
    max_promise: int = 1,
    holding_rate: float = 0.25,
) -> SafetyStockInstance:
    """A three-echelon distribution network: plant → DCs → retailers.

    Stage ids: ``"plant"``, ``"dc1"``.., ``"r1_1"``.. (retailer 1 of DC 1). Each retailer
    serves one demand per entry of ``segments`` (the entry is the segment's service level;
    segments are named ``"s1"``, ``"s2"``, ...), all with the same promised service time.
    """
    if n_dcs < 1 or n_retailers < 1:
        raise ValueError("n_dcs and n_retailers must be >= 1.")
    rng = np.random.default_rng(seed)
    ids = ["plant"]
    arcs: list[tuple[int, int]] = []
    for a in range(n_dcs):
        dc = len(ids)
        ids.append(f"dc{a + 1}")
        arcs.append((0, dc))
        for b in range(n_retailers):
            arcs.append((dc, len(ids)))
            ids.append(f"r{a + 1}_{b + 1}")
    return _build(
        rng,
        len(ids),
        arcs,
        sinks_get_demand=True,
        service_levels=tuple(segments),
        max_lead_time=max_lead_time,
        max_promise=max_promise,
        holding_rate=holding_rate,
        name=f"distribution_{n_dcs}x{n_retailers}_{seed}",
        ids=ids,
        segments_per_stage=len(segments),
    )


def _build(
    rng: np.random.Generator,
    n: int,
    arcs: list[tuple[int, int]],
    *,
    sinks_get_demand: bool,
    service_levels: Sequence[float],
    max_lead_time: int,
    max_promise: int,
    holding_rate: float,
    name: str,
    ids: list[str] | None = None,
    segments_per_stage: int = 0,
) -> SafetyStockInstance:
    ids = ids if ids is not None else [str(k + 1) for k in range(n)]
    lead = rng.integers(1, max_lead_time + 1, size=n)
    added = np.round(rng.uniform(1.0, 10.0, size=n), 2)
    preds: list[list[int]] = [[] for _ in range(n)]
    has_succ = np.zeros(n, dtype=bool)
    for u, v in arcs:
        preds[v].append(u)
        has_succ[u] = True
    value = np.zeros(n)
    for j in topological_order(n, [u for u, _ in arcs], [v for _, v in arcs]).tolist():
        value[j] = added[j] + sum(value[i] for i in preds[j])
    demands: list[dict[str, Any]] = []
    for j in np.flatnonzero(~has_succ if sinks_get_demand else np.ones(n, bool)).tolist():
        promise = int(rng.integers(0, max_promise + 1))
        if segments_per_stage:
            levels = list(service_levels)
            names = [f"s{k + 1}" for k in range(segments_per_stage)]
        else:
            levels = [float(rng.choice(np.asarray(service_levels)))]
            names = ["default"]
        for seg, alpha in zip(names, levels, strict=True):
            mean = float(np.round(rng.uniform(20.0, 100.0), 1))
            demands.append(
                {
                    "stage": ids[j],
                    "segment": seg,
                    "mean": mean,
                    "std_dev": float(np.round(mean * rng.uniform(0.1, 0.5), 2)),
                    "service_level": float(alpha),
                    "max_service_time": promise,
                }
            )
    return SafetyStockInstance(
        name=name,
        stages=[
            {"id": ids[j], "lead_time": int(lead[j]), "holding_cost": holding_rate * value[j]}
            for j in range(n)
        ],
        arcs=[{"source": ids[u], "target": ids[v]} for u, v in arcs],
        demands=demands,
    )
