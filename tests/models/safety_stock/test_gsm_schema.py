"""Bad input raises InstanceError naming the field, the stage or segment and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance

GOOD: dict[str, Any] = {
    "stages": [
        {"id": "A", "lead_time": 2, "holding_cost": 1.0},
        {"id": "B", "lead_time": 1, "holding_cost": 2.0},
        {"id": "C", "lead_time": 1, "holding_cost": 3.0},
    ],
    "arcs": [{"source": "A", "target": "B"}, {"source": "B", "target": "C"}],
    "demands": [
        {
            "stage": "C",
            "segment": "strategic",
            "mean": 10,
            "std_dev": 2,
            "service_level": 0.99,
            "max_service_time": 0,
        }
    ],
}


def _make(**changes: Any) -> SafetyStockInstance:
    doc = copy.deepcopy(GOOD)
    for path, value in changes.items():
        section, idx, key = path.split("__")
        doc[section][int(idx)][key] = value
    return SafetyStockInstance.model_validate(doc)


def test_good_instance_defaults() -> None:
    inst = SafetyStockInstance(**GOOD)
    assert inst.kind == "safety_stock"
    assert inst.pooling == "critical_level"  # each segment its own target (issue 10)
    assert inst.stages[0].external_service_time == 0
    assert inst.arcs[0].quantity == 1.0
    assert inst.is_spanning_tree()


def test_integer_ids_and_whole_floats_are_accepted() -> None:
    doc = copy.deepcopy(GOOD)
    doc["stages"][0]["id"] = 7
    doc["arcs"][0]["source"] = 7
    doc["stages"][1]["lead_time"] = 3.0
    inst = SafetyStockInstance.model_validate(doc)
    assert inst.stages[0].id == "7" and inst.stages[1].lead_time == 3


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"stages__0__lead_time": float("inf")}, r"lead_time inf of stage 'A' must be a finite"),
        (
            {"stages__0__lead_time_std_dev": -0.5},
            r"lead_time_std_dev -0.5 of stage 'A' is not allowed; it must be a finite number >= 0",
        ),
        (
            {"stages__0__lead_time_std_dev": float("nan")},
            r"lead_time_std_dev nan of stage 'A' is not allowed",
        ),
        (
            {"stages__1__lead_time_distribution": []},
            r"lead_time_distribution of stage 'B' is empty",
        ),
        (
            {
                "stages__1__lead_time_distribution": [
                    {"value": 1, "probability": 0.5},
                    {"value": 2, "probability": 0.4},
                ]
            },
            r"stage 'B': probabilities sum to 0.9; they must sum to 1 \(tolerance 1e-06\)",
        ),
        (
            {"stages__1__lead_time_distribution": [{"value": -1, "probability": 1.0}]},
            r"lead_time_distribution\[0\].value -1 of stage 'B' is negative",
        ),
        (
            {"stages__1__lead_time_distribution": [{"value": 4, "probability": 1.0}]},
            r"lead_time 1 of stage 'B' differs from the mean 4 of its lead_time_distribution",
        ),
        ({"stages__1__lead_time": -1}, r"lead_time -1 of stage 'B' is negative"),
        ({"stages__1__external_service_time": 0.5}, r"external_service_time 0.5 of stage 'B'"),
        ({"stages__2__max_service_time": -2}, r"max_service_time -2 of stage 'C'"),
        ({"stages__0__holding_cost": -1}, r"holding_cost -1 of stage 'A' is negative"),
        (
            {"demands__0__service_level": 1.0},
            r"service_level 1.0 of segment 'strategic'.*\(0, 1\)",
        ),
        ({"demands__0__service_level": 0}, r"service_level 0 of segment 'strategic'"),
        ({"demands__0__std_dev": -0.1}, r"std_dev -0.1 of segment 'strategic' at stage 'C'"),
        ({"demands__0__max_service_time": 1.5}, r"max_service_time 1.5 of segment 'strategic'"),
        ({"demands__0__stage": "Z"}, r"demands\[0\].stage 'Z' \(segment 'strategic'\) is not a"),
        ({"arcs__1__target": "Q"}, r"arcs\[1\].target 'Q' is not a stage id \(known: A, B, C\)"),
        ({"stages__2__id": "A"}, r"stage id 'A' appears twice"),
        ({"stages__1__id": " "}, r"stages\[1\].*the id ' ' is blank"),
        ({"arcs__0__source": ""}, r"arcs\[0\].*the id '' is blank"),
        ({"stages__2__id": " A"}, r"stage id 'A' appears twice"),  # (spaces go, as in CSV)
    ],
)
def test_bad_field(changes: dict[str, Any], pattern: str) -> None:
    with pytest.raises(InstanceError, match=pattern):
        _make(**changes)


def test_stochastic_lead_time_contract() -> None:
    doc = copy.deepcopy(GOOD)
    doc["stages"][0]["lead_time"] = 2.5  # fractional mean: accepted, handled exactly
    doc["stages"][1]["lead_time_std_dev"] = 0.5
    del doc["stages"][2]["lead_time"]  # the mean of the distribution
    doc["stages"][2]["lead_time_distribution"] = [
        {"value": 3, "probability": 0.25},
        {"value": 1, "probability": 0.5 + 4e-7},  # within the tolerance: rescaled
        {"value": 3, "probability": 0.25},  # repeated value: merged
    ]
    inst = SafetyStockInstance.model_validate(doc)
    a, b, c = inst.stages
    assert a.lead_time == 2.5 and not a.stochastic_lead_time
    assert b.stochastic_lead_time and b.lead_time_std_dev == 0.5
    assert c.lead_time == pytest.approx(2.0) and c.stochastic_lead_time
    assert [p.value for p in c.lead_time_distribution or ()] == [1.0, 3.0]
    assert sum(p.probability for p in c.lead_time_distribution or ()) == pytest.approx(1, 1e-15)


def test_bad_lead_time_fields_name_the_field() -> None:
    with pytest.raises(InstanceError) as err:
        _make(stages__0__lead_time_std_dev=-1)
    assert err.value.field is not None and "lead_time_std_dev" in err.value.field
    with pytest.raises(InstanceError, match="give one"):
        _make(
            stages__0__lead_time_std_dev=1,
            stages__0__lead_time_distribution=[{"value": 2, "probability": 1}],
        )


def test_cycle_names_its_stages() -> None:
    doc = copy.deepcopy(GOOD)
    doc["arcs"].append({"source": "C", "target": "A"})
    with pytest.raises(InstanceError, match=r"cycle: A -> B -> C -> A") as err:
        SafetyStockInstance(**doc)
    assert err.value.field == "arcs"


def test_self_loop_and_duplicate_arc_and_segment() -> None:
    doc = copy.deepcopy(GOOD)
    doc["arcs"].append({"source": "B", "target": "B"})
    with pytest.raises(InstanceError, match="loop at stage 'B'"):
        SafetyStockInstance(**doc)
    doc = copy.deepcopy(GOOD)
    doc["arcs"].append({"source": "A", "target": "B"})
    with pytest.raises(InstanceError, match="arc 'A' -> 'B' appears twice"):
        SafetyStockInstance(**doc)
    doc = copy.deepcopy(GOOD)
    doc["demands"].append(dict(doc["demands"][0]))
    with pytest.raises(InstanceError, match="segment 'strategic' appears twice at stage 'C'"):
        SafetyStockInstance(**doc)


def test_missing_and_unknown_fields_and_pooling() -> None:
    doc = copy.deepcopy(GOOD)
    del doc["stages"][1]["holding_cost"]
    with pytest.raises(
        InstanceError, match=r"stages\[1\].holding_cost \(id 'B'\): Field required"
    ):
        SafetyStockInstance(**doc)
    doc = copy.deepcopy(GOOD)
    doc["pooling"] = "max"
    with pytest.raises(InstanceError, match="pooling"):
        SafetyStockInstance(**doc)
    doc = copy.deepcopy(GOOD)
    doc["stages"][0]["colour"] = "red"
    with pytest.raises(InstanceError, match=r"stages\[0\].colour"):
        SafetyStockInstance(**doc)


def test_frozen() -> None:
    inst = SafetyStockInstance(**GOOD)
    with pytest.raises(Exception, match="frozen"):
        inst.stages[0].lead_time = 5  # type: ignore[misc]
