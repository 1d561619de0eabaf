"""Generated series of known structure and their order lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2022-01-03")  # a Monday


def seasonal(rng: np.random.Generator, n_series: int, weeks: int, noise: float = 4.0):
    """Trend + yearly season + Gaussian noise (levels 60–140, amplitude 30–50 %)."""
    t = np.arange(weeks)
    level = rng.uniform(60, 140, (n_series, 1))
    amp = rng.uniform(0.3, 0.5, (n_series, 1)) * level
    phase = rng.uniform(0, 2 * np.pi, (n_series, 1))
    trend = rng.uniform(-0.05, 0.15, (n_series, 1)) * t
    y = level + trend + amp * np.sin(2 * np.pi * t / 52 + phase)
    return np.maximum(y + rng.normal(0, noise, y.shape), 0.0).round(2)


def intermittent(rng: np.random.Generator, n_series: int, weeks: int, p: float = 0.3):
    """Bernoulli(p) occurrence × gamma(shape 4, mean 20) sizes (CV² 0.25: intermittent)."""
    occur = rng.random((n_series, weeks)) < p
    return (occur * rng.gamma(4.0, 5.0, (n_series, weeks))).round(2)


def lumpy(rng: np.random.Generator, n_series: int, weeks: int, p: float = 0.2):
    """Bernoulli(p) × gamma(shape 0.8, mean 30) sizes (CV² 1.25: lumpy)."""
    occur = rng.random((n_series, weeks)) < p
    return (occur * rng.gamma(0.8, 37.5, (n_series, weeks))).round(2) + 0.0


def lines(matrix: np.ndarray, prefix: str = "S", customer: str = "C1") -> pd.DataFrame:
    """Order lines: series i is item f'{prefix}{i:03d}', one line per week with demand."""
    rows, cols = np.nonzero(matrix > 0)
    return pd.DataFrame(
        {
            "date": START + pd.to_timedelta(cols * 7, unit="D"),
            "customer": customer,
            "item": [f"{prefix}{i:03d}" for i in rows],
            "quantity": matrix[rows, cols],
            "unit_price": 1.0,
        }
    )
