"""Shared base for instance schemas: frozen pydantic models that forbid unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every instance record: immutable, unknown fields rejected, NaN rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
