"""The result tables built from arrays (no groupby or merge) against pandas references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import optim
from optim.instances.generators.rationing import random_rationing

CASES = [
    {},
    {"tiers": 4, "rules": ("equal", "proportional", "weighted", "equal"), "weighted": True},
    {"n_lines": 3, "tiers": 3},  # segments without lines
    {"n_lines": 400, "n_items": 30, "integer_quantities": False, "max_share": 0.2},
]


def _reference_segments(inst, lines: pd.DataFrame) -> pd.DataFrame:
    """The segments table as the pandas groupby/merge/sort it replaced computes it."""
    seg = (
        lines.groupby("segment", sort=False)
        .agg(
            lines=("demand_id", "size"),
            requested=("requested", "sum"),
            allocated=("allocated", "sum"),
        )
        .reset_index()
    )
    seg = inst.segments.rename(columns={"name": "segment"}).merge(seg, on="segment", how="left")
    seg[["lines"]] = seg[["lines"]].fillna(0).astype(np.int64)
    seg[["requested", "allocated"]] = seg[["requested", "allocated"]].fillna(0.0)
    seg["fill_rate"] = np.where(
        seg["requested"] > 0,
        seg["allocated"] / seg["requested"].where(seg["requested"] > 0, 1.0),
        np.nan,
    )
    return seg.sort_values(["tier", "segment"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_segments_table_equals_the_groupby_reference(case):
    inst = random_rationing(case, **CASES[case])
    res = optim.solve(inst)
    got = res.tables["segments"]
    lines = res.tables["lines"]
    want = _reference_segments(inst, lines)
    # pandas sums with compensation, the table with math.fsum (correctly rounded): equal to
    # the last bits, and exactly fsum of the lines table
    pd.testing.assert_frame_equal(got, want, rtol=1e-14)
    for rec in got.itertuples():
        mine = lines[lines["segment"] == rec.segment]
        assert rec.lines == len(mine)
        assert rec.requested == math.fsum(mine["requested"].tolist())
        assert rec.allocated == math.fsum(mine["allocated"].tolist())
    if case == 2:
        assert (got["lines"] == 0).any() and got["fill_rate"].isna().any()


def test_held_lower_names_only_the_line_its_locations_hold_back():
    # one tier, proportional: L1 may only use DC2 (2 units), L2 anywhere; the tier's level is
    # set by L2, and L1 is frozen lower by its location's stock
    doc = {
        "kind": "rationing",
        "supply": [
            {"item": "A", "location": "DC1", "quantity": 10},
            {"item": "A", "location": "DC2", "quantity": 2},
        ],
        "segments": [{"name": "s", "tier": 1}],
        "demand": [
            {"id": "L1", "customer": "c", "item": "A", "quantity": 10, "segment": "s",
             "locations": ["DC2"]},
            {"id": "L2", "customer": "d", "item": "A", "quantity": 20, "segment": "s"},
        ],
    }  # fmt: skip
    lines = optim.solve(optim.from_dict(doc)).tables["lines"].set_index("demand_id")
    assert lines.loc["L1", "allocated"] == 2
    assert "held lower" in lines.loc["L1", "explanation"]
    assert "held lower" not in lines.loc["L2", "explanation"]


def _equal_share_doc(**fields):
    """Three lines of one equal-share tier on 7 units: shares of 2.333333 each (no lot
    size) or 3, 2, 2 (lots of 1); a cap of 2,500,000 on a line that gets it in full."""
    return {
        "kind": "rationing",
        "supply": [
            {"item": "A", "location": "DC", "quantity": 7},
            {"item": "B", "location": "DC", "quantity": 3_000_000},
        ],
        "segments": [{"name": "s", "tier": 1, "fair_share": "equal"}],
        "demand": [
            {"id": f"L{k}", "customer": f"c{k}", "item": "A", "quantity": 5, "segment": "s"}
            for k in range(3)
        ]
        + [
            {"id": "big", "customer": "c9", "item": "B", "quantity": 2_600_000, "segment": "s",
             "max_quantity": 2_500_000, "min_quantity": 1_250_000},
        ],
        **fields,
    }  # fmt: skip


def test_explanations_count_in_the_instances_unit_with_the_tables_precision():
    """Issue 12 ("currency and units from plan.yaml", "quantities written with sensible
    precision"): the explanations said "units" whatever the planner counts in, and wrote
    quantities to six significant digits ("2.5e+06"). The instance's ``unit`` names the
    count; quantities are written as the tables write them."""
    plain = optim.solve(optim.from_dict(_equal_share_doc())).tables["lines"]
    reasons = dict(zip(plain["demand_id"], plain["explanation"], strict=True))
    assert reasons["L0"] == "tier 1, equal share: 2.333333 units of the stock at DC left"
    assert reasons["big"] == (
        "tier 1: served up to its max_quantity 2500000; contractual minimum 1250000 "
        "guaranteed first"
    )
    inst = optim.from_dict(_equal_share_doc(unit="boxes"))
    assert inst.unit == "boxes" and inst.to_dict()["unit"] == "boxes"
    assert "unit" not in optim.from_dict(_equal_share_doc()).to_dict()  # the default: unsaid
    boxes = optim.solve(inst).tables["lines"]
    assert boxes["explanation"].tolist() == [
        r.replace(" units ", " boxes ") for r in plain["explanation"]
    ]
    whole = _equal_share_doc(unit="boxes")
    whole["demand"][0]["quantity"] = 1  # served in full: 6 left for two lines, 3 each
    one = optim.solve(optim.from_dict(whole)).tables["lines"]["explanation"].tolist()
    assert one[1] == "tier 1, equal share: 3 boxes of the stock at DC left"
    for bad in ("", 3, None):
        with pytest.raises(optim.InstanceError):
            optim.from_dict(_equal_share_doc(unit=bad))
