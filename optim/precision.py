"""How numbers are written: whole units where the data are whole, money to cents.

One rule per column, decided from its name and its data (:func:`column_kind`), shared by
every CSV table the CLI writes (:func:`write_csv`, :meth:`optim.result.Result.write_tables`),
the workbook's number formats and the report's cells:

``quantity`` (units: quantities, allocations, supply, demand, stock, forecasts)
    rounded to :data:`QUANTITY_DECIMALS` decimals and written in the shortest form, so a
    column whose values are whole is written as integers (``151``, never ``151.0``).
    Rationing plans lie on a grid of 10^-6 units (coarser above 10^9 units), so their
    quantities are written exactly: the text reads back as the very same double, and sums
    per line, tier, segment and location are unchanged — the writer never re-rounds an
    allocation (``tests/test_precision.py``).
``money`` (costs, values, revenue, prices, savings)
    to cents, ``"%.2f"``: for display only — each cell is within half a cent of the solution,
    which is never changed.
``rate`` (rates, levels, shares, utilisation, targets)
    and every other float: ten significant digits (``"%.10g"``).

Integer, boolean and text columns are written as they are; missing values are empty.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MONEY_DECIMALS",
    "QUANTITY_DECIMALS",
    "column_kind",
    "csv_ready",
    "format_values",
    "write_csv",
]

QUANTITY_DECIMALS = 6
"""Decimals of a quantity column: the rationing grid (10^-6 units) is written exactly."""
MONEY_DECIMALS = 2
"""Decimals of a money column (cents)."""
# First match wins; names are matched in lower case by whole ``_``-separated words.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("quantity", re.compile(r"(^|_)(stock|critical)_level(_|$)")),  # units, not rates
    ("rate", re.compile(r"(^|_)(rate|level|share|utilisation|target|fill|ratio)(_|$)")),
    ("money", re.compile(r"(^|_)(cost|value|revenue|price|saving)(_|$)")),
    (
        "quantity",
        re.compile(
            r"(^|_)(quantity|allocated|requested|supply|unallocated|demand|served|lost|backlog"
            r"|shipped|inventory|prebuild|units|stock|planned|critical|reorder|order_up_to|eoq"
            r"|forecast|lo|hi)(_|$)"
        ),
    ),
)


def column_kind(name: Any, values: pd.Series | None = None) -> str:
    """``"quantity"``, ``"money"``, ``"rate"`` or ``"float"`` for a float column (by name);
    ``"int"``, ``"bool"`` or ``"other"`` when ``values`` are given and not floats."""
    if values is not None:
        import pandas as pd

        dtype = values.dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) or not (
            pd.api.types.is_numeric_dtype(dtype)
        ):
            return "other"
        if pd.api.types.is_bool_dtype(dtype):
            return "bool"
        if pd.api.types.is_integer_dtype(dtype):
            return "int"
    text = str(name).lower()
    for kind, pattern in _RULES:
        if pattern.search(text):
            return kind
    return "float"


def _text(value: float, kind: str) -> str:
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "money":
        return f"{round(value, MONEY_DECIMALS) + 0.0:.{MONEY_DECIMALS}f}"
    if kind == "quantity":
        text = f"{round(value, QUANTITY_DECIMALS) + 0.0:.{QUANTITY_DECIMALS}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.10g}"


def format_values(values: Any, kind: str) -> Any:
    """The texts of a float column by its kind's rule (module docstring), each distinct
    value formatted once; NaN gives an empty text."""
    import numpy as np
    import pandas as pd

    x = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    codes, uniques = pd.factorize(x.view(np.int64))  # bitwise: NaN payloads kept apart
    texts = np.array([_text(v, kind) for v in uniques.view(np.float64).tolist()], dtype=object)
    return texts[codes]


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every float column replaced by its texts (:func:`format_values`)."""
    out = frame.copy(deep=False)
    for j, name in enumerate(frame.columns):
        col = frame.iloc[:, j]
        kind = column_kind(name, col)
        if kind in ("quantity", "money", "rate", "float") and col.dtype.kind == "f":
            out.isetitem(j, format_values(col.to_numpy(), kind))
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV (no index, ``\\n`` line ends) with the precision rules."""
    path = Path(path)
    csv_ready(frame).to_csv(path, index=False, lineterminator="\n")
    return path
