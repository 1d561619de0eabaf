"""Forecasts per series (item × customer segment × location) and forecast error for stock.

:func:`forecast` reads order history with the same readers and returns rule as
``optim segment``, picks one statsforecast model per series from the policy table's
``forecasting`` column and the series' demand pattern (:mod:`.methods`), forecasts it,
backtests it at rolling origins against the seasonal-naïve baseline, and gives conformal
prediction intervals (:mod:`.engine`). The planner's ``forecast_overrides.csv`` replaces the
statistical forecast where given (:mod:`.overrides`). The backtest's per-period forecast
error (``ForecastResult.errors["sigma"]``) is what the safety-stock builders can take in
place of the history's standard deviation.
"""

from optim.forecasting.core import ForecastResult as ForecastResult
from optim.forecasting.core import forecast as forecast
from optim.forecasting.core import season_length as season_length

__all__ = ["ForecastResult", "forecast", "season_length"]
