"""Test-only helpers for the GSM tests: random networks, a brute-force oracle, stockpyl bridge.

The brute force recomputes every coefficient itself (paths, pooling, longest times) so that it
checks :func:`optim.models.safety_stock.prepare` too.
"""

from __future__ import annotations

import itertools
import math
import random
from statistics import NormalDist
from typing import Any

from optim.instances.safety_stock import SafetyStockInstance

Z_ONE = NormalDist().cdf(1.0)  # service level whose z is 1 (to carry stockpyl's constants)


def random_network(
    rng: random.Random,
    n: int,
    *,
    extra_arcs: int = 0,
    max_lead: int = 3,
    pooling: str | None = None,
) -> SafetyStockInstance:
    """A random spanning tree on ``n`` stages (random orientations) plus ``extra_arcs`` arcs.

    With ``extra_arcs = 0`` the network is a tree; otherwise usually a general DAG. Arcs are
    oriented along a random permutation, so the network is always acyclic.
    """
    stages = [
        {
            "id": f"s{i}",
            "lead_time": rng.randint(0, max_lead),
            "holding_cost": round(rng.uniform(0.0, 3.0), 3),
            "external_service_time": rng.choice([0, 0, 0, 1, 2]),
            **({"max_service_time": rng.randint(0, 3)} if rng.random() < 0.15 else {}),
        }
        for i in range(n)
    ]
    edges: set[tuple[int, int]] = set()
    for i in range(1, n):
        edges.add((rng.randrange(i), i))
    for _ in range(extra_arcs if n > 1 else 0):
        a, b = rng.sample(range(n), 2)
        if (b, a) not in edges:
            edges.add((a, b))
    perm = list(range(n))
    rng.shuffle(perm)
    rank = {v: k for k, v in enumerate(perm)}
    oriented = {(a, b) if rank[a] < rank[b] else (b, a) for a, b in edges}
    arcs = [
        {"source": f"s{a}", "target": f"s{b}", "quantity": rng.choice([1, 1, 1, 2, 0.5])}
        for a, b in sorted(oriented)
    ]
    suppliers = {a["source"] for a in arcs}
    demands = []
    for i in range(n):
        if f"s{i}" not in suppliers or rng.random() < 0.2:
            for g in range(rng.choice([1, 1, 2])):
                demands.append(
                    {
                        "stage": f"s{i}",
                        "segment": f"g{g}",
                        "mean": round(rng.uniform(0, 10), 2),
                        "std_dev": round(rng.uniform(0, 5), 2),
                        "service_level": round(rng.uniform(0.5, 0.99), 3),
                        "max_service_time": rng.randint(0, 4),
                    }
                )
    return SafetyStockInstance(
        stages=stages,
        arcs=arcs,
        demands=demands,
        pooling=pooling or rng.choice(["root_sum_square", "additive", "max_z"]),
    )


def brute_force(inst: SafetyStockInstance) -> float:
    """Minimum cost by enumerating every outbound service-time vector (tiny networks only).

    For fixed ``S`` the best inbound times are the smallest feasible ones,
    ``SI_j = max(s^e_j, max_i S_i, S_j - T_j)``, because the cost grows with ``tau``.
    """
    ids = [s.id for s in inst.stages]
    st = {s.id: s for s in inst.stages}
    pred: dict[str, list[str]] = {i: [] for i in ids}
    succ: dict[str, list[tuple[str, float]]] = {i: [] for i in ids}
    for a in inst.arcs:
        pred[a.target].append(a.source)
        succ[a.source].append((a.target, a.quantity))

    longest: dict[str, int] = {}

    def lng(j: str) -> int:  # longest replenishment time L_j
        if j not in longest:
            e = max([st[j].external_service_time] + [lng(i) for i in pred[j]])
            longest[j] = e + st[j].lead_time
        return longest[j]

    def units(j: str, stage: str) -> float:  # phi: sum over paths of quantity products
        own = 1.0 if j == stage else 0.0
        return own + sum(q * units(t, stage) for t, q in succ[j])

    z = [NormalDist().inv_cdf(d.service_level) for d in inst.demands]
    k: dict[str, float] = {}
    for j in ids:
        phi = [units(j, d.stage) for d in inst.demands]
        terms = [p * zz * d.std_dev for p, zz, d in zip(phi, z, inst.demands, strict=True)]
        if inst.pooling == "root_sum_square":
            k[j] = math.sqrt(sum(t * t for t in terms))
        elif inst.pooling == "additive":
            k[j] = sum(terms)
        else:
            zs = [zz for p, zz in zip(phi, z, strict=True) if p > 0]
            sig = math.sqrt(
                sum((p * d.std_dev) ** 2 for p, d in zip(phi, inst.demands, strict=True))
            )
            k[j] = (max(zs) if zs else 0.0) * sig
        k[j] = max(k[j], 0.0)

    caps = []
    for j in ids:
        cap = lng(j)
        if st[j].max_service_time is not None:
            cap = min(cap, st[j].max_service_time)
        for d in inst.demands:
            if d.stage == j:
                cap = min(cap, d.max_service_time)
        caps.append(cap)

    order: list[str] = []
    seen: set[str] = set()

    def visit(j: str) -> None:
        if j in seen:
            return
        seen.add(j)
        for i in pred[j]:
            visit(i)
        order.append(j)

    for j in ids:
        visit(j)
    best = math.inf
    for combo in itertools.product(*[range(c + 1) for c in caps]):
        s = dict(zip(ids, combo, strict=True))
        total = 0.0
        for j in order:
            si = max(
                [st[j].external_service_time, s[j] - st[j].lead_time] + [s[i] for i in pred[j]]
            )
            total += st[j].holding_cost * k[j] * math.sqrt(si + st[j].lead_time - s[j])
        best = min(best, total)
    return best


