"""Safety stock per stage and net replenishment time for models that are not :math:`k\\sqrt\\tau`.

:func:`stage_tables` is where :func:`~optim.models.safety_stock.data.prepare` asks whether the
instance needs a stage cost table (:attr:`GSMData.ss_table`): per-segment critical levels at
shared stages, stochastic lead times, discrete demand. It returns ``None`` when every stage
follows the square-root model of the module docstring; the exact solvers read either form
through :meth:`GSMData.stage_cost`. One function per model builds its stages' tables.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.data import GSMData

__all__ = [
    "TableTimeout",
    "all_stocking_tables",
    "check_deadline",
    "critical_level_tables",
    "item_blocks",
    "sqrt_tables",
    "stage_tables",
    "stage_tables_and_delays",
    "sub_instance",
    "tables_by_blocks",
]


class TableTimeout(Exception):
    """The stage tables passed their deadline (``stages_done`` of ``stages`` finished).

    Building the tables is the first step of a solve with random lead times or critical
    levels and can take seconds on thousands of stages; it checks the solve's deadline
    between stages (and between blocks of the vectorised quantile search) so that a time
    limit is honoured before any solver runs."""

    def __init__(self, stages_done: int, stages: int) -> None:
        super().__init__(stages_done, stages)  # picklable: raised in worker processes too
        self.stages_done, self.stages = stages_done, stages

    def __str__(self) -> str:
        return (
            f"stage tables stopped at their deadline after {self.stages_done} of "
            f"{self.stages} stages"
        )


def check_deadline(deadline: float | None, done: int, stages: int) -> None:
    """Raise :class:`TableTimeout` once ``time.perf_counter()`` passes ``deadline``."""
    if deadline is not None and time.perf_counter() >= deadline:
        raise TableTimeout(done, stages)


def all_stocking_tables(instance: SafetyStockInstance, data: GSMData) -> list[NDArray[np.float64]]:
    r"""Constant tables holding each stage's safety stock in the all-stocking solution (every
    :math:`S_j = 0`, so :math:`SI_j = s^e_j`, and no order delay): the feasible solution a
    solve returns when its time limit passes while the full tables are built.

    One evaluation per stage instead of one per net replenishment time, by the same models:
    :math:`k_j\sqrt\tau`, the mixture quantile (or the two-moment closed form) of a random
    lead time at :math:`x = s^e_j`, the least base stock with critical levels (its lead-time
    mixture when random). The tables are constant, so they are only good for evaluating and
    reporting that one solution (the solve's bound is then 0).
    """
    import math

    from optim.models.safety_stock.critical import law_std_devs, optimal_policy, stage_specs
    from optim.models.safety_stock.lead_times import (
        _mean_lead_time,
        _stage_z,
        _Windows,
        critical_lead_time_base_stock,
        lead_time_model,
        mixture_quantile,
        needs_table,
        normal_nodes,
        two_moment_stock,
    )

    specs = stage_specs(instance, data.n, data.ids) if instance.pooling == "critical_level" else {}
    sigma_d = law_std_devs(instance)
    sq = data.phi.multiply(data.phi).tocsr() if data.phi.nnz else data.phi
    sigma_all = (
        np.sqrt(np.asarray(sq @ (sigma_d**2), dtype=np.float64))
        if sigma_d.size
        else np.zeros(data.n)
    )
    out: list[NDArray[np.float64]] = []
    rows: dict[int, list[tuple[int, NDArray[np.float64], NDArray[np.float64], float]]] = {}
    for j, stage in enumerate(instance.stages):
        lead = int(data.lead_time[j])
        x = int(data.external[j])  # SI - S with every S = 0
        tau = x + lead
        sig = float(sigma_all[j])
        mu = float(data.mean[j])
        spec = specs.get(j)
        if spec is not None and needs_table(stage):
            b = critical_lead_time_base_stock(spec, stage, lead, tau)
            ss = b * spec.step - spec.mean * (x + _mean_lead_time(stage))
        elif spec is not None:
            b = optimal_policy(_Windows(spec)[max(tau - 1, 0)], list(spec.segments))[0]
            ss = b * spec.step - spec.mean * tau if tau > 0 else 0.0
        elif not needs_table(stage):
            ss = float(data.k[j]) * math.sqrt(tau)
        else:
            kind, v, p, sd = lead_time_model(stage)
            z = _stage_z(data, j, sig)
            xs = np.array([float(x)])
            if instance.lead_time_method == "two_moment" and (kind == "normal" or v.size > 1):
                ss = float(two_moment_stock(xs, v, p, sd, mu, sig, z)[0])
            else:  # one quantile row per stage, found below in one call per point count
                if kind == "normal":
                    v, p = normal_nodes(float(v[0]), sd)
                rows.setdefault(v.size, []).append((j, np.maximum(x + v, 0.0), p, z))
                ss = mu * (x + float(v @ p))  # subtracted from the quantile below
        out.append(np.full(int(data.tau_max[j]) + 1, float(ss)))
    for group in rows.values():
        js = [j for j, _, _, _ in group]
        r = np.array([row for _, row, _, _ in group])
        mu_j, sig_j = data.mean[js][:, None], sigma_all[js][:, None]
        alpha = ndtr(np.array([z for _, _, _, z in group]))
        prob = np.array([p for _, _, p, _ in group])
        b = mixture_quantile(alpha, mu_j * r, sig_j * np.sqrt(r), prob)
        for k, j in enumerate(js):
            out[j] = b[k] - out[j]
    return [np.maximum(t, 0.0) for t in out]


def stage_tables(instance: SafetyStockInstance, data: GSMData) -> list[NDArray[np.float64]] | None:
    """Per-stage safety stock for :math:`\\tau = 0..L_j`, or ``None`` for the square-root model.

    Random or fractional lead times (:mod:`.lead_times`) and critical levels (:mod:`.critical`)
    give a table; otherwise ``None``.
    """
    return stage_tables_and_delays(instance, data)[0]


def stage_tables_and_delays(
    instance: SafetyStockInstance, data: GSMData, deadline: float | None = None
) -> tuple[list[NDArray[np.float64]] | None, list[NDArray[np.int64]] | None]:
    """:func:`stage_tables` and, for random lead times, the order delay per stage and tau.

    ``deadline`` (``time.perf_counter()``): :class:`TableTimeout` once passed."""
    from optim.models.safety_stock.lead_times import stochastic_tables

    lead = stochastic_tables(instance, data, deadline=deadline)
    tables, delays = (None, None) if lead is None else lead
    critical = critical_level_tables(instance, data, base=tables, delays=delays, deadline=deadline)
    return (tables if critical is None else critical), delays


def sqrt_tables(data: GSMData) -> list[NDArray[np.float64]]:
    """The square-root model :math:`k_j\\sqrt\\tau` as tables (the base other models edit)."""
    return [
        float(data.k[j]) * np.sqrt(np.arange(int(data.tau_max[j]) + 1, dtype=np.float64))
        for j in range(data.n)
    ]


def critical_level_tables(
    instance: SafetyStockInstance,
    data: GSMData,
    base: list[NDArray[np.float64]] | None = None,
    delays: list[NDArray[np.int64]] | None = None,
    deadline: float | None = None,
) -> list[NDArray[np.float64]] | None:
    """Tables of ``pooling="critical_level"``: stages whose segments differ in target or
    measure get the least safety stock with critical levels (:mod:`.critical`); the others keep
    ``base`` (another model's tables) or :math:`k_j\\sqrt\\tau`. ``None`` when no stage needs
    critical levels. A stage with critical levels and a random or fractional lead time gets
    the composed table of
    :func:`~optim.models.safety_stock.lead_times.critical_lead_time_table` (critical levels
    over the demand of a random replenishment time) and its order delays in ``delays``."""
    from optim.models.safety_stock.critical import stage_specs, stage_table
    from optim.models.safety_stock.lead_times import critical_lead_time_table, needs_table

    specs = stage_specs(instance, data.n, data.ids)
    if not specs:
        return None
    tables = list(base) if base is not None else sqrt_tables(data)
    for done, (j, spec) in enumerate(specs.items()):
        check_deadline(deadline, data.n - len(specs) + done, data.n)
        stage = instance.stages[j]
        if needs_table(stage):
            assert delays is not None  # stochastic_tables ran for this instance
            tables[j], delays[j] = critical_lead_time_table(
                spec, stage, int(data.lead_time[j]), int(data.tau_max[j])
            )
            continue
        tables[j] = stage_table(list(spec.segments), spec.step, spec.mean, int(data.tau_max[j]))
    return tables


Tables = list[NDArray[np.float64]]
Delays = list[NDArray[np.int64]]


def tables_by_blocks(
    instance: SafetyStockInstance,
    data: GSMData,
    workers: int = 1,
    deadline: float | None = None,
) -> tuple[Tables | None, Delays | None]:
    """:func:`stage_tables_and_delays`, the network's items (connected components) split into
    blocks on the executor seam (:func:`optim.executor.fan_out`: ``workers`` local processes,
    or the Dask cluster in force).

    A stage's table depends only on its own component (its lead times, the demands it
    serves), so each block is solved as an instance of its own and the tables are placed
    back by stage: the same arrays as one call on the whole network, for any executor and
    block count. One call here when there is one block, or no table work (neither critical
    levels nor random lead times). ``deadline`` (``time.perf_counter()``): every block checks
    it (a block on another process or machine gets the seconds left when it is handed out)
    and :class:`TableTimeout` is raised here.
    """
    from optim.models.safety_stock.lead_times import needs_table

    busy = instance.pooling == "critical_level" or any(needs_table(s) for s in instance.stages)
    blocks = item_blocks(data, workers) if busy else []
    if len(blocks) <= 1:
        return stage_tables_and_delays(instance, data, deadline)

    def pieces() -> Iterator[tuple[SafetyStockInstance, float | None]]:
        for b in blocks:  # drawn as workers free up: the seconds left at hand-out
            left = None if deadline is None else deadline - time.perf_counter()
            yield sub_instance(instance, b), left

    from optim import executor

    results = executor.fan_out(
        _block_tables,
        pieces(),
        workers=workers,
        desc="safety-stock tables per item",
        total=len(blocks),
    )
    if all(t is None for t, _ in results):
        return None, None
    tables: Tables = sqrt_tables(data)
    delays: Delays | None = None
    if any(d is not None for _, d in results):  # stages without a random lead time: 0
        delays = [np.zeros(int(data.tau_max[j]) + 1, dtype=np.int64) for j in range(data.n)]
    for stages, (tabs, dels) in zip(blocks, results, strict=True):
        for k, j in enumerate(stages.tolist()):
            if tabs is not None:
                tables[j] = tabs[k]
            if dels is not None:
                assert delays is not None
                delays[j] = dels[k]
    return tables, delays


def item_blocks(data: GSMData, workers: int) -> list[NDArray[np.int64]]:
    """The network's items (connected components) in stage order, cut into
    :func:`optim.executor.pieces` blocks (one per local worker, at least
    :data:`~optim.executor.CLUSTER_PIECES` on a cluster) of about equal stage counts: the
    stage positions of every block, ascending. Work that depends only on an item's own
    stages (its tables, its comparison tables) is split this way and placed back by stage."""
    from optim import executor
    from optim.models.graph import DisjointSets

    sets = DisjointSets(data.n)
    for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
        sets.union(i, j)
    roots = np.array([sets.find(j) for j in range(data.n)], dtype=np.int64)
    components = np.unique(roots).size
    count = executor.pieces(workers, components)
    if count == 1:
        return [np.arange(data.n, dtype=np.int64)]
    # whole components in stage order, cut into ``count`` blocks of about equal stage counts
    label = np.unique(roots, return_inverse=True)[1]
    first = np.full(components, data.n, dtype=np.int64)
    np.minimum.at(first, label, np.arange(data.n))
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")  # by first stage
    size = np.bincount(rank[label], minlength=components)
    block_of = np.minimum(np.cumsum(size) - size, data.n - 1) * count // data.n
    stage_block = block_of[rank[label]]
    return [np.flatnonzero(stage_block == b) for b in np.unique(stage_block).tolist()]


def sub_instance(instance: SafetyStockInstance, stages: NDArray[np.int64]) -> SafetyStockInstance:
    """The stages at these positions (whole components), their arcs and demands, in order."""
    keep = [instance.stages[j] for j in stages.tolist()]
    ids = {s.id for s in keep}
    return instance.model_copy(
        update={
            "stages": tuple(keep),
            "arcs": tuple(a for a in instance.arcs if a.source in ids),
            "demands": tuple(d for d in instance.demands if d.stage in ids),
        }
    )


def _block_tables(
    piece: tuple[SafetyStockInstance, float | None],
) -> tuple[Tables | None, Delays | None]:
    """One block of :func:`tables_by_blocks` (a module function: processes and Dask run it):
    the sub-instance and the seconds left when it was handed out (``None``: no limit)."""
    from optim.models.safety_stock.data import prepare_arrays

    sub, left = piece
    deadline = None if left is None else time.perf_counter() + left
    check_deadline(deadline, 0, len(sub.stages))
    return stage_tables_and_delays(sub, prepare_arrays(sub), deadline)
