r"""Which statsforecast model forecasts a series: the policy table's ``forecasting`` column.

Every series gets one method, read from the ``forecasting`` text of its policy row (the item
class row with the overrides of the series' own demand pattern, see
:meth:`~optim.segmentation.PolicyTable.item_row`):

1. **A model named in the text wins** (case-insensitive, first match in this order):
   ``AutoARIMA`` (also ``Auto ARIMA``, ``auto-arima``, ``ARIMA``), ``MSTL``, ``AutoETS`` (also
   ``Auto ETS``, ``auto-ets``), ``TSB``, ``IMAPA``, ``ADIDA``, ``SBA`` / ``Croston``
   (→ Croston SBA), ``seasonal naive``. A planner writes e.g. ``forecasting: AutoARIMA`` in
   a copy of the table to get that model for the class.
2. **Otherwise the demand pattern decides** (free text such as "statistical forecasting",
   "collaborative planning" or "min/max or make-to-order" names no model; a word that
   misspells a model, ``AutoArma``, is refused by :func:`check_label`: it read as free text):
   smooth / erratic → MSTL with a yearly season (trend by AutoETS) when the series holds at
   least two seasons, else non-seasonal AutoETS; intermittent → Croston SBA; lumpy → TSB.
3. **Seasonal methods need two seasons**: MSTL or seasonal naive on a series shorter than
   two seasons becomes non-seasonal AutoETS, with a note.

"Collaborative" rows (strategic customers, A items) are forecast statistically here too;
the planner's collaborative numbers enter through ``forecast_overrides.csv``, which replaces
the statistical forecast where given.

The models are statsforecast's own (wrapped, not re-implemented): :func:`make_model` returns
the configured statsforecast model object.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = [
    "BASELINE",
    "METHODS",
    "SEASONAL",
    "TSB_ALPHA_D",
    "TSB_ALPHA_P",
    "check_label",
    "choose_method",
    "make_model",
]

METHODS = (
    "MSTL",
    "AutoETS",
    "AutoARIMA",
    "CrostonSBA",
    "TSB",
    "ADIDA",
    "IMAPA",
    "SeasonalNaive",
)
SEASONAL = frozenset({"MSTL", "SeasonalNaive"})
BASELINE = "SeasonalNaive"
"""The baseline every series is also backtested with (naive when shorter than one season)."""
TSB_ALPHA_D = 0.1
"""TSB smoothing of the demand size (Teunter, Syntetos & Babai 2011 use 0.1–0.3)."""
TSB_ALPHA_P = 0.1
"""TSB smoothing of the demand probability."""

_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("arima", "AutoARIMA"),  # (also AutoARIMA, auto arima, auto-arima: a substring match)
    ("mstl", "MSTL"),
    ("autoets", "AutoETS"),
    ("auto ets", "AutoETS"),
    ("auto-ets", "AutoETS"),
    ("auto_ets", "AutoETS"),
    ("tsb", "TSB"),
    ("imapa", "IMAPA"),
    ("adida", "ADIDA"),
    ("sba", "CrostonSBA"),
    ("croston", "CrostonSBA"),
    ("seasonal naive", "SeasonalNaive"),
    ("seasonal_naive", "SeasonalNaive"),
    ("seasonal naïve", "SeasonalNaive"),
)
_BY_PATTERN = {"intermittent": "CrostonSBA", "lumpy": "TSB"}
_FUZZY = {"autoarima": "AutoARIMA", "autoets": "AutoETS", "croston": "Croston", "imapa": "IMAPA"}
_FUZZY |= {"adida": "ADIDA", "mstl": "MSTL"}
"""Keywords a misspelt word is matched against (not the short TSB and SBA: 'tsbx' is no typo
of them one can tell; not 'seasonal': a seasonal item's text need not name the model)."""
_NAMES = (
    "AutoARIMA",
    "ARIMA",
    "MSTL",
    "AutoETS",
    "TSB",
    "IMAPA",
    "ADIDA",
    "SBA",
    "Croston",
    "seasonal naive",
)


def check_label(label: str | None) -> str | None:
    """``label`` (a policy row's ``forecasting`` text), refused when it names no model but one
    of its words is close to one (``AutoArma``, ``Crostn``, ``autoetss``): such a typo read as
    free text, and the demand pattern chose the model without a word."""
    text = (label or "").lower()
    if not text or any(key in text for key, _ in _KEYWORDS):
        return label
    words = [w for w in re.split(r"[^0-9a-z]+", text) if len(w) >= 4]
    for word in words:
        close = difflib.get_close_matches(word, _FUZZY, n=1, cutoff=0.75)
        if close:
            raise ValueError(
                f"{label!r} names no forecasting model, but {word!r} looks like "
                f"{_FUZZY[close[0]]}; allowed: a model's name ({', '.join(_NAMES)}) or text "
                "naming none (the demand pattern chooses)"
            )
    return label


def choose_method(label: str | None, pattern: str, n_obs: int, season: int) -> tuple[str, str]:
    """Method for one series and the note explaining a fallback ('' when none).

    Parameters
    ----------
    label
        The policy row's ``forecasting`` text (None: no row, the pattern decides).
    pattern
        Syntetos–Boylan pattern of the series: smooth, erratic, intermittent, lumpy, none.
    n_obs
        Length of the series (from its first demand to the end of the history).
    season
        Season length in periods (52 for weeks).
    """
    text = (label or "").lower()
    method = next((m for key, m in _KEYWORDS if key in text), None)
    if method is None:
        method = _BY_PATTERN.get(pattern, "MSTL")
    if method in SEASONAL and n_obs < 2 * season:
        return "AutoETS", (
            f"{n_obs} periods are fewer than two seasons ({2 * season}): non-seasonal AutoETS "
            f"instead of {method}"
        )
    return method, ""


def make_model(method: str, season: int) -> Any:
    """The statsforecast model object of ``method`` (imported lazily: statsforecast takes
    about a second to import)."""
    from statsforecast import models as sf

    if method == "MSTL":
        return sf.MSTL(season_length=season, trend_forecaster=sf.AutoETS(model="ZZN"))
    if method == "AutoETS":
        return sf.AutoETS(season_length=1)
    if method == "AutoARIMA":
        return sf.AutoARIMA(season_length=1)
    if method == "CrostonSBA":
        return sf.CrostonSBA()
    if method == "TSB":
        return sf.TSB(alpha_d=TSB_ALPHA_D, alpha_p=TSB_ALPHA_P)
    if method == "ADIDA":
        return sf.ADIDA()
    if method == "IMAPA":
        return sf.IMAPA()
    if method == "SeasonalNaive":
        return sf.SeasonalNaive(season_length=season)
    if method == "Naive":
        return sf.Naive()
    raise ValueError(f"unknown forecasting method {method!r}; known: {METHODS}")
