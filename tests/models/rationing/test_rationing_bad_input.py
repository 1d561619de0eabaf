"""Every class of bad input gets an InstanceError naming the field, the id and what is allowed."""

from __future__ import annotations

import copy
import json

import pytest

import optim
from optim.cli import main

BASE = {
    "kind": "rationing",
    "supply": [
        {"item": "A", "location": "DC1", "quantity": 10},
        {"item": "A", "location": "DC2", "quantity": 5},
    ],
    "segments": [
        {"name": "gold", "tier": 1},
        {"name": "silver", "tier": 2, "fair_share": "equal"},
    ],
    "demand": [
        {"id": "d1", "customer": "c1", "item": "A", "quantity": 8, "segment": "gold"},
        {
            "id": "d2",
            "customer": "c2",
            "item": "A",
            "quantity": 9,
            "segment": "silver",
            "locations": ["DC2"],
        },
    ],
}


def _with(path: str, value) -> dict:
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc


_DELETE = object()

CASES = [
    # (path, value, fragments the message must contain)
    ("demand.0.item", "B", ["demand[0]", "'d1'", "item 'B'", "known: A"]),
    ("demand.1.locations", ["DC9"], ["demand[1]", "'d2'", "'DC9'", "known: DC1, DC2"]),
    ("demand.1.segment", "bronze", ["demand[1]", "segment 'bronze'", "known: gold, silver"]),
    ("demand.1.id", "d1", ["demand[1]", "duplicate id", "'d1'"]),
    ("supply.1.location", "DC1", ["supply[1]", "duplicate (item, location)"]),
    ("demand.0.quantity", -5, ["demand[0]", "'d1'", "quantity must be > 0", "-5"]),
    ("demand.0.quantity", 0, ["quantity must be > 0"]),
    ("supply.0.quantity", -1, ["supply[0]", "quantity must be >= 0"]),
    ("demand.0.quantity", float("nan"), ["demand[0]", "quantity is required"]),
    ("demand.0.quantity", "lots", ["demand[0]", "quantity must be a number", "'lots'"]),
    ("demand.0.quantity", True, ["quantity must be a number"]),
    ("demand.0.min_quantity", 9, ["'d1'", "min_quantity 9 must be <= quantity 8"]),
    ("segments.1.tier", 3, ["tiers must be 1..K without gaps", "tier 2"]),
    ("segments.1.tier", 1.5, ["segments[1]", "tier must be a whole number"]),
    ("segments.1.fair_share", "random", ["fair_share must be one of", "'random'"]),
    ("demand.0.id", ["x"], ["demand[0]", "id must be a non-empty string id"]),
    ("demand.0.colour", "red", ["unknown field(s) 'colour'"]),
    ("demand.0.min_quantity", -1, ["min_quantity must be >= 0"]),
    ("demand.0.lot_size", 0, ["'d1'", "lot_size must be > 0"]),
    ("demand.1.locations", "DC2", ["locations must be a list"]),
    ("demand.1.locations", ["DC2", "DC2"], ["lists a location twice"]),
    ("demand", [], ["demand: at least one row is required"]),
    ("demand.0.all_or_nothing", "maybe", ["all_or_nothing must be true or false"]),
    ("kind", "rationingg", ["kind 'rationingg' is not known", "allowed:"]),
    ("segments", _DELETE, ["missing required table 'segments'"]),
]


