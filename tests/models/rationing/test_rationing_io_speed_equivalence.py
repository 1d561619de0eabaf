"""The vectorised I/O path (load, tables, explanations, JSON) gives the per-row answers.

Each fast piece is checked against a plain per-row reference written here: the result
document against ``json.dumps`` of per-cell ``_clean`` records, the 12-digit rounding against
``float(f"{v:.12g}")``, the explanation pieces against per-line joins, and the CSV reader
against ``from_frames``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optim
from optim.instances import tables as T
from optim.instances.generators.rationing import random_rationing, rationing_frames
from optim.instances.rationing import RationingInstance
from optim.models.rationing.arrays import prepare
from optim.models.rationing.solve import _eligible, _fmt
from optim.precision import column_kind, json_value, round_significant
from optim.result import Result, _clean
from optim.status import Status

KNOBS = [
    {},
    {"min_share": 0.3, "max_share": 0.3, "lanes": True, "default_locations_share": 0.3},
    {"weighted": True, "lot_share": 0.3, "aon_share": 0.2, "min_share": 0.2},
    {
        "n_items": 20,
        "n_locations": 5,
        "n_customers": 30,
        "n_lines": 300,
        "max_share": 0.2,
        "integer_quantities": False,
        "default_locations_share": 0.5,
    },
]


def _reference_records(frame: pd.DataFrame) -> list[dict]:
    """The result records cell by cell: float columns by the precision rule of their name
    (per value, :func:`optim.precision.json_value`), other cells by ``_clean``."""
    cols = list(frame.columns)
    if not cols:  # itertuples yields nothing for a frame without columns (pandas 2)
        return [{} for _ in range(len(frame))]
    kinds = [column_kind(c, frame[c]) if frame[c].dtype.kind == "f" else None for c in cols]
    return [
        {
            c: _clean(v) if kind is None else json_value(float(v), kind)
            for c, kind, v in zip(cols, kinds, row, strict=True)
        }
        for row in frame.itertuples(index=False, name=None)
    ]


def _reference_document(res: Result) -> dict:
    doc = res._head(False)
    for name, frame in res.tables.items():
        doc[name] = _reference_records(frame)
    return doc


# no stock at the only eligible location, a weighted tier with a minimum, a capped line
ODD = {
    "kind": "rationing",
    "supply": [
        {"item": "A", "location": "DC1", "quantity": 0},
        {"item": "A", "location": "DC2", "quantity": 5},
        {"item": "B", "location": "DC2", "quantity": 1},
    ],
    "segments": [
        {"name": "s", "tier": 1},
        {"name": "t", "tier": 2, "fair_share": "weighted"},
        {"name": "u", "tier": 3},
    ],
    "demand": [
        {
            "id": "a",
            "customer": "c",
            "item": "A",
            "quantity": 3,
            "segment": "s",
            "locations": ["DC1"],
        },
        {
            "id": "b",
            "customer": "c",
            "item": "B",
            "quantity": 3,
            "segment": "s",
            "locations": ["DC1"],
        },
        {
            "id": "c",
            "customer": "c",
            "item": "A",
            "quantity": 9,
            "segment": "t",
            "weight": 2,
            "min_quantity": 2,
        },
        {
            "id": "d",
            "customer": "d",
            "item": "A",
            "quantity": 9,
            "segment": "u",
            "max_quantity": 4,
        },
    ],
}


@pytest.fixture(scope="module")
def solved() -> list[tuple[RationingInstance, Result]]:
    out = [optim.load_example("weekly_rationing"), optim.from_dict(ODD)]
    out += [random_rationing(seed, **kw) for seed, kw in enumerate(KNOBS)]
    return [(inst, optim.solve(inst)) for inst in out]


def test_json_document_reads_back_as_the_per_row_document(solved):
    for _inst, res in solved:
        text = res.to_json()
        assert text == res.to_json()  # deterministic bytes
        ref = _reference_document(res)
        assert json.loads(text) == ref
        assert res.to_dict() == ref
        assert text.endswith("}\n")


def _awkward_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": [18.75, 0.1, np.nan, np.inf, -np.inf, -0.0, 1 / 3, 0.1 + 0.2],
            "i": np.arange(8, dtype=np.int32),
            "b": [True, False] * 4,
            "s": ["a", 'q"uote', "é ü", None, "x", np.nan, "tab\t", "a"],
            "o": [[1, 2.5], {"k": np.float64(1.0)}, None, "s", 3, np.int64(4), np.nan, True],
            "str": pd.Series(["x", None, "y", "z", "x", "x", "y", "w"], dtype="str"),
            "cat": pd.Categorical(["u", "v", "u", None, "u", "v", "u", "v"]),
            "n": pd.array([1, 2, 3, 4, 5, 6, 7, 8], dtype="Int64"),
        }
    )


def test_json_of_awkward_columns():
    frame = _awkward_frame()
    res = Result(
        kind="rationing",
        status=Status.OPTIMAL,
        objective=np.float64(2.0),
        tables={"t": frame, "empty": frame.iloc[:0], "nocols": pd.DataFrame(index=range(2))},
        info={"x": 0.1, "nested": {"y": [np.float32(0.5), np.nan]}},
    )
    ref = _reference_document(res)
    assert res.to_dict() == ref
    assert json.loads(res.to_json()) == ref
    rows = json.loads(res.to_json())["t"]
    assert rows[0]["f"] == 18.75 and rows[1]["f"] == 0.1 and rows[2]["f"] is None
    assert rows[3]["f"] == "inf" and math.copysign(1, rows[5]["f"]) == -1
    assert rows[6]["f"] == 0.3333333333  # ten significant digits (a float column)
    assert rows[7]["f"] == 0.3  # float noise rounded away


SPECIAL = [
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e-12,
    1e-11,
    0.1,
    0.375,
    18.75,
    1.0,
    10.0,
    99999999999.95,
    999999999999.5,
    1e11,
    1e12,
    1e22,
    1e23,
    1.7976931348623157e308,
    2.5,
    0.30000000000000004,
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=200))
def test_round_significant_is_float_of_12g(values):
    x = np.array(values + SPECIAL + [-v for v in SPECIAL], dtype=np.float64)
    got = round_significant(x)
    ref = np.array([float(f"{v:.12g}") for v in x.tolist()])
    assert np.array_equal(got.view(np.int64)[~np.isnan(ref)], ref.view(np.int64)[~np.isnan(ref)])
    assert np.array_equal(np.isnan(got), np.isnan(ref))


def test_round_significant_on_many_scales():
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.random(20_000) * 10.0 ** rng.integers(-25, 25, 20_000),
            (rng.integers(0, 10**13, 20_000) + 0.5) / 10.0 ** rng.integers(0, 16, 20_000),
            np.round(rng.random(20_000) * 1e4, 3),
            10.0 ** np.arange(-30, 30) * (1 + 2.0**-52),
            10.0 ** np.arange(-30, 30) * (1 - 2.0**-52),
        ]
    )
    ref = np.array([float(f"{v:.12g}") for v in x.tolist()])
    assert np.array_equal(round_significant(x).view(np.int64), ref.view(np.int64))


def test_explanation_pieces_match_per_line_reference(solved):
    for inst, _res in solved:
        p = prepare(inst)
        mask = np.arange(p.num_lines) % 3 != 1
        got = _eligible(p, mask)
        names = pd.Series(p.location_names[p.cell_location[p.arc_cell]])
        joined = names.groupby(p.arc_line, sort=False).agg(", ".join)
        for i in range(p.num_lines):
            want = joined.get(i, "") if mask[i] else ""
            assert got[i] == want
        vals = np.concatenate([p.request, p.cap / 7, [np.nan, -0.0, 0.0, 1e-7, 123456789.0]])
        assert _fmt(vals).tolist() == [f"{v:.6g}" for v in vals]


def test_csv_folder_reads_like_frames(tmp_path):
    frames = rationing_frames(
        4, n_items=30, n_locations=6, n_customers=40, n_lines=2500, default_locations_share=0.3
    )
    rng = np.random.default_rng(0)
    styles = [
        ";".join,
        lambda v: " ; ".join(v),
        lambda v: ";".join(v) + ";",
        lambda v: ";;".join(v),
        lambda v: "\t" + ";".join(v),
    ]
    cells = [
        "" if v is None else styles[k](v)
        for v, k in zip(frames["demand"]["locations"], rng.integers(0, 5, 2500), strict=True)
    ]
    dem = frames["demand"].copy()
    dem["locations"] = cells
    dem["customer"] = np.where(rng.random(2500) < 0.1, " ", "") + dem["customer"]
    dem["all_or_nothing"] = rng.choice(["yes", "no", "", "TRUE", "0"], 2500)
    for name, frame in (
        ("supply", frames["supply"]),
        ("segments", frames["segments"]),
        ("demand", dem),
    ):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    got = optim.load(tmp_path)
    frames["demand"]["customer"] = frames["demand"]["customer"]
    frames["demand"]["all_or_nothing"] = pd.Series(dem["all_or_nothing"]).replace("", None)
    want = RationingInstance.from_frames(**frames)
    assert got.demand["locations"].tolist() == want.demand["locations"].tolist()
    assert all(v is None or type(v) is tuple for v in got.demand["locations"])
    assert got.demand["customer"].tolist() == want.demand["customer"].tolist()
    assert got.demand["all_or_nothing"].tolist() == [
        v in ("yes", "TRUE") for v in dem["all_or_nothing"]
    ]
    assert got.to_dict() == want.to_dict()


def _doc(locations: list) -> dict:
    return {
        "supply": [
            {"item": "A", "location": "DC1", "quantity": 5},
            {"item": "A", "location": "DC2", "quantity": 5},
        ],
        "segments": [{"name": "s", "tier": 1}],
        "demand": [
            {
                "id": f"d{i}",
                "customer": "c",
                "item": "A",
                "quantity": 1,
                "segment": "s",
                "locations": loc,
            }
            for i, loc in enumerate(locations)
        ],
    }


@pytest.mark.parametrize(
    ("locations", "fragment"),
    [
        (
            [["DC1"], ["DC1", "DC1"], ["DC9"]],
            "demand[1] (id 'd1'): locations lists a location twice",
        ),
        ([["DC1"], ["DC9"], ["DC1", "DC1"]], "demand[1] (id 'd1'): locations entry 'DC9'"),
        ([None, [], "DC1"], "demand[1] (id 'd1'): locations is empty"),
        ([None, ["DC1"], "DC1"], "demand[2] (id 'd2'): locations must be a list"),
        ([["DC9", "DC9"]], "demand[0] (id 'd0'): locations lists a location twice"),
    ],
)
def test_first_bad_locations_row_wins(locations, fragment):
    with pytest.raises(optim.InstanceError) as err:
        RationingInstance.model_validate(_doc(locations))
    assert fragment in str(err.value)


def test_locations_normalised_to_tuples_of_str():
    inst = RationingInstance.model_validate(
        _doc([np.array(["DC2", "DC1"]), ("DC1",), None, ["DC2"]])
    )
    cells = inst.demand["locations"].tolist()
    assert cells == [("DC2", "DC1"), ("DC1",), None, ("DC2",)]
    assert all(type(x) is str for c in cells if c for x in c)


def test_bool_and_id_columns_vectorised_like_per_cell():
    frame = pd.DataFrame({"b": ["yes", " No ", True, None, 1, 0, np.nan, "1"]})
    got = T.bool_column(frame, "t", "b", id_col=None, default=True).tolist()
    assert got == [True, False, True, True, True, False, True, True]
    words = pd.DataFrame({"b": ["true", None, "FALSE"] * 400})
    assert (
        T.bool_column(words, "t", "b", id_col=None, default=False).tolist()
        == [True, False, False] * 400
    )
    with pytest.raises(optim.InstanceError, match=r"t\[2\]: b must be true or false"):
        T.bool_column(pd.DataFrame({"b": [0, 1, 2]}), "t", "b", id_col=None, default=False)
    with pytest.raises(optim.InstanceError, match=r"t\[0\]: b must be true or false"):  # only NaN
        T.bool_column(pd.DataFrame({"b": [1.0, np.nan]}), "t", "b", id_col=None, default=False)
    ids = pd.DataFrame({"x": [" a", "b ", 7] * 500})
    assert T.id_column(ids, "t", "x").tolist() == ["a", "b", "7"] * 500
    with pytest.raises(optim.InstanceError, match=r"t\[4\]: x must be a non-empty string id"):
        T.id_column(pd.DataFrame({"x": ["a", "b", "c", "d", True]}), "t", "x")
    with pytest.raises(optim.InstanceError, match=r"t\[1\]: q must be a number, got True"):
        T.number_column(pd.DataFrame({"q": [1.0, True]}), "t", "q", id_col=None)


def test_csv_tables_bytes_unchanged(tmp_path):
    x = np.r_[np.nan, np.inf, -np.inf, -0.0, 1e-20, 1 / 3, 18.75, np.arange(3000) / 7]
    frame = pd.DataFrame({"q": x, "s": ["a,b"] * len(x), "i": np.arange(len(x))})
    Result(kind="rationing", status=Status.OPTIMAL, tables={"t": frame}).write_tables(tmp_path)
    want = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    assert (tmp_path / "t.csv").read_text() == want


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(" ab", max_size=3),
    st.lists(st.text("ab", max_size=2), max_size=2),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id", "q", "x", "loc"]), _cells), max_size=12))
def test_records_frame_is_pandas_from_records(records):
    """to_frame gathers the columns itself; the frame is pandas' own from_records."""
    got = T.to_frame(records, "t", ["id", "q", "x", "loc"])
    want = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    pd.testing.assert_frame_equal(got, want)


