"""Shared base for instance schemas: frozen pydantic models that forbid unknown fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from optim.errors import InstanceError


def string_id(value: Any) -> Any:
    """Accept integer ids (as read from CSV files) and store them as strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class Frozen(BaseModel):
    """Base of every instance record: immutable, unknown fields rejected, NaN rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TableInstance(BaseModel):
    """Base of columnar instances: tables are validated DataFrames.

    ``model_validate`` raises :class:`optim.errors.InstanceError` itself (not wrapped in a
    pydantic ``ValidationError``), so the message that names table, row, id and field reaches
    the user unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            for err in exc.errors():
                cause = (err.get("ctx") or {}).get("error")
                if isinstance(cause, InstanceError):
                    raise cause from None
            raise InstanceError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or exc.title
    return f"{where}: {err['msg']} (got {err.get('input')!r})"
