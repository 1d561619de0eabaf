"""Shared base for instance schemas: frozen pydantic models that forbid unknown fields, and
one conversion of pydantic's errors into :class:`~optim.errors.InstanceError`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Self

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


# union branches pydantic inserts into error locations (e.g. "float", "dict[str,float]")
_UNION_TAG = re.compile(r"^(float|int|str|constrained-|dict\[|list\[|function-)")


def instance_error(exc: ValidationError, data: Any = None) -> InstanceError:
    """Turn pydantic's first error into one :class:`InstanceError` naming field and id.

    An :class:`InstanceError` raised by a validator is passed on (its field filled in when
    it had none); a ``ValueError`` from a validator keeps its own text; otherwise pydantic's
    message with the offending value. In a union (number or ``{period: number}``) the branch
    that failed on the value is preferred to the one that failed on the type. When ``data``
    is the validated mapping and the error sits in a list of records, the record's ``id``
    (or ``name``) is named.
    """
    errors = exc.errors()
    err = next((e for e in errors if not e["type"].endswith(("_type", "_parsing"))), errors[0])
    original = (err.get("ctx") or {}).get("error")
    loc = tuple(p for p in err.get("loc", ()) if not _UNION_TAG.match(str(p)))
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if isinstance(original, InstanceError):
        if original.field is None and field:
            original.field = field
        return original
    owner = ""
    if isinstance(data, Mapping) and len(loc) >= 2 and isinstance(loc[1], int):
        try:
            item = data[loc[0]][loc[1]]
            ident = item.get("id", item.get("name")) if isinstance(item, Mapping) else None
            ident = ident if ident is not None else getattr(item, "id", None)
            if ident is not None:
                owner = f" (id '{ident}')"
        except (KeyError, IndexError, TypeError):
            pass
    if isinstance(original, ValueError):
        text = str(original)
    else:
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f", got {value!r}"
        text = f"{err.get('msg')}{shown}"
    text = text if text.endswith(".") else text + "."
    return InstanceError(f"{field}{owner}: {text}" if field else text, field=field or None)


class Document(Frozen):
    """A top-level document (instance, configuration, policy): constructing or validating
    it raises :class:`InstanceError` (see :func:`instance_error`), never pydantic's
    ``ValidationError``; nested records are reported through their document."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise instance_error(exc, data) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a mapping); errors are raised as :class:`InstanceError`."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise instance_error(exc, obj) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate a JSON document; errors are raised as :class:`InstanceError`."""
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise instance_error(exc) from None


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
            raise instance_error(exc, obj) from None
