"""The split run of a CSV folder (:mod:`optim.split`): the result tables are
byte for byte those of the one-process run, and bad input gets the one-process message.

Blocks are made tiny (``engine.BLOCK_SIZE``) so that a CI-sized week is cut into many pieces;
the pieces run in this process (the patched block size does not reach spawned workers). The
loopback Dask run of 10^5 lines is in ``tests/test_executor.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optim
from optim import clock, split
from optim.errors import InstanceError
from optim.instances.generators.rationing import (
    previous_allocation,
    rationing_frames,
    write_csv_folder,
)
from optim.models.rationing import engine
from optim.params import SolveParams

TABLES = ("allocations", "lines", "segments", "unallocated")


def _week(lines: int, seed: int = 3) -> dict[str, pd.DataFrame]:
    frames = rationing_frames(
        seed,
        n_items=lines // 5,
        n_locations=4,
        n_customers=lines // 20,
        n_lines=lines,
        lanes=True,
        lot_share=0.05,
        min_share=0.1,
        max_share=0.1,
        weighted=True,
        default_locations_share=0.2,
    )
    sup, dem = frames["supply"], frames["demand"]
    # a line whose listed location does not stock its item (no eligible stock: its item's
    # supply rows sit in another piece) and an item nobody asks for
    places = sup.groupby("item")["location"].nunique()
    item = places.index[places < 4][0]
    missing = sorted(set(sup["location"]) - set(sup.loc[sup["item"] == item, "location"]))
    extra = dem.iloc[[0]].assign(id="NOSTOCK", item=item, locations=[[missing[0]]])
    frames["demand"] = pd.concat(
        [dem.iloc[: lines // 2], extra, dem.iloc[lines // 2 :]], ignore_index=True
    )
    frames["supply"] = pd.concat(
        [sup, pd.DataFrame({"item": ["UNASKED"], "location": ["DC01"], "quantity": [5.0]})]
    )
    return frames


def _one_process(folder: Path, out: Path, params: SolveParams) -> dict:
    res = optim.solve(optim.load(folder), params)
    res.write_tables(out)
    return {k: v for k, v in res.to_dict().items() if k not in res.tables}


def _same_as_one_process(tmp_path: Path, params: SolveParams | None = None, **kw) -> None:
    """The split run of ``tmp_path/in`` writes the one-process run's tables and result."""
    params = params or SolveParams()
    head = _one_process(tmp_path / "in", tmp_path / "one", params)
    res = split.solve_folder(tmp_path / "in", tmp_path / "split", params, **kw)
    assert res.to_dict() == head
    for name in TABLES:
        one = (tmp_path / "one" / f"{name}.csv").read_bytes()
        assert (tmp_path / "split" / f"{name}.csv").read_bytes() == one, name


@pytest.mark.parametrize(("method", "lines"), [("auto", 1500), ("lp", 600)])
def test_split_run_writes_the_one_process_tables(
    tmp_path, monkeypatch, split_pieces, method, lines
) -> None:
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    write_csv_folder(_week(lines), tmp_path / "in")
    params = SolveParams(method=method)
    _same_as_one_process(tmp_path, params, piece_lines=150, chunk_rows=170)
    assert split_pieces[0] >= 4  # really split
    assert not list(tmp_path.glob(".split-*"))  # scratch removed


def _message(folder: Path) -> tuple[str, str | None]:
    with pytest.raises(InstanceError) as one:
        optim.load(folder)
    return str(one.value), one.value.field


@pytest.mark.parametrize(
    "spoil",
    [
        "quantity",  # a bad number in a late piece: its row number in the whole table
        "unknown item",
        "duplicate id",  # in two different pieces
        "duplicate cell",
        "unknown location",  # known nowhere (the piece also learns every real location)
        "header ID",  # an unknown field, not a missing 'id' (r12c's review)
        "supply header",
    ],
)
def test_split_run_names_bad_input_as_the_one_process_run(tmp_path, monkeypatch, spoil) -> None:
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    frames = _week(600)
    dem, sup = frames["demand"].astype({"quantity": object}), frames["supply"]
    row = 530
    if spoil == "quantity":
        dem.iloc[row, dem.columns.get_loc("quantity")] = "x"
    elif spoil == "unknown item":
        dem.iloc[row, dem.columns.get_loc("item")] = "NO-SUCH-ITEM"
    elif spoil == "duplicate id":
        dem.iloc[row, dem.columns.get_loc("id")] = dem["id"].iloc[3]
    elif spoil == "duplicate cell":
        sup = pd.concat([sup, sup.iloc[[7]]])
    elif spoil == "header ID":
        dem = dem.rename(columns={"id": "ID"})
    elif spoil == "supply header":
        sup = sup.rename(columns={"quantity": "qty"})
    else:
        dem.at[row, "locations"] = ["DC01", "NOWHERE"]
    write_csv_folder(frames | {"demand": dem, "supply": sup}, tmp_path / "in")
    want = _message(tmp_path / "in")
    with pytest.raises(InstanceError) as got:
        split.solve_folder(tmp_path / "in", tmp_path / "split", piece_lines=100)
    assert (str(got.value), got.value.field) == want


