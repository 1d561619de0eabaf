"""Safety stock per stage and net replenishment time for models that are not :math:`k\\sqrt\\tau`.

:func:`stage_tables` is where :func:`~optim.models.safety_stock.data.prepare` asks whether the
instance needs a stage cost table (:attr:`GSMData.ss_table`): per-segment critical levels at
shared stages, stochastic lead times, discrete demand. It returns ``None`` when every stage
follows the square-root model of the module docstring; the exact solvers read either form
through :meth:`GSMData.stage_cost`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.data import GSMData

__all__ = ["stage_tables", "stage_tables_and_delays"]


def stage_tables(instance: SafetyStockInstance, data: GSMData) -> list[NDArray[np.float64]] | None:
    """Per-stage safety stock for :math:`\\tau = 0..L_j`, or ``None`` for the square-root model.

    Random or fractional lead times (:mod:`.lead_times`) give a table; otherwise ``None``.
    """
    return stage_tables_and_delays(instance, data)[0]


def stage_tables_and_delays(
    instance: SafetyStockInstance, data: GSMData
) -> tuple[list[NDArray[np.float64]] | None, list[NDArray[np.int64]] | None]:
    """:func:`stage_tables` and, for random lead times, the order delay per stage and tau."""
    from optim.models.safety_stock.lead_times import stochastic_tables

    lead = stochastic_tables(instance, data)
    return (None, None) if lead is None else lead
