"""The contract of ``plan.yaml``: its keys, rules, limits and JSON Schema (``optim schema plan``).

Imports only pydantic models (no pandas, numpy or solvers), so describing the plan starts as
fast as the interpreter (CLI start-up); :mod:`optim.planning.folder` reads and checks the
folder against these names.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FORECASTS",
    "ITEM_RULES",
    "LABEL_PATTERN",
    "MAX_PLAN_WEEKS",
    "NETWORK_KEYS",
    "PLAN_KEYS",
    "REQUIRED_PLAN_KEYS",
    "SUPPLY_RULES",
    "plan_schema",
]


PLAN_KEYS = {
    "name",
    "plan_start",
    "plan_weeks",
    "network",
    "resources",
    "families",
    "disruption",
    "supply_missing",
    "items_without_history",
    "pins",
    "forecast",
    "ordering_cost",
    "lot_sizing",
    "currency",
    "units",
}
REQUIRED_PLAN_KEYS = ("plan_start", "plan_weeks", "network", "resources", "families")
NETWORK_KEYS = {"stages", "arcs", "demand_stage_of_location", "name", "pooling"}
SUPPLY_RULES = ("error", "planned", "zero")
ITEM_RULES = ("report", "error")
FORECASTS = ("statistical", "seasonal_naive")
MAX_PLAN_WEEKS = 156
"""Longest planning window (three years of weeks)."""
LABEL_PATTERN = r"^[^\s\"\\\x00-\x1f\x7f]([^\"\\\x00-\x1f\x7f]{0,10}[^\s\"\\\x00-\x1f\x7f])?$"
"""``currency`` and ``units``: 1..12 characters, no quotes, backslashes or control
characters, no space at either end (they are shown in the report, the workbook's number
formats and the alerts)."""


def plan_schema() -> dict[str, Any]:
    """JSON Schema of ``plan.yaml`` (``optim schema plan``)."""
    from optim.instances.capacity import Product, Resource
    from optim.instances.safety_stock import POOLINGS, Arc, Stage

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "plan.yaml",
        "description": "The plan of a planning folder (optim plan FOLDER); see "
        "optim.planning.folder.",
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_PLAN_KEYS),
        "properties": {
            "name": {"type": "string"},
            "plan_start": {
                "type": "string",
                "format": "date",
                "description": "a date in the first planned week",
            },
            "plan_weeks": {"type": "integer", "minimum": 1, "maximum": MAX_PLAN_WEEKS},
            "network": {
                "type": "object",
                "additionalProperties": False,
                "required": ["stages", "demand_stage_of_location"],
                "properties": {
                    "name": {"type": "string"},
                    "pooling": {"enum": list(POOLINGS)},
                    "stages": {"type": "array", "minItems": 1, "items": Stage.model_json_schema()},
                    "arcs": {"type": "array", "items": Arc.model_json_schema()},
                    "demand_stage_of_location": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "location of the order lines -> stage id",
                    },
                },
            },
            "resources": {"type": "array", "minItems": 1, "items": Resource.model_json_schema()},
            "families": {"type": "array", "minItems": 1, "items": Product.model_json_schema()},
            "disruption": {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "supply_missing": {"enum": list(SUPPLY_RULES), "default": "error"},
            "items_without_history": {"enum": list(ITEM_RULES), "default": "report"},
            "ordering_cost": {
                "type": "number",
                "minimum": 0,
                "description": "currency per replenishment order (EOQ of min/max items)",
            },
            "lot_sizing": {
                "type": "boolean",
                "default": False,
                "description": "true: the peak plan is a MIP that charges each family's "
                "setup_cost per week and resource it is made on and holds its min_lot_size; "
                "false: an LP, and a family with either is refused",
            },
            "forecast": {
                "enum": list(FORECASTS),
                "default": "statistical",
                "description": "statistical: optim.forecast and its forecast-error sigma; "
                "seasonal_naive: last year's weeks and the history's sigma",
            },
            "currency": {
                "type": "string",
                "pattern": LABEL_PATTERN,
                "description": "the money of every cost, value, revenue and price (e.g. EUR): "
                "shown in the report's and the workbook's money columns and charts",
            },
            "units": {
                "type": "string",
                "pattern": LABEL_PATTERN,
                "default": "units",
                "description": "the unit of every quantity (e.g. pcs, cases): shown in the "
                "report's and the workbook's quantity columns, charts and alerts",
            },
            "pins": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "customer -> segment",
            },
        },
    }
