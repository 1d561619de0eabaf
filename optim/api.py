"""Public entry points: :func:`load`, :func:`solve`, :func:`schema`.

Instances carry a ``kind`` discriminator; each kind registers its instance class and its
solve function here (imported lazily, so ``import optim`` stays light).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optim.errors import InstanceError

if TYPE_CHECKING:
    from optim.params import SolveParams
    from optim.result import Result


@dataclass(frozen=True)
class Kind:
    """How one problem kind is loaded and solved (targets are ``module:attribute``)."""

    instance: str
    solve: str
    csv_files: tuple[str, ...] = ()
    csv_reader: str | None = None
    document: str | None = None
    """The document model whose JSON Schema describes the kind, when it is not ``instance``
    (the columnar rationing instance imports pandas; its contract needs only pydantic)."""


KINDS: dict[str, Kind] = {
    "rationing": Kind(
        "optim.instances.rationing:RationingInstance",
        "optim.models.rationing.solve:solve",
        ("supply.csv", "demand.csv", "segments.csv"),
        "optim.instances.rationing:RationingInstance.from_csv_folder",
        "optim.instances.rationing_document:RationingDocument",
    ),
    "safety_stock": Kind(
        "optim.instances.safety_stock:SafetyStockInstance",
        "optim.models.safety_stock.solve:solve",
    ),
    "capacity": Kind(
        "optim.instances.capacity:CapacityInstance",
        "optim.models.capacity.solve:solve",
        ("periods.csv", "resources.csv", "products.csv", "segments.csv", "demand.csv"),
        "optim.instances.capacity:read_csv_folder",
    ),
}


def _resolve(target: str) -> Any:
    module, attr = target.split(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def instance_class(kind: str) -> Any:
    """The instance class of ``kind``."""
    if kind not in KINDS:
        raise InstanceError(
            f"kind {kind!r} is not known; allowed: {', '.join(sorted(KINDS))}", field="kind"
        )
    return _resolve(KINDS[kind].instance)


def from_dict(doc: Any) -> Any:
    """Validate a document (parsed JSON/YAML) into the instance class its ``kind`` names."""
    if not isinstance(doc, dict):
        raise InstanceError(
            f"an instance document must be an object with a 'kind' field, got {type(doc).__name__}"
        )
    if "kind" not in doc:
        raise InstanceError(
            f"missing field 'kind'; allowed: {', '.join(sorted(KINDS))}", field="kind"
        )
    kind = doc["kind"]
    if not isinstance(kind, str):
        raise InstanceError(
            f"kind must be text, got {kind!r}; allowed: {', '.join(sorted(KINDS))}", field="kind"
        )
    if kind == "capacity" and "demand" in doc and not doc["demand"]:
        # as an empty demand.csv: a document that lost its rows planned nothing, "optimal 0"
        raise InstanceError("demand is empty; allowed: at least one demand row.", field="demand")
    if kind == "capacity" and "demand" not in doc:
        raise InstanceError("missing field 'demand'; allowed: a list of demand rows.", "demand")
    return instance_class(kind).model_validate(doc)


def load(path: str | Path) -> Any:
    """Read an instance from a JSON or YAML file, or from a folder of CSV files.

    A folder is recognised by its files (rationing: ``supply.csv``, ``demand.csv``,
    ``segments.csv``; capacity: ``periods.csv``, ``resources.csv``, ``products.csv``,
    ``segments.csv``, ``demand.csv``). ``-`` reads a JSON or YAML document from standard
    input. Every file passes the input gate (:mod:`optim.instances.gate`). Raises
    :class:`InstanceError` naming the file, the line, the field and what is allowed.
    """
    from optim.instances import gate

    gate.check_path(path, "path")
    path = Path(path)
    if str(path) != "-" and path.is_dir():
        names = {p.name for p in path.iterdir()}
        # most specific set of files first (capacity's folder also has segments/demand.csv)
        for _, spec in sorted(KINDS.items(), key=lambda kv: -len(kv[1].csv_files)):
            if spec.csv_reader and set(spec.csv_files) <= names:
                return _resolve(spec.csv_reader)(path)
        expected = "; ".join(
            f"{k}: {', '.join(spec.csv_files)}" for k, spec in KINDS.items() if spec.csv_files
        )
        raise InstanceError(f"{path}: no known set of CSV files found (expected {expected})")
    doc, text, suffix = gate.load_document(path, "instance document")
    name = "standard input" if str(path) == "-" else str(path)
    try:
        return from_dict(doc)
    except InstanceError as exc:
        raise gate.located(exc, name, text, suffix) from None


def read_document(path: str | Path) -> Any:
    """Parse a JSON or YAML instance file into plain data (no validation yet), through the
    input gate (:func:`optim.instances.gate.load_document`)."""
    from optim.instances import gate

    doc, _, _ = gate.load_document(path, "instance document")
    return doc


def solve(
    instance: Any, params: SolveParams | Mapping[str, Any] | None = None, **overrides: Any
) -> Result:
    """Solve any optim instance; dispatches on ``instance.kind``.

    Parameters
    ----------
    instance
        An instance object (e.g. from :func:`load`) or a document ``dict``.
    params
        :class:`SolveParams` or a mapping of its fields; keyword ``overrides`` (e.g.
        ``time_limit=30``) replace fields.
    """

    from optim.params import SolveParams, as_params

    if isinstance(instance, dict):
        instance = from_dict(instance)
    kind = getattr(instance, "kind", None)
    if kind not in KINDS:
        hint = (
            "; optim.load(path) reads a file into an instance"
            if isinstance(instance, str | Path)
            else ""
        )
        raise InstanceError(
            f"cannot solve {type(instance).__name__}: unknown kind {kind!r}; allowed: an "
            f"instance or a document dict with kind {' | '.join(KINDS)}{hint}"
        )
    params = as_params(params)
    if overrides:
        params = SolveParams.model_validate(params.model_dump() | overrides)
    from optim.solvers.base import cancel_requested

    scope = cancel_requested()
    stops = 0 if scope is None else scope.stops
    result: Result = _resolve(KINDS[kind].solve)(instance, params)
    if scope is not None and scope.stops > stops:
        return _interrupted(result)
    return result


def _interrupted(result: Result) -> Result:
    """``result`` of a solve that stopped on a cancel (:func:`optim.solvers.base.interruptible`).

    The kinds read a stopped solver through the one-axis status, where a cancel and a time
    limit are both ``time_limit``; a poll of the cancel that told a solver to stop is counted
    by the block's scope, so a result that stopped early is termination ``interrupted`` (its
    solution axis, best solution and gap unchanged). A solve that finished is left as it is.
    """
    from optim.status import Termination

    if result.termination is not Termination.TIME_LIMIT:
        return result
    return replace(result, termination=Termination.INTERRUPTED)


def schema(kind: str) -> dict[str, Any]:
    """JSON Schema of the document form of ``kind``."""
    document = KINDS[kind].document if kind in KINDS else None
    cls = _resolve(document) if document else instance_class(kind)
    if hasattr(cls, "json_schema"):
        return dict(cls.json_schema())
    return dict(cls.model_json_schema())
