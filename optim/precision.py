"""How numbers are written: whole units where the data are whole, money to cents.

One rule per column, decided from its name and its data (:func:`column_kind`), shared by
every CSV table the CLI writes (:func:`write_csv`, :meth:`optim.result.Result.write_tables`),
the workbook's number formats and the report's cells:

``quantity`` (units: quantities, allocations, supply, demand, stock, forecasts, and the
change of one between two runs; a relative change is a ``change_rate``)
    rounded to :data:`QUANTITY_DECIMALS` decimals and written in the shortest form, so a
    column whose values are whole is written as integers (``151``, never ``151.0``).
    Rationing plans lie on a grid of 10^-6 units (coarser above 10^9 units), so their
    quantities are written exactly: the text reads back as the very same double, and sums
    per line, tier, segment and location are unchanged — the writer never re-rounds an
    allocation (``tests/test_precision.py``).
``money`` (costs, values, revenue, prices, savings)
    to cents, ``"%.2f"``: for display only — each cell is within half a cent of the solution,
    which is never changed.
``rate`` (rates, levels, shares, utilisation, targets, factors)
    and every other float: ten significant digits (``"%.10g"``).

Integer, boolean and text columns are written as they are; missing values are empty.

Result documents (:meth:`optim.result.Result.to_json` / ``to_dict``) write their tables'
float columns by the same rule (:func:`json_texts`, :func:`json_values`): a quantity is the
number rounded to six decimals — an integer where it is whole, so a plan in whole units has
no decimals, and an allocation on the rationing grid is the solver's double exactly —, money
is rounded to cents, every other float to ten significant digits; NaN is ``null`` and an
infinity ``"inf"`` / ``"-inf"``. The document's scalar fields (objective, bound, gap) and
``info`` (solver figures, the instance echoed) keep :data:`SIGNIFICANT_DIGITS` significant
digits: they are not table quantities, and the echoed instance must read back as given.
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
    "RATE_DIGITS",
    "SIGNIFICANT_DIGITS",
    "column_kind",
    "csv_ready",
    "format_values",
    "json_texts",
    "json_value",
    "json_values",
    "quantity_text",
    "round_significant",
    "rounded",
    "write_csv",
]

QUANTITY_DECIMALS = 6
"""Decimals of a quantity column: the rationing grid (10^-6 units) is written exactly."""
MONEY_DECIMALS = 2
"""Decimals of a money column (cents)."""
RATE_DIGITS = 10
"""Significant digits of a rate or any other float column."""
SIGNIFICANT_DIGITS = 12
"""Significant digits of a result document's scalar fields and ``info``."""
_WHOLE_LIMIT = 1e15
"""Whole quantities below this size are written as integers (exact in a double)."""
# First match wins; names are matched in lower case by whole ``_``-separated words.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("quantity", re.compile(r"(^|_)(stock|critical)_level(_|$)")),  # units, not rates
    ("rate", re.compile(r"(^|_)(rate|level|share|utilisation|target|fill|ratio|factor)(_|$)")),
    ("money", re.compile(r"(^|_)(cost|value|revenue|price|saving)(_|$)")),
    (
        "quantity",
        re.compile(
            r"(^|_)(quantity|allocated|requested|supply|unallocated|demand|served|lost|backlog"
            r"|shipped|inventory|prebuild|units|stock|planned|critical|reorder|order_up_to|eoq"
            r"|forecast|sigma|history_std|lo|hi|change)(_|$)"
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
    return f"{value:.{RATE_DIGITS}g}"


def quantity_text(value: float) -> str:
    """One quantity as its table cell is written (``831.469123``, ``151``, never ``1.5e+06``):
    the rule of the models' messages, so a number in a sentence reads as in the tables."""
    return _text(float(value), "quantity")


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


# ----------------------------------------------------------------------------- result documents
def json_value(value: float, kind: str) -> Any:
    """One float as a result document holds it (module docstring): the per-value rule that
    :func:`json_values` applies column-wise."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "quantity":
        x = round(value, QUANTITY_DECIMALS)
        return int(x) if x.is_integer() and abs(x) < _WHOLE_LIMIT else x
    if kind == "money":
        return round(value, MONEY_DECIMALS) + 0.0  # no "-0.0"
    return float(f"{value:.{RATE_DIGITS}g}")


def rounded(values: Any, kind: str) -> Any:
    """The doubles a float column of ``kind`` is written as: ``round(v, 6)`` for quantities,
    ``round(v, 2) + 0.0`` for money, ``float(f"{v:.10g}")`` otherwise — vectorised, bit for bit
    Python's; NaN and infinities pass through."""
    if kind == "quantity":
        return _round_decimals(values, QUANTITY_DECIMALS)
    if kind == "money":
        return _round_decimals(values, MONEY_DECIMALS) + 0.0  # no "-0.0"
    return round_significant(values, RATE_DIGITS)


def json_values(values: Any, kind: str) -> list[Any]:
    """``[json_value(v, kind) for v in values]``, vectorised."""
    import numpy as np

    x = rounded(values, kind)
    out = x.astype(object)
    if kind == "quantity":
        whole = np.isfinite(x) & (np.abs(x) < _WHOLE_LIMIT) & (x == np.round(x))
        out[whole] = x[whole].astype(np.int64).tolist()
    if not np.isfinite(x).all():
        out[np.isnan(x)] = None
        out[np.isposinf(x)] = "inf"
        out[np.isneginf(x)] = "-inf"
    return list(out.tolist())


def json_texts(values: Any, kind: str) -> tuple[Any, list[str]]:
    """``(codes, texts)``: the JSON text of value ``i`` is ``texts[codes[i]]``, the text of
    :func:`json_value` (``json.dumps``), each distinct written value formatted once."""
    import numpy as np
    import pandas as pd

    x = rounded(values, kind)
    codes, uniques = pd.factorize(x.view(np.int64))  # bitwise: keeps -0.0 apart from 0.0
    texts = []
    for v in uniques.view(np.float64).tolist():
        if math.isnan(v):
            texts.append("null")
        elif math.isinf(v):
            texts.append('"inf"' if v > 0 else '"-inf"')
        elif kind == "quantity" and v.is_integer() and abs(v) < _WHOLE_LIMIT:
            texts.append(str(int(v)))
        else:
            texts.append(repr(v))
    return codes, texts


_POW10 = [10.0**k for k in range(23)]  # exact doubles


def _round_decimals(values: Any, decimals: int) -> Any:
    """``round(v, decimals)`` for every element, vectorised and bit for bit equal.

    ``y = v · 10^d`` carries one rounding error of at most ``|y| 2^-53 < 10^-3`` while
    ``|y| < 2^43``; where ``y`` is not within ``10^-3`` of a half-integer, ``rint(y)`` is the
    correctly rounded ``N`` and ``N / 10^d`` (one correctly rounded division) is the double
    nearest to ``N · 10^-d``, which is what :func:`round` returns. Other values (near-ties,
    large magnitudes) are rounded by Python.
    """
    import numpy as np

    x = np.array(values, dtype=np.float64)
    p = _POW10[decimals]
    with np.errstate(all="ignore"):
        y = x * p
        n = np.rint(y)
        fast = (np.abs(y - n) < 0.499) & (np.abs(y) < 2.0**43)
        out = np.where(fast, n / p, x)
    slow = np.flatnonzero(~fast & np.isfinite(x))
    if len(slow):
        out[slow] = [round(v, decimals) for v in x[slow].tolist()]
    return out


def round_significant(values: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``float(f"{v:.{digits}g}")`` for every element, vectorised and bit-for-bit equal
    (``digits`` ≤ 15).

    For finite nonzero ``v`` with decimal exponent ``e``, ``y = v · 10^k`` (``k = digits - 1
    - e``, ``0 ≤ k ≤ 22`` so that ``10^k`` is an exact double) carries one rounding error of
    at most ``|y| 2^-53 < 1.2e-4``; when ``10^(digits-1) ≤ |y| < 10^digits - 1`` and ``y`` is
    not within ``1e-3`` of a half-integer, ``rint(y)`` is the correctly rounded mantissa
    ``N`` and ``N / 10^k`` (one correctly rounded division) is the double nearest to the
    decimal ``N·10^-k``, which is what ``float()`` of the formatted text gives. The few other
    values (near-ties, very large or small ``|v|``) are formatted by Python. Zeros, NaN and
    infinities pass through unchanged.
    """
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    pow10 = np.array(_POW10)
    with np.errstate(all="ignore"):
        k = (digits - 1) - np.floor(np.log10(np.abs(x)))  # ±inf/nan: 0, inf, nan
        ok = (k >= 0) & (k <= 22)
        p = pow10[np.where(ok, k, 0).astype(np.intp)]
        y = x * p
        n = np.rint(y)
        ay = np.abs(y)
        fast = (
            ok & (np.abs(y - n) < 0.499) & (ay >= 10.0 ** (digits - 1)) & (ay < 10.0**digits - 1)
        )
        out = np.where(fast, n / p, x)
    slow = np.flatnonzero(~fast & np.isfinite(x) & (x != 0))
    if len(slow):
        out[slow] = [float(f"{v:.{digits}g}") for v in x[slow].tolist()]
    return out
