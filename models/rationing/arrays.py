"""Instance → arrays: lines, cells (item × location), arcs and connected components.

Pure and vectorised; positions are internal, every table going out is keyed by the user's ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from optim.instances.rules import FAIR_SHARES

if TYPE_CHECKING:  # the solve's worker processes unpickle Problem without pandas or scipy
    from optim.instances.rationing import RationingInstance

RULES = FAIR_SHARES  # rule codes are positions in this tuple


class Rule(IntEnum):
    """Codes of the fair-share rules in :attr:`Problem.rule` (``RULES[code]`` is the name)."""

    PROPORTIONAL = RULES.index("proportional")
    EQUAL = RULES.index("equal")
    WEIGHTED = RULES.index("weighted")


IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Problem:
    """Arrays of one rationing instance.

    Lines follow the input order of ``demand``; cells follow ``supply``; arcs are sorted by
    (line, preference rank).
    """

    line_id: NDArray[np.object_]
    line_item: IntArray
    tier: IntArray
    rule: IntArray  # index into RULES
    request: FloatArray  # r_i
    cap: FloatArray  # q_i = min(r_i, max_quantity)
    minimum: FloatArray  # m_i = min(min_quantity, q_i)
    weight: FloatArray  # the weighted rule's weight
    lot: FloatArray  # 0 = no lot size
    all_or_nothing: NDArray[np.bool_]
    cell_item: IntArray
    cell_location: IntArray
    supply: FloatArray
    item_names: NDArray[np.object_]
    location_names: NDArray[np.object_]
    arc_line: IntArray
    arc_cell: IntArray
    arc_rank: FloatArray
    arc_cost: FloatArray
    arc_previous: FloatArray
    line_component: IntArray
    cell_component: IntArray
    num_tiers: int
    stability: bool

    @property
    def num_lines(self) -> int:
        return int(self.line_id.shape[0])

    @property
    def num_cells(self) -> int:
        return int(self.supply.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.arc_line.shape[0])

    def subset(self, lines: IntArray, arcs: IntArray, cells: IntArray) -> Problem:
        """The sub-problem of whole components: ``lines``, their ``arcs`` and ``cells``.

        Indices are renumbered locally (arcs keep their order); small enough to send to a
        worker process: the user's ids are left out (``line_id`` holds None per line,
        ``item_names`` and ``location_names`` are empty): a sub-problem is solved, never
        reported. With every item's name in each block, pickling the blocks of a dense
        3·10^5-line week took 0.22 CPU s and unpickling 0.26 s; without, 0.03 and 0.01 s (the
        names grow with the items and are sent once per block).
        """

        def local(members: IntArray, values: IntArray) -> IntArray:
            order = np.argsort(members, kind="stable")
            return order[np.searchsorted(members[order], values)].astype(np.int64)

        no_names = np.empty(0, dtype=object)
        return Problem(
            line_id=np.empty(len(lines), dtype=object),
            line_item=self.line_item[lines],
            tier=self.tier[lines],
            rule=self.rule[lines],
            request=self.request[lines],
            cap=self.cap[lines],
            minimum=self.minimum[lines],
            weight=self.weight[lines],
            lot=self.lot[lines],
            all_or_nothing=self.all_or_nothing[lines],
            cell_item=self.cell_item[cells],
            cell_location=self.cell_location[cells],
            supply=self.supply[cells],
            item_names=no_names,
            location_names=no_names,
            arc_line=local(lines, self.arc_line[arcs]),
            arc_cell=local(cells, self.arc_cell[arcs]),
            arc_rank=self.arc_rank[arcs],
            arc_cost=self.arc_cost[arcs],
            arc_previous=self.arc_previous[arcs],
            line_component=self.line_component[lines],
            cell_component=self.cell_component[cells],
            num_tiers=self.num_tiers,
            stability=self.stability,
        )

    def rule_weight(self, requests: FloatArray) -> FloatArray:
        """w_i such that the rule's ratio is a_i / w_i (proportional: the request itself)."""
        return np.where(
            self.rule == Rule.PROPORTIONAL,
            requests,
            np.where(self.rule == Rule.EQUAL, 1.0, self.weight),
        ).astype(np.float64)


