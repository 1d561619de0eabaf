"""The small-document path (plain Python checks) builds the full validator's tables or steps
aside: on generated documents it answers with equal frames, and on mutated ones it never
accepts what the full validator refuses."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import optim
from optim.errors import InstanceError
from optim.instances.generators.rationing import random_rationing
from optim.instances.rationing import _validated
from optim.instances.rationing_small import MAX_ROWS, plain_tables

KNOBS = [
    {},
    {"min_share": 0.3, "max_share": 0.3, "default_locations_share": 0.5},
    {"weighted": True, "lot_share": 0.3, "aon_share": 0.2, "tiers": 2,
     "rules": ("weighted", "equal")},
    {"n_lines": 300, "n_items": 40, "integer_quantities": False, "max_share": 0.2},
]  # fmt: skip
WEEKLY = optim.load_example("weekly_rationing").to_dict()


def _same(fast: dict[str, pd.DataFrame], doc: dict) -> None:
    full = _validated(doc)
    assert list(fast) == list(full)
    for name, frame in full.items():
        pd.testing.assert_frame_equal(fast[name], frame, check_exact=True)


@pytest.mark.parametrize("knobs", KNOBS)
def test_generated_documents_give_the_full_validators_tables(knobs):
    doc = random_rationing(len(str(knobs)), **knobs).to_dict()
    fast = plain_tables(doc)
    assert fast is not None
    _same(fast, doc)


def test_steps_aside_for_lanes_previous_and_large_documents():
    assert plain_tables(WEEKLY) is not None
    lanes = {**WEEKLY, "lanes": [{"location": "DC1", "customer": "Acme", "cost": 1.0}]}
    assert plain_tables(lanes) is None
    big = random_rationing(1, n_lines=MAX_ROWS, n_items=50).to_dict()
    assert plain_tables(big) is None


VALUES = [
    None, "", "  ", " DC1 ", "DC1", "DC2", "WIDGET", "strategic", "equal", "weighted", "other",
    0, 1, 2, 3, 4, -1, 0.5, 1.5, 2.0, 1e12, 1.0000001e12, 1e13, 10**400, True, False, "5",
    math.nan, math.inf, -math.inf, [], ["DC1"], ["DC1", "DC1"], ["DC2", "DC1"], ["XX"], [1],
    {"a": 1}, ("DC1",),
]  # fmt: skip
FIELDS = {
    "supply": ["item", "location", "quantity", "extra"],
    "demand": [
        "id", "customer", "item", "quantity", "segment", "locations", "min_quantity",
        "max_quantity", "weight", "all_or_nothing", "lot_size", "extra",
    ],
    "segments": ["name", "tier", "fair_share", "extra"],
}  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    doc = copy.deepcopy(WEEKLY)
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(sorted(FIELDS)))
        rows = doc[table]
        if not isinstance(rows, list) or not rows:
            continue
        i = draw(st.integers(0, len(rows) - 1))
        how = draw(st.sampled_from(["set", "set", "set", "drop", "copy", "swap"]))
        if how in ("set", "drop") and not isinstance(rows[i], dict):
            continue
        if how == "set":
            rows[i][draw(st.sampled_from(FIELDS[table]))] = draw(st.sampled_from(VALUES))
        elif how == "drop":
            rows[i].pop(draw(st.sampled_from(FIELDS[table])), None)
        elif how == "copy":
            rows.append(copy.deepcopy(rows[i]))
        else:  # a record that is not an object, or a table that is not a list
            if draw(st.booleans()):
                rows[i] = draw(st.sampled_from(VALUES))
            else:
                doc[table] = draw(st.sampled_from([None, {}, "x", []]))
    return doc


@given(mutated())
def test_mutated_documents_never_accepted_where_the_full_validator_refuses(doc):
    fast = plain_tables(doc)
    try:
        _validated(doc)
    except Exception:  # the full validator's InstanceError (or any failure): fast steps aside
        assert fast is None
    else:
        if fast is not None:
            _same(fast, doc)


def test_a_huge_tier_is_a_gap_not_a_huge_set():
    # the gap check once built set(range(1, tier + 1)): tier 1e12 exhausted the memory
    doc = copy.deepcopy(WEEKLY)
    doc["segments"][2]["tier"] = 10**12
    assert plain_tables(doc) is None
    with pytest.raises(InstanceError, match="no segment has tier 3"):
        optim.from_dict(doc)


def test_a_minimum_over_a_tiny_lot_is_left_to_the_full_validator(tmp_path):
    """min_quantity 50 over a lot of 1e-307: the ratio overflows to infinity, and Python's
    round() raised OverflowError — `optim validate` and `optim solve` ended "internal error",
    exit 1 (second review). The plain check now steps aside and the full validator decides."""
    import json

    from optim.cli import main
    from optim.instances.rationing_small import plain_sizes

    doc = copy.deepcopy(WEEKLY)
    doc["demand"][0].update(min_quantity=50, lot_size=1e-307)
    assert plain_sizes(doc) is None
    path = tmp_path / "week.json"
    path.write_text(json.dumps(doc))
    assert main(["validate", str(path)]) in (0, 2)
