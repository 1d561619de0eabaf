"""Bad capacity input fails before any model is built, naming the field and the id."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.errors import InstanceError
from optim.instances.capacity import CapacityInstance
from optim.models.capacity.solve import solve
from optim.params import SolveParams


def base() -> dict[str, Any]:
    return {
        "periods": ["W1", "W2"],
        "resources": [
            {"id": "line", "capacity": 10},
            {"id": "pack", "capacity": {"W1": 5, "W2": 6}},
        ],
        "products": [
            {"id": "A", "holding_cost": 1, "usage": {"line": 1, "pack": 0.5}},
            {"id": "B", "holding_cost": 1, "usage": {"line": 2}},
        ],
        "segments": [
            {"name": "key", "priority": 1, "backlog_cost": 2, "lost_sales_cost": 10},
            {"name": "spot", "priority": 2, "backlog_cost": 1, "lost_sales_cost": 5},
        ],
        "demand": [
            {"product": "A", "segment": "key", "period": "W1", "quantity": 3},
            {"product": "B", "segment": "spot", "period": "W2", "quantity": 4},
        ],
    }


def bad(edit) -> dict[str, Any]:
    doc = copy.deepcopy(base())
    edit(doc)
    return doc


def test_base_is_valid() -> None:
    assert CapacityInstance.model_validate(base()).kind == "capacity"


CASES = [
    # unknown references
    (lambda d: d["demand"][1].update(product="Z"), r"demand\[1\]\.product: unknown product 'Z'"),
    (
        lambda d: d["demand"][0].update(segment="vip"),
        r"demand\[0\]\.segment: unknown segment 'vip'",
    ),
    (lambda d: d["demand"][0].update(period="W9"), r"demand\[0\]\.period: unknown period 'W9'"),
    (
        lambda d: d["resources"][1].update(capacity={"W1": 5, "W3": 6}),
        r"capacity of resource 'pack' names unknown period 'W3'",
    ),
    (
        lambda d: d["resources"][1].update(capacity={"W1": 5}),
        r"capacity of resource 'pack' has no value for period 'W2'",
    ),
    # usage on an unknown resource
    (
        lambda d: d["products"][0]["usage"].update(oven=1),
        r"usage of product 'A' names unknown resource 'oven'",
    ),
    # blank ids (a product id " " was taken); spaces at either end go, as in CSV folders
    (lambda d: d["products"][0].update(id=" "), r"products\[0\]\.id.*the id ' ' is blank"),
    (lambda d: d["resources"][0].update(id="\t"), r"resources\[0\]\.id.*is blank"),
    (lambda d: d["demand"][0].update(segment="  "), r"demand\[0\]\.segment.*is blank"),
    # duplicate ids
    (
        lambda d: d["resources"].append({"id": "line", "capacity": 1}),
        r"resources: duplicate id 'line'",
    ),
    (lambda d: d["products"].append(dict(d["products"][1])), r"products: duplicate id 'B'"),
    (lambda d: d["segments"].append(dict(d["segments"][0])), r"segments: duplicate name 'key'"),
    (
        lambda d: d["demand"].append(dict(d["demand"][0])),
        r"duplicate row for product 'A', segment 'key', period 'W1'",
    ),
    (
        lambda d: d["products"][1].update(
            usage=None,
            routings=[{"id": "r", "usage": {"line": 1}}, {"id": "r", "usage": {"pack": 1}}],
        ),
        r"routings: duplicate id 'r'",
    ),
    # periods repeated or out of order
    (lambda d: d.update(periods=["W1", "W1"]), r"periods: duplicate label 'W1'"),
    (lambda d: d.update(periods=["W2", "W1"]), r"periods: 'W1' comes after 'W2' but is not later"),
    (
        lambda d: d.update(periods=["2025-02-01", "2025-01-01"]),
        r"'2025-01-01' comes after '2025-02-01'",
    ),
    # negative capacities or costs
    (
        lambda d: d["resources"][0].update(capacity=-1),
        r"resources\[0\]\.capacity \(id 'line'\): Input should be greater than or equal to 0",
    ),
    (
        lambda d: d["resources"][1].update(capacity={"W1": 5, "W2": -6}),
        r"resources\[1\]\.capacity.*\(id 'pack'\).*greater than or equal to 0",
    ),
    (
        lambda d: d["resources"][0].update(overtime_cost=-2),
        r"resources\[0\]\.overtime_cost \(id 'line'\): Input should be greater than or equal to 0",
    ),
    (
        lambda d: d["products"][1].update(holding_cost=-1),
        r"products\[1\]\.holding_cost \(id 'B'\): Input should be greater than or equal to 0",
    ),
    (
        lambda d: d["segments"][1].update(lost_sales_cost=-5),
        r"segments\[1\]\.lost_sales_cost \(id 'spot'\): Input should be greater than or equal",
    ),
    (
        lambda d: d["segments"][0].update(backlog_cost=-1),
        r"segments\[0\]\.backlog_cost \(id 'key'\)",
    ),
    (
        lambda d: d["demand"][0].update(quantity=-3),
        r"demand\[0\]\.quantity.*greater than or equal to 0",
    ),
    (
        lambda d: d["products"][0]["usage"].update(line=-1),
        r"products\[0\]\.usage\.line \(id 'A'\)",
    ),
    (
        lambda d: d["segments"][0].update(min_fill_rate=1.5),
        r"segments\[0\]\.min_fill_rate \(id 'key'\)",
    ),
    # a product no resource can make
    (lambda d: d["products"][1].update(usage={}), r"no resource can make product 'B'"),
    (lambda d: d["products"][1].update(usage={"line": 0}), r"no resource can make product 'B'"),
    (
        lambda d: d["products"][1].update(usage=None, routings=[]),
        r"product 'B' has an empty routings list; no resource can make it",
    ),
    (
        lambda d: d["products"][1].update(routings=[{"id": "r", "usage": {"line": 1}}]),
        r"product 'B' must give exactly one of usage or routings",
    ),
    (
        lambda d: d["products"][1].update(initial_inventory=5, max_inventory=2),
        r"initial_inventory 5 of product 'B' exceeds its max_inventory 2",
    ),
    (lambda d: d.update(objective="fastest"), r"objective.*'cost' or 'lexicographic'"),
    # a lot no period can make (A: 1 h per unit on the line's 10 h): the product was never
    # made and the plan lost its demand without a word
    (
        lambda d: (d.update(lot_sizing=True), d["products"][0].update(min_lot_size=10.5)),
        r"min_lot_size 10\.5 of product 'A' is more than any routing can make in a period.*"
        r"allowed: at most 10, or lot_sizing false",
    ),
]


def test_lots_that_fit_a_period_are_valid() -> None:
    def lot(size: float, lot_sizing: bool = True) -> dict[str, Any]:
        doc = base()
        doc["lot_sizing"] = lot_sizing
        doc["products"][0]["min_lot_size"] = size
        doc["resources"][0]["overtime_capacity"] = {"W1": 0, "W2": 1}  # W2: 11 units
        return doc

    with pytest.raises(InstanceError) as info:
        CapacityInstance.model_validate(lot(11.5))
    assert info.value.field == "products[0].min_lot_size"
    for doc in (lot(11), lot(11.5, lot_sizing=False)):  # (ignored without lot sizing)
        assert CapacityInstance.model_validate(doc).products[0].min_lot_size in (11, 11.5)


@pytest.mark.parametrize(("edit", "match"), CASES)
def test_bad_input(edit, match: str) -> None:
    with pytest.raises(InstanceError, match=match):
        CapacityInstance.model_validate(bad(edit))


def test_ids_lose_the_spaces_at_either_end_as_in_csv_folders() -> None:
    doc = bad(lambda d: d["demand"][0].update(product=" A ", period="W1 "))
    assert CapacityInstance.model_validate(doc).demand[0].product == "A"


def test_bad_input_through_constructor() -> None:
    doc = bad(lambda d: d["demand"][1].update(product="Z"))
    with pytest.raises(InstanceError, match="unknown product 'Z'") as info:
        CapacityInstance(**doc)
    assert info.value.field == "demand[1].product"


def test_bad_solver_choice() -> None:
    with pytest.raises(InstanceError, match=r"params\.solver 'cpsat' is not available"):
        solve(CapacityInstance.model_validate(base()), SolveParams(solver="cpsat"))
    with pytest.raises(InstanceError, match=r"params\.method 'dp' is not available"):
        solve(CapacityInstance.model_validate(base()), SolveParams(method="dp"))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "Z"]),
            st.sampled_from(["key", "spot", "vip"]),
            st.sampled_from(["W1", "W2", "W9"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_small_demand_is_checked_in_python_as_the_arrays_check_it(rows) -> None:
    """Up to PLAIN_DEMAND_ROWS the demand's references and repeated triples are checked in
    plain Python (`optim validate` imports no numpy); larger tables by demand_arrays. Both
    refuse the same rows with the same message and field."""
    from unittest import mock

    import optim.instances.capacity as capacity

    doc = base()
    doc["demand"] = [
        {"product": p, "segment": s, "period": t, "quantity": 1.0} for p, s, t in rows
    ]

    def outcome(limit: int) -> tuple[str, str | None] | None:
        with mock.patch.object(capacity, "PLAIN_DEMAND_ROWS", limit):
            try:
                CapacityInstance.model_validate(doc)
            except InstanceError as exc:
                return str(exc), exc.field
        return None

    assert outcome(10**9) == outcome(0)