def test_unique_id_column_stripped_like_pandas():
    """The fast path for columns of distinct str ids (each stripped once, no factorising)."""
    values = [f"{' ' * (i % 3)}L{i}{' ' * (i % 2)}" for i in range(3000)]
    for column in (values, [*values[:1500], 7, *values[1501:]]):  # str only, then an int
        series = pd.Series(column, dtype=object, name="id")
        got = T._stripped(series)
        want = series.astype(str).str.strip()
        pd.testing.assert_series_equal(got, want)
        assert all(type(v) is str for v in got)


def test_locations_kinds_decided_per_type():
    from optim.instances.rationing import _sequence_kinds

    values = np.empty(8, dtype=object)
    values[:] = [["a"], ("a",), np.array(["a"]), "a", None, np.nan, 3, []]
    assert _sequence_kinds(values).tolist() == [1, 1, 2, 0, 0, 0, 0, 1]
    assert _sequence_kinds(np.empty(0, dtype=object)).tolist() == []


def test_small_tables_write_the_merged_writers_bytes(solved, monkeypatch):
    """Tables up to ``_SMALL_TABLE`` rows are joined row by row: the merged writer's text."""
    from optim import result as result_mod

    frame = _awkward_frame()
    tables = {
        "t": frame,
        "empty": frame.iloc[:0],
        "dup": pd.DataFrame([[1, 2.5], [3, 4.5]], columns=["x", "x"]),  # repeated names
        "nocols": pd.DataFrame(index=range(2)),
    }
    results = [res for _inst, res in solved]
    results += [optim.solve(optim.load_example(name)) for name in optim.examples()]
    results.append(Result(kind="rationing", status=Status.OPTIMAL, objective=1.0, tables=tables))
    assert any(len(f) <= result_mod._SMALL_TABLE for r in results for f in r.tables.values())
    small = [r.to_json() for r in results]
    monkeypatch.setattr(result_mod, "_SMALL_TABLE", 0)  # every table by the merged writer
    assert [r.to_json() for r in results] == small
