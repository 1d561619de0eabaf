"""JSON Schemas of optim's output documents: the result documents of the three problem
kinds (``optim solve --out``, ``*_result.json`` of a planning run) and the output folders'
``manifest.json`` (``optim schema result-rationing | result-safety_stock | result-capacity |
manifest``).

A result document carries ``schema_version`` (:data:`RESULT_SCHEMA_VERSION`); the version
goes up when a field or a guaranteed table column is removed or changes meaning (new fields
and columns do not change it: records and the document allow more properties). The head
fields are typed (status values are the enums of :mod:`optim.status`); every table is a list
of records whose guaranteed columns are listed here with their types. A number is a JSON
number, ``null`` (NaN) or the string ``"inf"`` / ``"-inf"`` (see
:meth:`optim.result.Result.to_dict`).

Kept free of pandas and pydantic so ``optim schema result-…`` starts fast.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DOCUMENTS",
    "OPTIONAL_TABLES",
    "RESULT_SCHEMA_VERSION",
    "SCHEMAS",
    "TABLES",
    "document_schema",
    "schema",
]

RESULT_SCHEMA_VERSION = 1
"""Version of the result document layout (``schema_version`` of every result document)."""

_ID = "id"
_NUM = "number"
_INT = "integer"
_BOOL = "boolean"
_TEXT = "text"

TABLES: dict[str, dict[str, dict[str, str]]] = {
    "rationing": {
        "allocations": {"demand_id": _ID, "item": _ID, "location": _ID, "quantity": _NUM},
        "lines": {
            "demand_id": _ID,
            "customer": _ID,
            "item": _ID,
            "segment": _ID,
            "tier": _INT,
            "fair_share": _TEXT,
            "requested": _NUM,
            "allocated": _NUM,
            "fill_rate": _NUM,
            "min_quantity": _NUM,
            "stage": _TEXT,
            "explanation": _TEXT,
        },
        "segments": {
            "segment": _ID,
            "tier": _INT,
            "fair_share": _TEXT,
            "lines": _INT,
            "requested": _NUM,
            "allocated": _NUM,
            "fill_rate": _NUM,
        },
        "unallocated": {
            "item": _ID,
            "location": _ID,
            "supply": _NUM,
            "allocated": _NUM,
            "unallocated": _NUM,
        },
    },
    "safety_stock": {
        "stages": {
            "stage": _ID,
            "inbound_service_time": _NUM,
            "outbound_service_time": _NUM,
            "net_replenishment_time": _NUM,
            "safety_stock": _NUM,
            "base_stock_level": _NUM,
            "holding_cost": _NUM,
            "decoupling_point": _BOOL,
        },
        "demands": {
            "stage": _ID,
            "segment": _ID,
            "promise": _NUM,
            "service_time": _NUM,
            "service_level": _NUM,
            "z": _NUM,
        },
    },
    "capacity": {
        "production": {
            "product": _ID,
            "routing": _ID,
            "period": _ID,
            "quantity": _NUM,
            "hours": _NUM,
        },
        "production_hours": {
            "product": _ID,
            "routing": _ID,
            "period": _ID,
            "resource": _ID,
            "hours": _NUM,
        },
        "overtime": {"resource": _ID, "period": _ID, "hours": _NUM, "cost": _NUM},
        "utilisation": {
            "resource": _ID,
            "period": _ID,
            "capacity": _NUM,
            "overtime_capacity": _NUM,
            "hours_used": _NUM,
            "overtime_used": _NUM,
            "utilisation": _NUM,
        },
        "marginal_values": {"resource": _ID, "period": _ID, "marginal_value": _NUM},
        "inventory": {"product": _ID, "period": _ID, "inventory": _NUM, "prebuild": _NUM},
        "prebuild": {"product": _ID, "period": _ID, "quantity": _NUM},
        "shipments": {"product": _ID, "segment": _ID, "period": _ID, "quantity": _NUM},
        "backlog": {"product": _ID, "segment": _ID, "period": _ID, "quantity": _NUM},
        "lost": {"product": _ID, "segment": _ID, "period": _ID, "quantity": _NUM},
        "segments": {
            "segment": _ID,
            "priority": _INT,
            "demand": _NUM,
            "served": _NUM,
            "served_on_time": _NUM,
            "served_late": _NUM,
            "lost": _NUM,
            "fill_rate": _NUM,
            "on_time_rate": _NUM,
            "min_fill_rate": _NUM,
            "shortfall_cost": _NUM,
        },
        "segment_periods": {
            "segment": _ID,
            "period": _ID,
            "demand": _NUM,
            "served_on_time": _NUM,
            "served_late": _NUM,
            "lost": _NUM,
            "fill_rate": _NUM,
            "on_time_rate": _NUM,
            "shipped": _NUM,
            "backlog": _NUM,
            "shortfall_cost": _NUM,
        },
    },
}
"""Per kind: table → guaranteed column → type. A result with a solution has every table
but those of :data:`OPTIONAL_TABLES`."""

OPTIONAL_TABLES: dict[str, frozenset[str]] = {
    "capacity": frozenset({"marginal_values"}),  # duals: the cost mode's LP only
}
"""Tables present only in some modes (typed as above when present)."""

DOCUMENTS = (*(f"result-{kind}" for kind in TABLES), "manifest")
"""Names accepted by :func:`document_schema` (and ``optim schema``)."""

_NUMBER: dict[str, Any] = {"anyOf": [{"type": ["number", "null"]}, {"enum": ["inf", "-inf"]}]}
_TYPES: dict[str, dict[str, Any]] = {
    _ID: {"type": ["string", "integer"]},
    _TEXT: {"type": ["string", "null"]},
    _NUM: _NUMBER,
    _INT: {"type": "integer"},
    _BOOL: {"type": "boolean"},
}


def _enum(name: str) -> list[str]:
    from optim import status

    return [m.value for m in getattr(status, name)]


def _result(kind: str) -> dict[str, Any]:
    tables = TABLES[kind]
    head: dict[str, Any] = {
        "kind": {"const": kind},
        "schema_version": {"const": RESULT_SCHEMA_VERSION},
        "status": {"enum": _enum("Status")},
        "termination": {"enum": _enum("Termination")},
        "solution_status": {"enum": _enum("SolutionStatus")},
        "objective": _NUMBER,
        "bound": _NUMBER,
        "gap": _NUMBER,
        "solver": {"type": "string"},
        "solver_version": {"type": "string"},
        "message": {"type": "string"},
        "diagnosis": {"type": "array", "items": {"type": "string"}},
        "runtime_seconds": {"type": "number", "minimum": 0},
    }
    for name, columns in tables.items():
        head[name] = {
            "type": "array",
            "items": {
                "type": "object",
                "required": list(columns),
                "properties": {col: _TYPES[t] for col, t in columns.items()},
            },
        }
    with_solution = {
        "if": {"properties": {"solution_status": {"enum": ["optimal", "feasible"]}}},
        "then": {"required": [t for t in tables if t not in OPTIONAL_TABLES.get(kind, ())]},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"optim.result.{kind}/{RESULT_SCHEMA_VERSION}",
        "title": f"optim {kind} result document",
        "description": "Written by `optim solve --out` and `Result.to_json`; more fields "
        "(solver facts) and table columns may appear.",
        "type": "object",
        "required": [
            "kind",
            "schema_version",
            "status",
            "termination",
            "solution_status",
            "objective",
            "bound",
            "gap",
            "solver",
            "message",
            "diagnosis",
        ],
        "properties": head,
        "allOf": [with_solution],
    }


def _manifest() -> dict[str, Any]:
    digest = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "optim.manifest/1",
        "title": "manifest.json of an optim output folder",
        "description": "Written last, as the completion marker (optim.output); the folder is "
        "complete and unchanged when every listed file has its size and SHA-256.",
        "type": "object",
        "required": ["schema", "optim_version", "command", "input", "files", "complete"],
        "additionalProperties": False,
        "properties": {
            "schema": {"const": "optim.manifest/1"},
            "optim_version": {"type": "string"},
            "command": {"type": "string"},
            "input": {
                "type": "object",
                "properties": {
                    "sha256": digest,
                    "path": {"type": "string"},
                    "plan_start": {
                        "type": "string",
                        "format": "date",
                        "description": "A planning run's first planned week (its Monday); "
                        "a later run's --previous must not plan a later week.",
                    },
                },
            },
            "files": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["bytes", "sha256"],
                    "additionalProperties": False,
                    "properties": {"bytes": {"type": "integer", "minimum": 0}, "sha256": digest},
                },
            },
            "complete": {"const": True},
        },
    }


def document_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (one of :data:`DOCUMENTS`)."""
    if name == "manifest":
        return _manifest()
    kind = name.removeprefix("result-")
    if name.startswith("result-") and kind in TABLES:
        return _result(kind)
    from optim.errors import InstanceError

    raise InstanceError(f"no schema {name!r}; allowed: {', '.join(DOCUMENTS)}", field="schema")


SCHEMAS = (
    *sorted(TABLES),
    "plan",
    *(f"result-{kind}" for kind in sorted(TABLES)),
    "manifest",
)
"""Every name :func:`schema` describes (``optim schema NAME``, ``GET /v1/schema/NAME``)."""


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (one of :data:`SCHEMAS`): an instance kind's document,
    ``plan.yaml`` (``plan``), a result document (``result-KIND``) or ``manifest.json``."""
    if name == "plan":
        from optim.planning.plan_document import plan_schema

        return plan_schema()
    if name in TABLES:
        from optim import api

        return api.schema(name)
    if name in DOCUMENTS:
        return document_schema(name)
    from optim.errors import InstanceError

    raise InstanceError(f"no schema {name!r}; allowed: {', '.join(SCHEMAS)}", field="schema")