def prepare(inst: RationingInstance) -> Problem:
    """Build the arrays of ``inst`` (validated already)."""
    import pandas as pd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sup, dem, seg = inst.supply, inst.demand, inst.segments
    item_codes, item_names = pd.factorize(sup["item"], sort=False)
    loc_index = pd.Index(sorted(sup["location"].unique()))
    item_index = pd.Index(item_names)
    cell_item = item_codes.astype(np.int64)
    cell_loc = loc_index.get_indexer(sup["location"]).astype(np.int64)
    n_loc = len(loc_index)
    cell_key = cell_item * n_loc + cell_loc
    key_order = np.argsort(cell_key, kind="stable")
    sorted_keys = cell_key[key_order]

    seg_of = pd.Index(seg["name"]).get_indexer(dem["segment"])
    tier = seg["tier"].to_numpy(dtype=np.int64)[seg_of]
    rule = np.array([RULES.index(r) for r in seg["fair_share"]], dtype=np.int64)[seg_of]
    line_item = item_index.get_indexer(dem["item"]).astype(np.int64)
    request = dem["quantity"].to_numpy(dtype=np.float64)
    cap = np.minimum(request, dem["max_quantity"].to_numpy(dtype=np.float64))
    minimum = np.minimum(dem["min_quantity"].to_numpy(dtype=np.float64), cap)
    n = len(dem)

    # --- arcs of lines with an explicit preference list -----------------------------------
    locs = dem["locations"].to_numpy(dtype=object)
    explicit = ~pd.isna(locs)
    ex_lines = np.flatnonzero(explicit)
    if len(ex_lines):
        cells = locs[ex_lines]
        lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
        flat = np.fromiter(chain.from_iterable(cells), dtype=object, count=int(lengths.sum()))
        ex_line = np.repeat(ex_lines, lengths)
        ex_loc = loc_index.get_indexer(flat)
        starts = np.cumsum(lengths) - lengths
        ex_rank = np.arange(len(ex_line)) - np.repeat(starts, lengths)
        key = line_item[ex_line] * n_loc + ex_loc
        pos = np.searchsorted(sorted_keys, key)
        pos_c = np.minimum(pos, len(sorted_keys) - 1)
        found = sorted_keys[pos_c] == key
        ex_cell = key_order[pos_c][found]
        ex_line, ex_rank = ex_line[found], ex_rank[found].astype(np.float64)
    else:
        ex_line = np.zeros(0, np.int64)
        ex_cell = np.zeros(0, np.int64)
        ex_rank = np.zeros(0, np.float64)

    # --- arcs of lines eligible everywhere their item is stocked (rank = location id order) --
    df_lines = np.flatnonzero(~explicit)
    by_item = np.lexsort((cell_loc, cell_item))  # cells sorted by (item, location)
    counts = np.bincount(cell_item, minlength=len(item_index))
    offsets = np.r_[0, np.cumsum(counts)]
    k = counts[line_item[df_lines]]
    df_line = np.repeat(df_lines, k)
    within = np.arange(len(df_line)) - np.repeat(np.cumsum(k) - k, k)
    df_cell = by_item[offsets[line_item[df_line]] + within]
    df_rank = within.astype(np.float64)

    arc_line = np.concatenate([ex_line, df_line]).astype(np.int64)
    arc_cell = np.concatenate([ex_cell, df_cell]).astype(np.int64)
    arc_rank = np.concatenate([ex_rank, df_rank])
    order = np.lexsort((arc_rank, arc_line))
    arc_line, arc_cell, arc_rank = arc_line[order], arc_cell[order], arc_rank[order]

    # lane costs and previous allocation per arc
    arc_cost = np.zeros(len(arc_line))
    if len(inst.lanes):
        cust = pd.Index(pd.unique(dem["customer"]))
        cust_code = cust.get_indexer(dem["customer"]).astype(np.int64)
        lane_cust = cust.get_indexer(inst.lanes["customer"])
        lane_loc = loc_index.get_indexer(inst.lanes["location"])
        known = (lane_cust >= 0) & (lane_loc >= 0)  # master-data rows absent from this run
        lane_key = lane_loc * len(cust) + lane_cust
        lane_cost = pd.Series(inst.lanes["cost"].to_numpy()[known], index=lane_key[known])
        a_key = cell_loc[arc_cell] * len(cust) + cust_code[arc_line]
        arc_cost = lane_cost.reindex(a_key).fillna(0.0).to_numpy(dtype=np.float64)
    arc_prev = np.zeros(len(arc_line))
    if len(inst.previous):
        line_pos = pd.Index(dem["id"]).get_indexer(inst.previous["demand_id"])
        prev_key = line_pos * n_loc + loc_index.get_indexer(inst.previous["location"])
        prev = pd.Series(inst.previous["quantity"].to_numpy(), index=prev_key)
        arc_prev = (
            prev.reindex(arc_line * n_loc + cell_loc[arc_cell]).fillna(0.0).to_numpy(np.float64)
        )

    # connected components of the bipartite line–cell graph
    num_cells = len(sup)
    graph = coo_matrix(
        (np.ones(len(arc_line)), (arc_line, n + arc_cell)), shape=(n + num_cells,) * 2
    )
    _, labels = connected_components(graph, directed=False)
    return Problem(
        line_id=dem["id"].to_numpy(dtype=object),
        line_item=line_item,
        tier=tier,
        rule=rule,
        request=request,
        cap=cap,
        minimum=minimum,
        weight=dem["weight"].to_numpy(dtype=np.float64),
        lot=dem["lot_size"].to_numpy(dtype=np.float64),
        all_or_nothing=dem["all_or_nothing"].to_numpy(dtype=bool),
        cell_item=cell_item,
        cell_location=cell_loc,
        supply=sup["quantity"].to_numpy(dtype=np.float64),
        item_names=np.asarray(item_index, dtype=object),
        location_names=np.asarray(loc_index, dtype=object),
        arc_line=arc_line,
        arc_cell=arc_cell,
        arc_rank=arc_rank,
        arc_cost=arc_cost,
        arc_previous=arc_prev,
        line_component=labels[:n].astype(np.int64),
        cell_component=labels[n:].astype(np.int64),
        num_tiers=int(seg["tier"].max()),
        stability=bool(inst.stability),
    )
