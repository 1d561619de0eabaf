"""Numeric arrays of a GSM instance: coefficients, bounds, topology (pure, no solver)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from optim.errors import InstanceError
from optim.instances.gate import STAGE_MEMORY_BYTES, lead_time_table_bytes, stage_array_bytes
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.graph import topological_order

__all__ = [
    "MEMORY_BUDGET",
    "GSMData",
    "Solution",
    "check_size",
    "evaluate",
    "is_feasible",
    "normalize",
    "prepare",
    "prepare_arrays",
]

#: bytes one stage's solver arrays may take (the tree DP's (S, SI) array and its copies, a
#: stage cost table); beyond it the instance is refused before anything is allocated (the
#: input gate refuses it on the same estimate when the instance is read)
MEMORY_BUDGET = STAGE_MEMORY_BYTES

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GSMData:
    """Arrays indexed by stage position ``j`` (the instance's stage order).

    Attributes
    ----------
    ids
        Stage ids.
    lead_time, external, s_max
        :math:`T_j`, :math:`s^e_j` and the effective bound on :math:`S_j`: the smallest of
        the stage's ``max_service_time``, its segments' promises and :math:`L_j` (larger
        values are never useful).
    si_max
        :math:`E_j = \\max(s^e_j, \\max_{i \\to j} L_i)`: the largest useful inbound service
        time; :math:`L_j = E_j + T_j` is the longest replenishment time of stage ``j``.
    k
        Safety-stock factor: :math:`SS_j(\\tau) = k_j \\sqrt{\\tau}` (when ``ss_table`` is
        ``None``).
    unit_cost
        :math:`h_j k_j`: holding cost of stage ``j`` is ``unit_cost[j] * sqrt(tau)`` (when
        ``ss_table`` is ``None``).
    holding
        :math:`h_j` per unit of safety stock per period.
    ss_table
        ``None`` for the square-root model; otherwise, per stage, the safety stock for every
        net replenishment time :math:`\\tau = 0, \\dots, L_j` (length ``tau_max[j] + 1``).
        Models whose stock is not :math:`k\\sqrt\\tau` (critical levels per segment,
        stochastic lead times, discrete demand) hand their table here; every exact solver
        (tree DP, assignment MIP, Pyomo reference) and :func:`evaluate` read the cost through
        :meth:`GSMData.safety_stock` / :meth:`GSMData.stage_cost`, so they need no change.
    mean
        :math:`\\mu_j = \\sum_d \\varphi_{jd} \\mu_d` (mean demand per period at ``j``).
    phi
        Sparse :math:`\\varphi_{jd}` (stages × demands, CSR): a forest of one network per
        item has one nonzero per (stage, demand below it), where a dense matrix would need
        stages × demands.
    z
        :math:`z_d` per demand.
    source, target, quantity
        Arcs as stage positions.
    order
        A topological order (suppliers first).
    """

    ids: tuple[str, ...]
    lead_time: IntArray
    external: IntArray
    s_max: IntArray
    si_max: IntArray
    k: FloatArray
    unit_cost: FloatArray
    mean: FloatArray
    phi: sparse.csr_array
    z: FloatArray
    source: IntArray
    target: IntArray
    quantity: FloatArray
    order: IntArray
    holding: FloatArray | None = None
    ss_table: tuple[FloatArray, ...] | None = None
    lead_time_mean: FloatArray | None = None
    order_delay: tuple[IntArray, ...] | None = None

    def delay(self, tau: NDArray[np.integer]) -> IntArray:
        """Order delay :math:`\\delta_j(\\tau_j)` per stage (0 without random lead times)."""
        t = np.asarray(tau, dtype=np.int64)
        if self.order_delay is None:
            return np.zeros(self.n, dtype=np.int64)
        return np.array(
            [
                int(d[min(max(int(x), 0), d.size - 1)])
                for d, x in zip(self.order_delay, t.tolist(), strict=True)
            ],
            dtype=np.int64,
        )

    def expected_lead_time(self) -> FloatArray:
        """:math:`E L_j`: the mean lead time (``lead_time`` when deterministic and whole)."""
        if self.lead_time_mean is None:
            return self.lead_time.astype(np.float64)
        return self.lead_time_mean

    def base_stock(
        self, inbound: NDArray[np.integer], outbound: NDArray[np.integer], safety_stock: FloatArray
    ) -> FloatArray:
        """Base-stock level :math:`\\mu_j (SI_j + \\delta_j - S_j + E L_j) + SS_j`.

        ``delta`` is the order delay of a stage with a random lead time (:attr:`order_delay`).
        """
        si, so = np.asarray(inbound), np.asarray(outbound)
        tau = si + self.lead_time - so
        pipe = si + self.delay(tau) - so + self.expected_lead_time()
        return self.mean * pipe + safety_stock

    def safety_stock(self, j: int, tau: NDArray[np.integer]) -> FloatArray:
        """Safety stock of stage ``j`` at net replenishment times ``tau`` (``inf`` if < 0)."""
        t = np.asarray(tau)
        if self.ss_table is None:
            root = np.sqrt(np.maximum(t, 0).astype(np.float64))
            return np.where(t >= 0, float(self.k[j]) * root, np.inf)
        table = self.ss_table[j]
        return np.where(t >= 0, table[np.clip(t, 0, table.size - 1)], np.inf)

    def stage_cost(self, j: int, tau: NDArray[np.integer]) -> FloatArray:
        """Holding cost of stage ``j`` at net replenishment times ``tau`` (``inf`` if < 0)."""
        t = np.asarray(tau)
        if self.ss_table is None:
            root = np.sqrt(np.maximum(t, 0).astype(np.float64))
            return np.where(t >= 0, float(self.unit_cost[j]) * root, np.inf)
        h = float(self.holding[j]) if self.holding is not None else 0.0
        return np.where(t >= 0, h * self.safety_stock(j, t), np.inf)

    @cached_property
    def _flat_table(self) -> tuple[FloatArray, IntArray]:
        """``ss_table`` concatenated and every stage's offset into it (``ptr[-1]`` = length)."""
        assert self.ss_table is not None
        lens = np.fromiter((t.size for t in self.ss_table), dtype=np.int64, count=self.n)
        ptr = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
        flat = np.concatenate(self.ss_table) if self.n else np.zeros(0)
        return flat, ptr

    def table_cost(
        self, owner: NDArray[np.integer], tau: NDArray[np.integer]
    ) -> tuple[FloatArray, FloatArray]:
        """Safety stock and holding cost at ``(owner[q], tau[q])`` pairs, vectorised.

        Element for element what :meth:`safety_stock` / :meth:`stage_cost` of stage
        ``owner[q]`` give at ``tau[q]`` (``inf`` below zero), in one array operation.
        """
        o, t = np.asarray(owner, dtype=np.int64), np.asarray(tau)
        if self.ss_table is None:
            root = np.sqrt(np.maximum(t, 0).astype(np.float64))
            ok = t >= 0
            return np.where(ok, self.k[o] * root, np.inf), np.where(
                ok, self.unit_cost[o] * root, np.inf
            )
        flat, ptr = self._flat_table
        start = ptr[o]
        ss = np.where(t >= 0, flat[start + np.clip(t, 0, ptr[o + 1] - start - 1)], np.inf)
        h = self.holding[o] if self.holding is not None else np.zeros(o.size)
        with np.errstate(invalid="ignore"):
            return ss, np.where(t >= 0, h * ss, np.inf)

    def with_table(self, ss_table: list[FloatArray] | tuple[FloatArray, ...]) -> GSMData:
        """The same network with safety stock per stage and :math:`\\tau` (see ``ss_table``).

        Each table must be non-decreasing in :math:`\\tau` (more time to cover needs no less
        stock): the solvers' normal form (:func:`normalize`, :math:`S_j \\le L_j`) relies on it.
        """
        if len(ss_table) != self.n:
            raise ValueError(f"ss_table has {len(ss_table)} stages, the network {self.n}")
        tabs = []
        for j, t in enumerate(ss_table):
            arr = np.asarray(t, dtype=np.float64)
            if arr.ndim != 1 or arr.size < int(self.tau_max[j]) + 1:
                raise ValueError(
                    f"ss_table of stage {self.ids[j]!r} needs tau = 0..{int(self.tau_max[j])}"
                )
            if arr.size > 1 and bool(np.any(np.diff(arr) < -1e-9 * max(1.0, float(arr.max())))):
                raise ValueError(f"ss_table of stage {self.ids[j]!r} decreases in tau")
            tabs.append(arr)
        return replace(self, ss_table=tuple(tabs))

    @property
    def n(self) -> int:
        """Number of stages."""
        return len(self.ids)

    @property
    def tau_max(self) -> IntArray:
        """Largest useful net replenishment time :math:`L_j` (reached with ``S_j = 0``)."""
        return self.si_max + self.lead_time

    def predecessors(self) -> list[list[int]]:
        """Supplier positions of every stage."""
        pred: list[list[int]] = [[] for _ in range(self.n)]
        for i, j in zip(self.source.tolist(), self.target.tolist(), strict=True):
            pred[j].append(i)
        return pred


@dataclass(frozen=True)
class Solution:
    """Service times of every stage and the resulting cost.

    ``inbound`` is normalised: :math:`SI_j = \\max(s^e_j, \\max_{i \\to j} S_i)`.
    """

    outbound: IntArray
    inbound: IntArray
    tau: IntArray
    safety_stock: FloatArray
    stage_cost: FloatArray

    @property
    def cost(self) -> float:
        """Total holding cost."""
        return float(self.stage_cost.sum())


def prepare(
    instance: SafetyStockInstance, workers: int = 1, deadline: float | None = None
) -> GSMData:
    """Compute :class:`GSMData` from a validated instance.

    ``workers``: local processes for the stage tables of a network of several items
    (:func:`~optim.models.safety_stock.tables.tables_by_blocks`; a Dask cluster in force
    takes them instead); the arrays are the same for any executor and worker count.
    ``deadline`` (``time.perf_counter()``): building the tables stops with
    :class:`~optim.models.safety_stock.tables.TableTimeout` once it has passed.
    """
    from optim.models.safety_stock.tables import tables_by_blocks

    data = prepare_arrays(instance)
    tables, delays = tables_by_blocks(instance, data, workers, deadline)
    if tables is None:
        return data
    data = data.with_table(tables)
    return data if delays is None else replace(data, order_delay=tuple(delays))


def prepare_arrays(instance: SafetyStockInstance) -> GSMData:
    """:func:`prepare` without the stage tables (:attr:`GSMData.ss_table` is ``None``)."""
    ids = tuple(instance.stage_ids)
    pos = {sid: j for j, sid in enumerate(ids)}
    n = len(ids)
    from optim.models.safety_stock.lead_times import (
        expected_lead_times,
        needs_table,
        solver_lead_time,
    )

    lead = np.array([solver_lead_time(s) for s in instance.stages], dtype=np.int64)
    random_lead = any(needs_table(s) for s in instance.stages)
    ext = np.array([s.external_service_time for s in instance.stages], dtype=np.int64)
    hold = np.array([s.holding_cost for s in instance.stages], dtype=np.float64)
    src = np.array([pos[a.source] for a in instance.arcs], dtype=np.int64)
    tgt = np.array([pos[a.target] for a in instance.arcs], dtype=np.int64)
    qty = np.array([a.quantity for a in instance.arcs], dtype=np.float64)
    order = topological_order(n, src, tgt)

    # Longest replenishment times: E_j (inbound) and L_j = E_j + T_j, suppliers first.
    si_max = ext.copy()
    pred: list[list[int]] = [[] for _ in range(n)]
    succ: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i, j, q in zip(src.tolist(), tgt.tolist(), qty.tolist(), strict=True):
        pred[j].append(i)
        succ[i].append((j, q))
    for j in order.tolist():
        if pred[j]:
            si_max[j] = max(int(ext[j]), max(int(si_max[i] + lead[i]) for i in pred[j]))
    longest = si_max + lead

    s_max = longest.copy()
    for j, s in enumerate(instance.stages):
        if s.max_service_time is not None:
            s_max[j] = min(s_max[j], s.max_service_time)
    dem = instance.demands
    nd = len(dem)
    dstage = np.array([pos[d.stage] for d in dem], dtype=np.int64)
    for d in dem:
        j = pos[d.stage]
        s_max[j] = min(s_max[j], d.max_service_time)
    check_size(instance, si_max, lead, s_max, tables_only=True)

    # phi[j, d]: units of stage j per unit of demand d, summed over paths j -> stage(d);
    # rows built in reverse topological order as sparse {demand: units} maps.
    rows: list[dict[int, float]] = [{} for _ in range(n)]
    for d, j in enumerate(dstage.tolist()):
        rows[j][d] = rows[j].get(d, 0.0) + 1.0
    for j in order[::-1].tolist():
        row = rows[j]
        for t, q in succ[j]:
            for d, v in rows[t].items():
                row[d] = row.get(d, 0.0) + q * v
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    cols = np.fromiter((d for r in rows for d in sorted(r)), dtype=np.int64, count=indptr[-1])
    vals = np.fromiter((r[d] for r in rows for d in sorted(r)), dtype=np.float64, count=indptr[-1])
    phi = sparse.csr_array((vals, cols, indptr), shape=(n, nd))
    stage_of_entry = np.repeat(np.arange(n), counts)

    nd_ = NormalDist()
    z = np.array([nd_.inv_cdf(d.service_level) for d in dem], dtype=np.float64)
    from optim.models.safety_stock.critical import law_std_devs

    sigma = law_std_devs(instance)  # a Poisson demand's own sqrt(mean)
    mu = np.array([d.mean for d in dem], dtype=np.float64)
    if instance.pooling == "root_sum_square":
        k = np.sqrt(np.bincount(stage_of_entry, (vals * (z * sigma)[cols]) ** 2, minlength=n))
    elif instance.pooling == "additive":
        k = np.bincount(stage_of_entry, vals * (z * sigma)[cols], minlength=n)
    elif instance.pooling in ("max_z", "critical_level"):
        # critical_level: the stages without critical levels (supplying others, one segment)
        zmax = np.full(n, -np.inf)
        np.maximum.at(zmax, stage_of_entry[vals > 0], z[cols[vals > 0]])
        zmax = np.where(np.isfinite(zmax), zmax, 0.0)
        k = zmax * np.sqrt(np.bincount(stage_of_entry, (vals * sigma[cols]) ** 2, minlength=n))
    else:  # pragma: no cover - the schema admits only the rules above
        raise ValueError(f"unknown pooling rule {instance.pooling!r}")
    k = np.maximum(np.asarray(k, dtype=np.float64), 0.0)
    return GSMData(
        ids=ids,
        lead_time=lead,
        external=ext,
        s_max=s_max,
        si_max=si_max,
        k=k,
        unit_cost=hold * k,
        mean=np.asarray(phi @ mu, dtype=np.float64) if nd else np.zeros(n),
        phi=phi,
        z=z,
        source=src,
        target=tgt,
        quantity=qty,
        order=order,
        holding=hold,
        lead_time_mean=expected_lead_times(instance) if random_lead else None,
    )


def check_size(
    instance: SafetyStockInstance,
    si_max: IntArray,
    lead: IntArray,
    s_max: IntArray,
    budget: int = MEMORY_BUDGET,
    *,
    tables_only: bool = False,
) -> None:
    """Refuse an instance whose solver arrays would not fit, before allocating them.

    The tree DP builds a :math:`(\\bar S_j + 1) \\times (\\bar{SI}_j + 1)` array of 8-byte
    floats per stage, with about four temporaries of that size: that is the estimate
    (:func:`optim.instances.gate.stage_array_bytes`, which the gate checks too). (The
    assignment MIP has one column per such cell, so it is no smaller.) A random lead time's
    table needs :math:`(L_j + 1) \\times` points floats and about ten temporaries.
    :func:`prepare` checks the tables only (``tables_only``); the solve checks the solver
    arrays before the tree DP or a MIP (the serial-chain path needs neither).
    """
    need = np.zeros(s_max.size) if tables_only else stage_array_bytes(s_max, si_max)
    for j, stage in enumerate(instance.stages):  # lead-time tables: (L_j + 1) x points
        if (points := stage.table_points) is not None:
            need[j] = max(need[j], lead_time_table_bytes(float(si_max[j] + lead[j]), points))
    j = int(np.argmax(need)) if need.size else 0
    if need.size and need[j] > budget:
        k = int(np.argmax(lead))
        culprit = instance.stages[k]
        raise InstanceError(
            f"stage {instance.stages[j].id!r}: its longest replenishment time is "
            f"{int(si_max[j] + lead[j])} periods, so the exact solvers would need about "
            f"{need[j] / 2**30:,.1f} GiB for this stage (limit {budget / 2**30:g} GiB); the "
            f"longest lead time is stage {culprit.id!r} (lead_time {culprit.lead_time}). Count "
            "time in a coarser period (e.g. weeks instead of days) so that cumulative lead "
            "times stay below a few thousand periods.",
            field=f"stages[{k}].lead_time",
        )


def normalize(data: GSMData, outbound: NDArray[np.integer] | list[int]) -> Solution:
    """Complete outbound service times ``S`` to a canonical feasible solution.

    Sets :math:`SI_j = \\max(s^e_j, \\max_{i \\to j} S_i)` and lowers :math:`S_j` to
    :math:`SI_j + T_j` where it exceeds it (suppliers first). Neither step raises any
    :math:`\\tau_j`, so the cost never increases. ``S`` must satisfy ``0 <= S <= s_max``.
    """
    s = np.asarray(outbound, dtype=np.int64).copy()
    si = data.external.copy()
    pred = data.predecessors()
    for j in data.order.tolist():
        if pred[j]:
            si[j] = max(int(si[j]), max(int(s[i]) for i in pred[j]))
        s[j] = min(int(s[j]), int(si[j] + data.lead_time[j]))
    return evaluate(data, s, si)


def evaluate(data: GSMData, outbound: IntArray, inbound: IntArray) -> Solution:
    """Safety stock and cost of given service times (no feasibility repair)."""
    tau = inbound + data.lead_time - outbound
    if data.ss_table is None:
        root = np.sqrt(np.maximum(tau, 0).astype(np.float64))
        ss = data.k * root
        cost = data.unit_cost * root
    else:
        ss, cost = data.table_cost(np.arange(data.n), tau)
    return Solution(
        outbound=np.asarray(outbound, dtype=np.int64),
        inbound=np.asarray(inbound, dtype=np.int64),
        tau=tau,
        safety_stock=ss,
        stage_cost=cost,
    )


def is_feasible(data: GSMData, sol: Solution) -> bool:
    """All GSM constraints hold (used by tests and as a guard)."""
    s, si = sol.outbound, sol.inbound
    ok = bool(np.all(s >= 0) and np.all(s <= data.s_max) and np.all(si >= data.external))
    ok &= bool(np.all(sol.tau >= 0))
    if data.source.size:
        ok &= bool(np.all(si[data.target] >= s[data.source]))
    return ok and math.isfinite(sol.cost)
