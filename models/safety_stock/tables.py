"""Safety stock per stage and net replenishment time for models that are not :math:`k\\sqrt\\tau`.

:func:`stage_tables` is where :func:`~optim.models.safety_stock.data.prepare` asks whether the
instance needs a stage cost table (:attr:`GSMData.ss_table`): per-segment critical levels at
shared stages, stochastic lead times, discrete demand. It returns ``None`` when every stage
follows the square-root model of the module docstring; the exact solvers read either form
through :meth:`GSMData.stage_cost`. One function per model builds its stages' tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.data import GSMData

__all__ = ["critical_level_tables", "sqrt_tables", "stage_tables", "stage_tables_and_delays"]


def stage_tables(instance: SafetyStockInstance, data: GSMData) -> list[NDArray[np.float64]] | None:
    """Per-stage safety stock for :math:`\\tau = 0..L_j`, or ``None`` for the square-root model.

    Random or fractional lead times (:mod:`.lead_times`) and critical levels (:mod:`.critical`)
    give a table; otherwise ``None``.
    """
    return stage_tables_and_delays(instance, data)[0]


def stage_tables_and_delays(
    instance: SafetyStockInstance, data: GSMData
) -> tuple[list[NDArray[np.float64]] | None, list[NDArray[np.int64]] | None]:
    """:func:`stage_tables` and, for random lead times, the order delay per stage and tau."""
    from optim.models.safety_stock.lead_times import stochastic_tables

    lead = stochastic_tables(instance, data)
    tables, delays = (None, None) if lead is None else lead
    critical = critical_level_tables(instance, data, base=tables, delays=delays)
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
    for j, spec in specs.items():
        stage = instance.stages[j]
        if needs_table(stage):
            assert delays is not None  # stochastic_tables ran for this instance
            tables[j], delays[j] = critical_lead_time_table(
                spec, stage, int(data.lead_time[j]), int(data.tau_max[j])
            )
            continue
        tables[j] = stage_table(list(spec.segments), spec.step, spec.mean, int(data.tau_max[j]))
    return tables