def test_split_run_shows_a_number_as_written_as_the_one_process_run(tmp_path, monkeypatch):
    """A bad number is shown as written in the file: pandas typed the whole column by all
    its cells (a 1.5 in line 7 made -40 the one-process run's -40.0) and a piece's column by
    the piece's (-40 there)."""
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    frames = _week(600)
    dem = frames["demand"].astype({"quantity": int}).astype({"quantity": object})
    dem.iloc[5, dem.columns.get_loc("quantity")] = 1.5
    dem.iloc[530, dem.columns.get_loc("quantity")] = -40
    write_csv_folder(frames | {"demand": dem}, tmp_path / "in")
    want = _message(tmp_path / "in")
    assert want[0].endswith("quantity must be > 0, got -40"), want
    with pytest.raises(InstanceError) as got:
        split.solve_folder(tmp_path / "in", tmp_path / "split", piece_lines=100)
    assert (str(got.value), got.value.field) == want


def _with_previous(frames: dict[str, pd.DataFrame], share: float = 0.4) -> dict:
    return frames | {"previous": previous_allocation(frames, share)}


def test_split_run_with_a_previous_allocation_writes_the_one_process_tables(
    tmp_path, monkeypatch, split_pieces
) -> None:
    """previous.csv couples nothing (a row only values an arc its line has): its rows go
    with their lines' pieces. previous.csv switches stability on, so the change against them
    decides the routing, and rows lost or misplaced on the way to the pieces would change
    the bytes."""
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    write_csv_folder(_with_previous(_week(1500)), tmp_path / "in")
    assert optim.load(tmp_path / "in").stability
    _same_as_one_process(tmp_path, piece_lines=150, chunk_rows=170)
    assert split_pieces[0] >= 4
    # the previous allocation moved the routing: the test sees it
    plain = optim.solve(optim.load(tmp_path / "in").model_copy(update={"stability": False}))
    plain.write_tables(tmp_path / "plain")
    assert (tmp_path / "plain" / "allocations.csv").read_bytes() != (
        tmp_path / "one" / "allocations.csv"
    ).read_bytes()


@pytest.mark.parametrize("on_arc", [True, False])
def test_split_run_takes_the_unit_of_a_large_previous_quantity_as_one_process(
    tmp_path, monkeypatch, on_arc
) -> None:
    """A previous quantity above 1e9 sets the unit of the whole run when it is on an arc
    (``unit_exponent``), and not otherwise: the split run asks the pieces."""
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    frames = _week(600)
    dem, sup = frames["demand"], frames["supply"]
    line = dem.iloc[400]
    stocked = set(sup.loc[sup["item"] == line["item"], "location"])
    listed = line["locations"] if isinstance(line["locations"], list) else sorted(stocked)
    places = sorted(stocked & set(listed)) if on_arc else sorted(set(sup["location"]) - stocked)
    big = pd.DataFrame({"demand_id": [line["id"]], "location": [places[0]], "quantity": [5e9]})
    frames["previous"] = pd.concat([_with_previous(frames, 0.1)["previous"], big])
    write_csv_folder(frames, tmp_path / "in")
    _same_as_one_process(tmp_path, piece_lines=100)


def test_split_run_matches_previous_rows_on_the_ids_where_hashes_collide(
    tmp_path, monkeypatch
) -> None:
    """Demand ids are held as 64-bit hashes; where several ids share one, previous rows are
    matched on the ids themselves. A hash with three values makes every id collide."""
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    monkeypatch.setattr(split, "_hash", lambda ids: np.array([len(i) % 3 for i in ids], "u8"))
    frames = _with_previous(_week(600))
    write_csv_folder(frames, tmp_path / "in")
    _same_as_one_process(tmp_path, piece_lines=100)
    prev = frames["previous"].astype(object)
    prev.iat[7, 0] = "NO-SUCH-LINE"
    write_csv_folder(frames | {"previous": prev}, tmp_path / "bad")
    with pytest.raises(InstanceError) as got:
        split.solve_folder(tmp_path / "bad", tmp_path / "split2", piece_lines=100)
    assert (str(got.value), got.value.field) == _message(tmp_path / "bad")


