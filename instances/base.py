"""Shared base for instance schemas: frozen pydantic models that forbid unknown fields, and
one conversion of pydantic's errors into :class:`~optim.errors.InstanceError`."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from optim.errors import MAGNITUDE, InstanceError


def string_id(value: Any) -> Any:
    """Accept integer ids (as read from CSV files) and store them as strings; text loses
    the spaces at either end, as the CSV readers' ids do, and a blank id is refused (a
    product or stage id ``" "`` was taken)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"the id {value!r} is blank; an id needs a visible character")
        return text
    return value


class StrictNumberError(InstanceError):
    """A number field holds text, a boolean, NaN/infinity or a value beyond the magnitude
    limit; :func:`instance_error` puts the record's path in front of ``leaf``."""

    def __init__(self, detail: str, leaf: str, kind: str | None = None) -> None:
        super().__init__(f"{leaf} {detail}", field=None, kind=kind)
        self.detail, self.leaf = detail, leaf


def _shape(annotation: Any) -> str | None:
    """``"num"`` (a number), ``"map"`` ({key: number}), ``"seq"`` (numbers), combinations
    joined by ``|``, or None for fields that take no numbers or also take text."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _shape(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        shapes = set()
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            sub = _shape(arg)
            if sub is None:
                return None
            shapes.update(sub.split("|"))
        return "|".join(sorted(shapes)) if shapes else None
    if annotation is bool or annotation is str:
        return None
    if annotation in (int, float):
        return "num"
    if origin is dict:
        args = typing.get_args(annotation)
        return "map" if len(args) == 2 and _shape(args[1]) == "num" else None
    if origin in (list, tuple):
        items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return "seq" if items and all(_shape(a) == "num" for a in items) else None
    return None


def _strict(value: Any, leaf: str, limit: float | None) -> None:
    from optim.instances.gate import shown, text_hint

    if isinstance(value, bool):
        raise StrictNumberError(f"must be a number, got {shown(value)} (a boolean).", leaf)
    if isinstance(value, str):
        hint = text_hint(value)
        raise StrictNumberError(f"must be a number, got {shown(value)} ({hint}).", leaf)
    if isinstance(value, float) and value != value:
        raise StrictNumberError("must be a number, got NaN.", leaf)
    if limit is not None and isinstance(value, (int, float)) and abs(value) > limit:
        raise StrictNumberError(
            f"is {shown(value)}; allowed: finite numbers of at most {limit:.0e} in "
            "absolute value (rescale the units).",
            leaf,
            MAGNITUDE,
        )


class Frozen(BaseModel):
    """Base of every instance record: immutable, unknown fields rejected, NaN rejected.

    Numbers are strict (:mod:`optim.instances.gate`): a number field refuses text
    (``"-3"``), booleans, NaN, infinity and magnitudes above ``gate.MAX_MAGNITUDE``, so a
    typed-in string can never skip a range check.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    _number_fields: ClassVar[dict[type, dict[str, str]]] = {}
    number_limit: ClassVar[float | None] = 1e12
    """Largest magnitude of a number field (``gate.MAX_MAGNITUDE``); None: finite only
    (the rationing records, whose magnitudes issue 13's scaling decides)."""

    @model_validator(mode="before")
    @classmethod
    def _strict_numbers(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        shapes = Frozen._number_fields.get(cls)
        if shapes is None:
            shapes = {}
            for name, info in cls.model_fields.items():
                shape = _shape(info.annotation)
                if shape is not None:
                    shapes[name] = shape
            Frozen._number_fields[cls] = shapes
        for name, shape in shapes.items():
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, Mapping) and "map" in shape:
                for key, v in value.items():
                    _strict(v, f"{name}.{key}", cls.number_limit)
            elif isinstance(value, (list, tuple)) and "seq" in shape:
                for k, v in enumerate(value):
                    _strict(v, f"{name}[{k}]", cls.number_limit)
            elif "num" in shape or not isinstance(value, (Mapping, list, tuple)):
                _strict(value, name, cls.number_limit)
        return data


# union branches pydantic inserts into error locations (e.g. "float", "dict[str,float]")
# (whole names: a dict key such as the segment "strategic" or an item "integrated" is kept;
# matched by prefix, "strategic" was dropped and its error named no segment)
_UNION_TAG = re.compile(
    r"^(float|int|str|bool|constrained-[a-z]+|(dict|list|tuple|set)\[.*\]|function-[a-z-]+\[.*\])$"
)


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
    loc = _data_path(tuple(err.get("loc", ())), data)
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if isinstance(original, StrictNumberError):
        full = f"{field}.{original.leaf}" if field else original.leaf
        where = f"{field}{_owner(data, loc)}" if field else ""
        text = f"{where}: {original.leaf} {original.detail}" if where else str(original)
        return InstanceError(text, field=full, kind=original.kind)
    if isinstance(original, InstanceError):
        leaf = original.field
        if field and leaf and not any(c in leaf for c in ".[") and not leaf.startswith(field):
            original.field = f"{field}.{leaf}"  # a record's own key, below the record's path
        if original.field is None and field:
            original.field = field
        return original
    owner = _owner(data, loc)
    if isinstance(original, ValueError):
        text = str(original)
    else:
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f", got {value!r}"
        text = f"{err.get('msg')}{shown}"
    text = text if text.endswith(".") else text + "."
    return InstanceError(f"{field}{owner}: {text}" if field else text, field=field or None)


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """``loc`` without the union branches pydantic inserts: a step that is a key or index of
    the validated data at that point is kept (a segment named ``float`` or ``strategic``),
    another that names a branch (:data:`_UNION_TAG`) is dropped."""
    out: list[Any] = []
    node = data
    for p in loc:
        key = isinstance(node, Mapping) and p in node
        index = isinstance(node, list | tuple) and isinstance(p, int) and 0 <= p < len(node)
        if key or index:
            node = node[p]
        elif _UNION_TAG.match(str(p)):
            continue
        else:
            node = None
        out.append(p)
    return tuple(out)


def _owner(data: Any, loc: tuple[Any, ...]) -> str:
    """`` (id 'X')`` of the record at ``loc`` in ``data`` when it has an id or name."""
    if isinstance(data, Mapping) and len(loc) >= 2 and isinstance(loc[1], int):
        try:
            item = data[loc[0]][loc[1]]
            ident = item.get("id", item.get("name")) if isinstance(item, Mapping) else None
            ident = ident if ident is not None else getattr(item, "id", None)
            if ident is not None:
                return f" (id '{ident}')"
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
    return ""


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