@pytest.mark.parametrize(("path", "value", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_message(path, value, fragments):
    with pytest.raises(optim.InstanceError) as err:
        optim.from_dict(_with(path, value))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_same_tier_needs_same_rule():
    doc = _with("segments.1.tier", 1)
    with pytest.raises(optim.InstanceError, match="sharing tier 1 must share one fair_share"):
        optim.from_dict(doc)


def test_integer_rule_conflicts():
    doc = _with("demand.0.lot_size", 3)
    doc["demand"][0]["min_quantity"] = 4
    with pytest.raises(optim.InstanceError, match="not a multiple of lot_size 3"):
        optim.from_dict(doc)
    doc = _with("demand.0.all_or_nothing", True)
    doc["demand"][0]["min_quantity"] = 2
    with pytest.raises(optim.InstanceError, match="all_or_nothing with min_quantity"):
        optim.from_dict(doc)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("", "the file is empty"), ("{", "invalid JSON at line 1"), ("[1, 2]", "must be an object")],
)
def test_cli_bad_files_exit_2_and_write_nothing(tmp_path, capsys, content, fragment):
    path = tmp_path / "inst.json"
    path.write_text(content)
    out = tmp_path / "result.json"
    assert main(["solve", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1  # one message
    assert not out.exists()


def test_cli_invalid_instance_exit_2(tmp_path, capsys):
    path = tmp_path / "inst.json"
    path.write_text(json.dumps(_with("demand.0.item", "B")))
    assert main(["validate", str(path)]) == 2
    assert "demand[0] (id 'd1'): item 'B' is not a known item" in capsys.readouterr().err


def test_csv_folder_errors(tmp_path, capsys):
    folder = tmp_path / "week"
    folder.mkdir()
    (folder / "supply.csv").write_text("item,location,quantity\nA,DC1,10\n")
    (folder / "segments.csv").write_text("name,tier,fair_share\ngold,1,proportional\n")
    (folder / "demand.csv").write_text("")
    assert main(["validate", str(folder)]) == 2
    assert "demand.csv: is empty; allowed: a header line" in capsys.readouterr().err
    (folder / "demand.csv").write_text("id,customer,item,quantity,segment\nd1,c1,A,abc,gold\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err  # the file's line and column, not the row counted from 0
    assert (
        "demand.csv line 2, column quantity (id 'd1'): quantity must be a number, got 'abc'" in err
    )
    (folder / "demand.csv").write_text("id,customer,item,segment\nd1,c1,A,gold\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "demand.csv line 1, column quantity: missing required field 'quantity'" in err


def test_a_dataframe_with_a_column_twice_is_refused_by_name():
    """`RationingInstance.from_frames` with two quantity columns ended in pandas'
    AttributeError ('DataFrame' object has no attribute 'dtype')."""
    import pandas as pd

    from optim.instances.rationing import RationingInstance

    demand = pd.DataFrame(BASE["demand"])
    twice = pd.concat([demand, demand[["quantity"]]], axis=1)
    with pytest.raises(optim.InstanceError, match="column 'quantity' appears twice") as err:
        RationingInstance.from_frames(
            pd.DataFrame(BASE["supply"]), twice, pd.DataFrame(BASE["segments"])
        )
    assert err.value.field == "demand.quantity"


DEMAND = "id,customer,item,quantity,segment,locations\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [  # the folder's own pandas reading: a first row's extra cell made the first column the
        # index, every column shifted ("item '60' is not a known item"); a later row's gave
        # pandas' text with a line break; names 'quantity.1', 'Unnamed: 5'; pandas' quote text
        (
            DEMAND + "d1,c1,A,8,gold,DC1,5\nd2,c2,A,9,gold,\n",
            "demand.csv line 2: has more cells than its header's 6 (past them: '5'); allowed:",
        ),
        (
            DEMAND + "d1,c1,A,8,gold,DC1\n\nd2,c2,A,9,gold,,7\n",
            "demand.csv line 4: has more cells than its header's 6 (past them: '7'); allowed:",
        ),
        (
            "id,customer,item,quantity,segment,quantity\nd1,c1,A,8,gold,3\n",
            "demand.csv line 1, column quantity: column 'quantity' appears twice (columns 4 "
            "and 6); allowed: each column once.",
        ),
        (
            "id,customer,item,quantity,segment,\nd1,c1,A,8,gold,\n",
            "demand.csv line 1: column 6 of the header has no name; allowed: a name",
        ),
        (
            DEMAND + 'd1,c1,A,8,gold,DC1\nd2,"c2,A,9,gold,\n',
            "demand.csv line 3: cannot be read as CSV (Error tokenizing data. C error: EOF "
            "inside string starting at row 2); allowed: a closing quote for every opening one.",
        ),
        # a number as written, however pandas typed its column (a 1.5 elsewhere, a blank
        # line: -40.0); a line of commas is a blank line
        (DEMAND + "d1,c1,A,1.5,gold,DC1\nd2,c2,A,-40,gold,\n", "quantity must be > 0, got -40\n"),
        (DEMAND + "d1,c1,A,8,gold,DC1\n\n,,,,,\nd2,c2,A,-4e1,gold,\n", "line 5, column quantity"),
        (DEMAND + "d1,c1,A,8,gold,DC1\n\n,,,,,\nd2,c2,A,-4e1,gold,\n", "got -4e1\n"),
    ],
)
def test_csv_folder_files_pass_the_input_gate(tmp_path, capsys, text, words):
    """Rationing CSV files are read by the input gate, with the messages capacity folders
    get (the file, its line, the column, the value as written, what is allowed), in the
    whole run and in the split run alike."""
    folder = tmp_path / "week"
    folder.mkdir()
    (folder / "supply.csv").write_text("item,location,quantity\nA,DC1,10\n")
    (folder / "segments.csv").write_text("name,tier,fair_share\ngold,1,proportional\n")
    (folder / "demand.csv").write_text(text)
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Unnamed" not in err and "quantity.1" not in err
    assert err.count("\n") == 1  # one message line
    assert main(["solve", str(folder), "--split", "--tables", str(tmp_path / "t")]) == 2
    assert capsys.readouterr().err == err
