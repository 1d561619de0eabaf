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
