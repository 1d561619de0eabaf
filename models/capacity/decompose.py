"""Exact split of a capacity instance into independent blocks.

Products interact only through the capacity rows of the resources they use (and through
fill-rate floors, which span a whole segment). Without floors, the connected components of
the bipartite graph product — resource (an edge where some routing of the product uses the
resource) are independent problems: the LP, the lot-sizing MIP and every lexicographic stage
objective are sums over components, so solving each component alone and adding up is exact.
(In lexicographic mode each component keeps its own stage within the tolerance, which is at
least as tight as keeping the sum.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from optim.models.capacity.data import CapacityData, CapacitySolution

Int = NDArray[np.int64]


@dataclass(frozen=True)
class Block:
    """One component: its data and the positions of its items in the full instance."""

    data: CapacityData
    products: Int
    resources: Int
    routes: Int
    pairs: Int


def components(data: CapacityData) -> list[Int]:
    """Product indices of each component (products sharing no resource are apart)."""
    _, nr, np_, _, _, _ = data.shape
    prod = data.route_product[data.use_route]
    graph = coo_matrix(
        (np.ones(prod.size), (prod, np_ + data.use_resource)), shape=(np_ + nr, np_ + nr)
    )
    _, label = connected_components(graph, directed=False)
    plabel = label[:np_]
    order = np.argsort(plabel, kind="stable")
    cuts = np.flatnonzero(np.diff(plabel[order])) + 1
    return [np.asarray(g, dtype=np.int64) for g in np.split(order, cuts)]


def block(data: CapacityData, products: Int) -> Block:
    """The sub-instance of ``products`` and the resources they use."""
    _, nr, np_, _, _, _ = data.shape
    pmask = np.zeros(np_, dtype=bool)
    pmask[products] = True
    routes = np.flatnonzero(pmask[data.route_product])
    rmask = np.zeros(len(data.route_ids), dtype=bool)
    rmask[routes] = True
    umask = rmask[data.use_route]
    resources = np.unique(data.use_resource[umask])
    pairs = np.flatnonzero(pmask[data.pair_product])
    pnew = np.full(np_, -1, dtype=np.int64)
    pnew[products] = np.arange(products.size)
    jnew = np.full(len(data.route_ids), -1, dtype=np.int64)
    jnew[routes] = np.arange(routes.size)
    rnew = np.full(nr, -1, dtype=np.int64)
    rnew[resources] = np.arange(resources.size)
    sub = replace(
        data,
        resources=[data.resources[r] for r in resources],
        products=[data.products[p] for p in products],
        capacity=data.capacity[resources],
        overtime_capacity=data.overtime_capacity[resources],
        overtime_cost=data.overtime_cost[resources],
        holding_cost=data.holding_cost[products],
        initial_inventory=data.initial_inventory[products],
        max_inventory=data.max_inventory[products],
        setup_cost=data.setup_cost[products],
        min_lot_size=data.min_lot_size[products],
        route_product=pnew[data.route_product[routes]],
        route_ids=[data.route_ids[j] for j in routes],
        route_cost=data.route_cost[routes],
        use_route=jnew[data.use_route[umask]],
        use_resource=rnew[data.use_resource[umask]],
        use_hours=data.use_hours[umask],
        pair_product=pnew[data.pair_product[pairs]],
        pair_segment=data.pair_segment[pairs],
        demand=data.demand[pairs],
    )
    return Block(sub, products, resources, routes, pairs)


def merge(
    data: CapacityData, blocks: list[Block], sols: list[CapacitySolution]
) -> CapacitySolution:
    """One solution on the full instance from the blocks' solutions."""
    nt, nr, np_, _, nj, nk = data.shape
    prod = np.zeros((nj, nt))
    over = np.zeros((nr, nt))
    inv = np.zeros((np_, nt))
    ship = np.zeros((nk, nt))
    back = np.zeros((nk, nt))
    lost = np.zeros((nk, nt))
    setups = np.zeros((nj, nt)) if any(s.setups is not None for s in sols) else None
    for b, s in zip(blocks, sols, strict=True):
        prod[b.routes] = s.production
        over[b.resources] = s.overtime
        inv[b.products] = s.inventory
        ship[b.pairs] = s.shipments
        back[b.pairs] = s.backlog
        lost[b.pairs] = s.lost
        if setups is not None and s.setups is not None:
            setups[b.routes] = s.setups
    # pairs of products in no block cannot exist (every product has a routing)
    return CapacitySolution(prod, over, inv, ship, back, lost, setups)