@pytest.mark.parametrize(
    "spoil",
    [
        "unknown demand id",  # named by the client, with the whole run's known ids
        "no demand id",  # piece 0 names it
        "unknown location",
        "quantity",  # a bad number in a late piece: its row in the whole previous table
        "negative",
        "duplicate pair",
        "too large",
    ],
)
def test_split_run_names_a_bad_previous_allocation_as_the_one_process_run(
    tmp_path, monkeypatch, spoil
) -> None:
    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    frames = _with_previous(_week(600))
    prev = frames["previous"].astype(object).reset_index(drop=True)
    row = len(prev) - 5
    col = {"quantity": "quantity", "negative": "quantity", "too large": "quantity"}
    value = {
        "unknown demand id": "NO-SUCH-LINE",
        "no demand id": np.nan,
        "unknown location": "NOWHERE",
        "quantity": "x",
        "negative": -1.0,
        "too large": 2e12,
    }
    if spoil == "duplicate pair":
        prev = pd.concat([prev, prev.iloc[[3]]], ignore_index=True)
    else:
        field = col.get(spoil, "location" if spoil == "unknown location" else "demand_id")
        prev.at[row, field] = value[spoil]
    write_csv_folder(frames | {"previous": prev}, tmp_path / "in")
    want = _message(tmp_path / "in")
    with pytest.raises(InstanceError) as got:
        split.solve_folder(tmp_path / "in", tmp_path / "split", piece_lines=100)
    assert (str(got.value), got.value.field) == want


def test_split_run_stops_at_the_time_limit_without_tables(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, without the floor
    write_csv_folder(_week(300), tmp_path / "in")
    res = split.solve_folder(
        tmp_path / "in", tmp_path / "split", SolveParams(time_limit=1e-6), piece_lines=100
    )
    one = optim.solve(optim.load(tmp_path / "in"), time_limit=1e-6)
    assert res.status is one.status and res.message == one.message
    assert not list((tmp_path / "split").iterdir())


def test_cli_split_writes_the_tables_of_the_whole_run(tmp_path, monkeypatch) -> None:
    """``optim solve FOLDER --split --tables OUT``: the same CSV bytes as ``--tables`` of the
    whole run, an atomic folder with its manifest, and the head document from ``--out``."""
    import json

    from optim.cli import main

    monkeypatch.setattr(engine, "BLOCK_SIZE", 120)
    real, pieces = split._pieces, []

    def small_pieces(keys, piece_lines):  # the CLI's pieces of 200,000 lines, cut to 150
        out = real(keys, 150)
        pieces.append(len(out[2]))
        return out

    monkeypatch.setattr(split, "_pieces", small_pieces)
    write_csv_folder(_week(600), tmp_path / "in")
    src = str(tmp_path / "in")
    assert main(["solve", src, "--tables", str(tmp_path / "one"), "--quiet"]) == 0
    args = ["solve", src, "--split", "--tables", str(tmp_path / "two")]
    assert main([*args, "--out", str(tmp_path / "head.json"), "--quiet"]) == 0
    assert pieces and pieces[0] >= 2  # really split
    for name in TABLES:
        one = (tmp_path / "one" / f"{name}.csv").read_bytes()
        assert (tmp_path / "two" / f"{name}.csv").read_bytes() == one, name
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert "--split" in manifest["command"]
    head = json.loads((tmp_path / "head.json").read_text())
    assert head["status"] == "optimal"
    assert not head.get("tables")


def test_cli_split_needs_a_folder_and_csv_tables(tmp_path, capsys) -> None:
    """A JSON or YAML document is refused with what is allowed: documents pass the input
    gate only up to MAX_DOCUMENT_BYTES (about 10^6 order lines), which one process solves,
    so streaming them would add a parser for weeks that do not need the split."""
    from optim.cli import main
    from optim.instances import gate

    write_csv_folder(_week(100), tmp_path / "in")
    src, out = str(tmp_path / "in"), str(tmp_path / "out")
    assert main(["solve", src, "--split"]) == 2
    assert "give --tables DIR" in capsys.readouterr().err
    assert main(["solve", src, "--split", "--tables", out, "--format", "parquet"]) == 2
    assert "allowed: csv" in capsys.readouterr().err
    doc = tmp_path / "week.json"
    doc.write_text("{}")
    assert main(["solve", str(doc), "--split", "--tables", out]) == 2
    err = capsys.readouterr().err
    assert "takes a rationing CSV folder" in err and "segments.csv" in err
    assert f"at most {gate.MAX_DOCUMENT_BYTES // 2**20} MiB" in err and "without --split" in err
    assert not (tmp_path / "out").exists()


def test_cli_split_at_the_time_limit_commits_no_tables(tmp_path, capsys, monkeypatch) -> None:
    """A split run stopped by its time limit has no tables: the target folder is not
    written (never a folder that looks complete), the exit code says time limit."""
    from optim.cli import main
    from optim.status import Status

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, without the floor

    write_csv_folder(_week(100), tmp_path / "in")
    args = ["solve", str(tmp_path / "in"), "--split", "--tables", str(tmp_path / "t")]
    code = main([*args, "--time-limit", "1e-9"])
    assert code != 0 and not (tmp_path / "t").exists()
    assert Status.TIME_LIMIT.value in capsys.readouterr().err