# --- stockpyl bridge (test-only) ---------------------------------------------------------


def from_stockpyl(tree: Any) -> SafetyStockInstance:
    """Convert a stockpyl GSM tree to our schema, matching stockpyl's cost exactly.

    stockpyl charges ``holding_cost * demand_bound_constant * sigma_net * sqrt(tau)`` per
    node, with ``sigma_net`` the root-sum-square of all downstream demand standard deviations
    (arc quantities are ignored, i.e. 1). We give every demand ``z = 1`` and fold each node's
    own constant into its holding cost. ``external_outbound_cst`` becomes the promise of the
    node's demand, or the stage's ``max_service_time`` when it has none.
    """
    nodes = list(tree.nodes)
    sinks = [k for k in nodes if not k.successor_indices()]
    default_z = next((k.demand_bound_constant for k in sinks if k.demand_bound_constant), 1)
    stages, demands, arcs = [], [], []
    for k in nodes:
        z = k.demand_bound_constant if k.demand_bound_constant is not None else default_z
        ds = k.demand_source
        has_demand = ds is not None and ds.mean is not None and ds.standard_deviation is not None
        stage: dict[str, Any] = {
            "id": str(k.index),
            "lead_time": k.processing_time,
            "holding_cost": k.holding_cost * z,
            "external_service_time": k.external_inbound_cst or 0,
        }
        if k.external_outbound_cst is not None and not has_demand:
            stage["max_service_time"] = k.external_outbound_cst
        stages.append(stage)
        if has_demand:
            promise = k.external_outbound_cst if k.external_outbound_cst is not None else 10**6
            demands.append(
                {
                    "stage": str(k.index),
                    "segment": "external",
                    "mean": ds.mean,
                    "std_dev": ds.standard_deviation,
                    "service_level": Z_ONE,
                    "max_service_time": promise,
                }
            )
        for s in k.successor_indices():
            arcs.append({"source": str(k.index), "target": str(s)})
    return SafetyStockInstance(stages=stages, arcs=arcs, demands=demands)


def random_stockpyl_tree(rng: random.Random, n: int) -> Any:
    """A random stockpyl tree (random orientations), demand at every sink and some others."""
    from stockpyl.supply_chain_network import network_from_edges

    edges = set()
    for i in range(2, n + 1):
        j = rng.randint(1, i - 1)
        edges.add((j, i) if rng.random() < 0.5 else (i, j))
    # orient along a random permutation to stay acyclic
    perm = list(range(1, n + 1))
    rng.shuffle(perm)
    rank = {v: k for k, v in enumerate(perm)}
    edges = {(a, b) if rank[a] < rank[b] else (b, a) for a, b in edges}
    nodes = list(range(1, n + 1))
    suppliers = {a for a, _ in edges}
    mean, std, ocst = {}, {}, {}
    for i in nodes:
        if i not in suppliers or rng.random() < 0.2:
            mean[i] = round(rng.uniform(0, 20), 2)
            std[i] = round(rng.uniform(0.5, 5), 2)
            ocst[i] = rng.randint(0, 3)
    return network_from_edges(
        sorted(edges),
        node_order_in_lists=nodes,
        processing_time={i: rng.randint(0, 6) for i in nodes},
        holding_cost={i: round(rng.uniform(0.1, 5), 2) for i in nodes},
        demand_bound_constant={i: round(rng.uniform(1.0, 2.5), 3) for i in nodes},
        external_inbound_cst={i: rng.choice([0, 0, 1, 2]) for i in nodes},
        external_outbound_cst=ocst,
        demand_type={i: "N" for i in mean},
        mean=mean,
        standard_deviation=std,
    )
