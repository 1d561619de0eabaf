"""A rationing CSV folder larger than one process can hold: streamed, split, solved by workers.

:func:`solve_folder` never holds the instance. It reads the folder in chunks of rows:

1. **keys** — supply's ``item`` / ``location`` and demand's ``id`` / ``item`` / ``locations``
   only: item and location codes per row, a 64-bit hash of each demand id, and per line its
   arcs (eligible stocked cells) counted and linked. The connected components of the
   line–cell graph and the engine's packing of them into blocks
   (:func:`optim.models.rationing.engine.blocks`) follow from these alone, so the whole
   instance's blocks are known before a quantity is read. Lines of different items never
   share a cell (no rule couples items: caps, minimums, lots are per line), so a component
   never spans items. ``previous.csv`` (last week's allocation): each row's demand line, by
   the hash of its ``demand_id``. A previous row only values an arc its line already has
   (its location's cell, when the line may draw on it), so it couples nothing and travels
   with its line.
2. **split** — consecutive blocks are grouped into *pieces* of about ``piece_lines`` lines;
   every row of ``supply.csv`` / ``demand.csv`` / ``previous.csv`` is appended to its
   piece's files (text, as read) in a scratch folder.
3. **solve** — each piece is read, validated and solved by a worker (:func:`optim.executor.
   fan_out`: local processes or Dask; on Dask the workers must see the scratch folder — a
   shared file system, or loopback). A piece is solved exactly as the one-process run solves
   the same components: the same blocks (``offset``), the same unit of quantities (``unit``:
   from the largest supply, cap and lot size read in step 2, and a previous quantity large
   enough to raise it only if it is on an arc — the pieces are asked, in a first read-only
   round, only then), the same order of lines, arcs and cells inside each block. It writes
   its rows of the result tables and returns per-line numbers (a few tens of bytes per line).
4. **merge** — the tables are written streaming in input order (lines and allocations in
   demand order, unallocated in supply order), the segments table and the totals from the
   per-line numbers in input order: the output folder is byte for byte what ``optim solve
   FOLDER --tables OUT`` writes (tested at 10^5 lines on a loopback Dask cluster).

Memory: the client holds int32 codes and row numbers per row, one chunk of rows, and while
merging the per-line numbers (dropped piece by piece); a worker holds one piece. Measured
(``benchmarks/bench_cluster.py``, RESULTS.md): the client's peak grows by about 140 MiB per
10^6 dense lines.

Input errors name the table, the row (as the one-process run numbers it: ``demand[12]``),
the id and the field, as the one-process run does; when an input has several errors the
split run may name a different one of them first.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim import executor
from optim.errors import InstanceError
from optim.params import SolveParams
from optim.result import Result

__all__ = ["PIECE_LINES", "solve_folder"]

PIECE_LINES = 200_000
"""Lines per piece (a worker holds one piece: ~0.5 GiB at 2·10^5 lines)."""
CHUNK_ROWS = 200_000
"""Rows the client reads at once."""
TABLES = ("allocations", "lines", "segments", "unallocated")
_ROW = re.compile(r"\b(supply|demand|previous)\[(\d+)\]")


@dataclass
class _Keys:
    """What the key pass learns (per supply row, per demand line, per piece). Codes, counts
    and row numbers are int32 (the client's memory is a few of them per line); products of
    codes are formed in int64."""

    items: dict[str, int] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    sup_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    sup_loc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    dem_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    arcs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    first: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    edges: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.int32))
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    """Per demand line the hash of its id (kept only to place ``previous.csv``'s rows)."""
    prev_line: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Per ``previous.csv`` row its demand line (-1: no id, checked by piece 0)."""
    prev_top: float = 0.0
    """The largest quantity of ``previous.csv`` (what it may add to the unit)."""


def solve_folder(
    folder: str | Path,
    out: str | Path,
    params: SolveParams | None = None,
    *,
    workers: int = 1,
    cluster: str | None = None,
    scratch: str | Path | None = None,
    piece_lines: int = PIECE_LINES,
    chunk_rows: int = CHUNK_ROWS,
) -> Result:
    """Solve the rationing CSV folder ``folder`` piece by piece; write the result tables
    (``allocations.csv``, ``lines.csv``, ``segments.csv``, ``unallocated.csv``) into the
    folder ``out``. Returns the result without tables (objective, message, totals).

    ``workers`` local processes, or the Dask cluster ``cluster`` (else the one in force,
    :func:`optim.executor.cluster_address`). ``scratch``: where the pieces are written
    (default: a temporary folder beside ``out``; removed at the end).
    """
    from optim.models.rationing import solve as rsolve
    from optim.models.rationing.solve import exponent_of

    params = params or SolveParams()
    rsolve.check(params)
    if params.solver == "pyomo":
        raise InstanceError(
            "the split run solves with the block-decomposed engine; allowed solvers: auto, "
            "highs, cpsat (the Pyomo reference takes small instances in one process)",
            field="solver",
        )
    start = time.perf_counter()
    folder, out = Path(folder), Path(out)
    paths = _paths(folder)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".split-", dir=scratch or out.parent))
    try:
        keys = _key_pass(paths, chunk_rows)
        if "previous" in paths:
            _previous_pass(paths, keys, chunk_rows)
        piece_of_line, piece_of_cell, offsets = _pieces(keys, piece_lines)
        keys.edges = keys.first = keys.arcs = np.zeros(0, np.int32)  # not needed any more
        keys.hashes = np.zeros(0, np.uint64)
        piece_of = {"supply": piece_of_cell, "demand": piece_of_line}
        if "previous" in paths:  # a previous row goes with its line (rows without: piece 0)
            line = keys.prev_line
            piece_of["previous"] = np.where(line >= 0, piece_of_line[np.maximum(line, 0)], 0)
        top = _split(paths, tmp, piece_of, chunk_rows)
        deadline = None if params.time_limit is None else time.time() + params.time_limit

        def fan(tasks: Iterator[dict[str, Any]], desc: str = "") -> list[dict[str, Any]]:
            return executor.fan_out(
                _solve_piece,
                tasks,
                total=len(offsets),
                workers=workers,
                cluster=cluster,
                desc=desc,
                stop=lambda res: "error" in res,
            )

        if exponent_of(max(top, keys.prev_top)) > exponent_of(top):
            # a previous quantity sets the unit if it is on an arc: the pieces say
            probes = fan(_tasks(paths, tmp, keys, piece_of, offsets, params, None, 0, probe=True))
            _raise(probes)
            top = max([top, *(res["previous"] for res in probes)])
        unit = exponent_of(top)
        results = fan(
            _tasks(paths, tmp, keys, piece_of, offsets, params, deadline, unit), "rationing pieces"
        )
        failed = _raise(results)
        if failed is not None:  # the piece's result: its message, no tables
            return replace(failed, runtime=time.perf_counter() - start)
        return _merge(tmp, out, keys, piece_of_line, piece_of_cell, results, params, start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _raise(results: list[dict[str, Any]]) -> Result | None:
    """The first piece's error (in piece order) raised; a failed piece's result returned."""
    for res in results:
        if res.get("error") == "failed":
            return res["result"]
        if res.get("error") == "refused":
            from optim.errors import NotExactlyScalable

            raise NotExactlyScalable(res["message"])
        if "error" in res:
            raise InstanceError(res["message"], field=res["field"])
    return None


# --- 1. keys --------------------------------------------------------------------------------
def _paths(folder: Path) -> dict[str, Path]:
    from optim.instances import gate

    paths = {}
    for table in ("supply", "demand", "segments", "lanes", "previous"):
        path = folder / f"{table}.csv"
        if path.exists():
            # the gate's file checks, block by block (the files are streamed): a folder was
            # "internal error: IsADirectoryError", a binary file "unknown field(s) 'Unnamed:
            # 0'", a Latin-1 byte pandas' codec message without its line
            if path.is_dir():
                raise gate.refuse(str(path), "is a folder, not a CSV file")
            gate.check_text_stream(path)
            paths[table] = path
        elif table in ("supply", "demand", "segments"):
            raise InstanceError(
                f"{folder}: missing {table}.csv (a rationing folder needs supply.csv, "
                "demand.csv and segments.csv)",
                field=table,
            )
    return paths


def _chunks(path: Path, table: str, chunk_rows: int, usecols: list[str] | None) -> Iterator[Any]:
    """The CSV table in chunks of text cells (empty → NaN), read and checked as the
    one-process reader reads it (:func:`optim.instances.gate.read_csv_chunks`: its messages,
    its rows); ``usecols``: only these columns. Every column is read: pandas' own column
    selection let a row's cells past the header pass unseen. A chunk may hold fewer than
    ``chunk_rows`` rows (blank rows dropped)."""
    from optim.instances import gate

    for chunk in gate.read_csv_chunks(path, str(path), chunk_rows, keep_case=True):
        yield chunk[[c for c in chunk.columns if c in usecols]] if usecols else chunk


def _codes(values: pd.Series, book: dict[str, int], grow: bool) -> np.ndarray:
    """Codes of stripped ids in ``book`` (new ids added when ``grow``); -1: missing/unknown."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    table = np.empty(len(uniques), dtype=np.int32)
    for i, value in enumerate(uniques.tolist()):
        text = str(value).strip()
        if grow and text and text not in book:
            book[text] = len(book)
        table[i] = book.get(text, -1)
    return np.where(codes < 0, -1, table[codes] if len(table) else -1).astype(np.int32)


def _check_headers(paths: dict[str, Path]) -> None:
    """Unknown column names of supply.csv and demand.csv, refused before the key columns
    are streamed, as the one-process run refuses them first (a header ``ID`` is an unknown
    field there, not a missing ``id``)."""
    from optim.instances.rationing_columns import DEMAND_COLUMNS, SUPPLY_COLUMNS
    from optim.instances.tables import check_columns

    for table, columns in (("supply", SUPPLY_COLUMNS), ("demand", DEMAND_COLUMNS)):
        header = next(_chunks(paths[table], table, 1, None)).columns
        check_columns(list(header), table, columns)


def _key_pass(paths: dict[str, Path], chunk_rows: int) -> _Keys:
    _check_headers(paths)
    keys = _Keys()
    items, locs = [], []
    for chunk in _chunks(paths["supply"], "supply", chunk_rows, ["item", "location"]):
        for col in ("item", "location"):
            if col not in chunk.columns:
                raise InstanceError(
                    f"supply: missing required field {col!r}", field=f"supply.{col}"
                )
        items.append(_codes(chunk["item"], keys.items, True))
        locs.append(_codes(chunk["location"], keys.locations, True))
    keys.sup_item, keys.sup_loc = np.concatenate(items), np.concatenate(locs)
    n_loc = max(len(keys.locations), 1)
    cell_key = np.where(
        (keys.sup_item >= 0) & (keys.sup_loc >= 0),
        keys.sup_item.astype(np.int64) * n_loc + keys.sup_loc,
        -1,
    )
    _unique_cells(cell_key, keys)
    order = np.argsort(cell_key, kind="stable")
    sorted_keys = cell_key[order]
    item_lo = np.searchsorted(sorted_keys, np.arange(len(keys.items)) * n_loc)
    item_hi = np.searchsorted(sorted_keys, (np.arange(len(keys.items)) + 1) * n_loc)
    default_items = np.zeros(len(keys.items), dtype=bool)
    dem_item, n_arcs, first, hashes, no_id = [], [], [], [], []
    edges: list[np.ndarray] = []
    row0 = 0
    for chunk in _chunks(paths["demand"], "demand", chunk_rows, ["id", "item", "locations"]):
        for col in ("id", "item"):
            if col not in chunk.columns:
                raise InstanceError(
                    f"demand: missing required field {col!r}", field=f"demand.{col}"
                )
        item = _codes(chunk["item"], keys.items, False)
        unknown = (item < 0) & chunk["item"].notna().to_numpy()
        unknown &= chunk["item"].astype(str).str.strip().ne("").to_numpy()
        if unknown.any():
            _unknown_item(chunk, int(np.flatnonzero(unknown)[0]), row0, keys)
        ids = chunk["id"].astype(str).str.strip().to_numpy(dtype=object)
        hashes.append(_hash(ids))
        no_id.append(chunk["id"].isna().to_numpy())
        m = len(chunk)
        count = np.zeros(m, dtype=np.int32)
        head = np.full(m, -1, dtype=np.int32)
        raw = chunk["locations"] if "locations" in chunk.columns else pd.Series([np.nan] * m)
        cell_of, blank, ptr, uflat = _location_lists(raw.to_numpy(dtype=object), keys.locations)
        default = blank[cell_of] & (item >= 0)
        if default.any():
            lo, hi = item_lo[item[default]], item_hi[item[default]]
            count[default] = hi - lo
            head[default] = np.where(hi > lo, order[np.minimum(lo, len(order) - 1)], -1)
            default_items[item[default]] = True
        explicit = np.flatnonzero(~default & (item >= 0))
        if len(explicit):
            lens = (ptr[1:] - ptr[:-1])[cell_of[explicit]]
            line = np.repeat(explicit, lens)
            within = np.arange(len(line)) - np.repeat(np.cumsum(lens) - lens, lens)
            flat = uflat[np.repeat(ptr[cell_of[explicit]], lens) + within]
            key = np.where(flat >= 0, item[line].astype(np.int64) * n_loc + flat, -2)
            pos = np.minimum(np.searchsorted(sorted_keys, key), len(sorted_keys) - 1)
            found = sorted_keys[pos] == key
            cell = order[pos][found].astype(np.int32)
            line = line[found]
            count += np.bincount(line, minlength=m).astype(np.int32)
            is_first = np.r_[True, line[1:] != line[:-1]] if len(line) else np.zeros(0, bool)
            head[line[is_first]] = cell[is_first]
            same = ~is_first
            if same.any():
                edges.append(np.stack([cell[np.flatnonzero(same) - 1], cell[same]]))
        dem_item.append(item)
        n_arcs.append(count)
        first.append(head)
        row0 += m
    keys.dem_item = np.concatenate(dem_item)
    keys.arcs = np.concatenate(n_arcs)
    keys.first = np.concatenate(first)
    all_hashes = np.concatenate(hashes)
    _unique_ids(paths["demand"], all_hashes, np.concatenate(no_id), chunk_rows)
    if "previous" in paths:
        keys.hashes = all_hashes
    # cells of an item any line may draw on by default are all linked
    chain = default_items[keys.sup_item[order]] & (keys.sup_item[order] >= 0)
    link = chain[1:] & chain[:-1] & (keys.sup_item[order][1:] == keys.sup_item[order][:-1])
    if link.any():
        idx = np.flatnonzero(link)
        edges.append(np.stack([order[idx], order[idx + 1]]).astype(np.int32))
    if edges:
        keys.edges = np.concatenate(edges, axis=1)
    return keys


def _hash(ids: np.ndarray) -> np.ndarray:
    """64-bit hashes of id strings (equal hashes are always checked on the ids)."""
    return pd.util.hash_array(ids, categorize=False)


def _location_lists(
    values: np.ndarray, book: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``locations`` cells as :func:`optim.instances.rationing._split_locations` reads
    them, each distinct cell parsed once: per line the index of its cell, per distinct cell
    whether it allows every location (blank) and its location codes (-1: unknown) as
    ``flat[ptr[u]:ptr[u + 1]]``."""
    codes, uniques = pd.factorize(values)
    default, lists = [], []
    for value in [*uniques.tolist(), None]:  # the last: missing cells
        text = "" if value is None else str(value)
        default.append(text.strip() == "")
        lists.append([book.get(p.strip(), -1) for p in text.split(";") if p.strip()])
    lengths = np.array([len(v) for v in lists], dtype=np.int64)
    flat = np.array([c for v in lists for c in v], dtype=np.int64)
    ptr = np.r_[0, np.cumsum(lengths)]
    return np.where(codes < 0, len(uniques), codes), np.array(default), ptr, flat


def _unknown_item(chunk: pd.DataFrame, row: int, row0: int, keys: _Keys) -> None:
    """The one-process run's message for a demand item without a supply row."""
    from optim.instances.rationing import check_demand_items

    frame = pd.DataFrame({"id": chunk["id"].iloc[[row]].astype(str).str.strip().to_numpy()})
    try:
        check_demand_items(
            pd.Series([str(chunk["item"].iloc[row]).strip()]), pd.Index(list(keys.items)), frame
        )
    except InstanceError as exc:
        raise _renumbered(exc, {"demand": np.array([row0 + row])}) from None


def _unique_cells(cell_key: np.ndarray, keys: _Keys) -> None:
    """Every (item, location) once, as the one-process run checks it."""
    dup = pd.Series(cell_key).duplicated().to_numpy() & (cell_key >= 0)
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        names = {v: k for k, v in keys.items.items()}
        places = {v: k for k, v in keys.locations.items()}
        pair = (names[int(keys.sup_item[row])], places[int(keys.sup_loc[row])])
        raise InstanceError(
            f"supply[{row}]: duplicate (item, location) {pair!r}; each must appear once",
            field=f"supply[{row}]",
        )


def _unique_ids(path: Path, hashes: np.ndarray, missing: np.ndarray, chunk_rows: int) -> None:
    """Every demand id once: equal hashes are checked on the ids themselves (a missing id
    is the piece validation's error)."""
    ordered = np.sort(hashes)  # (a hash table of 10^7 hashes takes twice the memory)
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    seen = np.isin(hashes, twice) & ~missing if len(twice) else np.zeros(0, bool)
    if not seen.any():
        return
    rows = np.flatnonzero(seen)
    ids = _ids_of(path, rows, chunk_rows)
    first: dict[str, int] = {}
    for r in rows.tolist():
        if ids[r] in first:
            raise InstanceError(
                f"demand[{r}]: duplicate id {ids[r]!r}; each must appear once",
                field=f"demand[{r}]",
            )
        first[ids[r]] = r


def _previous_pass(paths: dict[str, Path], keys: _Keys, chunk_rows: int) -> None:
    """The demand line of every row of ``previous.csv`` (by the hash of its id; ids whose
    hash two demand ids share are matched on the ids themselves) and its largest quantity.

    A previous row only gives a value to an arc its line already has (the arc to the cell of
    its location, when the line may draw on it): it couples nothing, so it goes to its
    line's piece. Rows without an id, and every row when the file has no ``demand_id``
    column, go to piece 0, whose validation names them as the one-process run does; an id
    no demand line has is named here, with the one-process run's message.
    """
    order = np.argsort(keys.hashes, kind="stable")
    sorted_hashes = keys.hashes[order]
    same = sorted_hashes[1:] == sorted_hashes[:-1]
    shared = np.r_[same, False] | np.r_[False, same]
    lines, missing, top, no_id = [], [], 0.0, 0
    ambiguous: dict[int, str] = {}  # previous row -> its id, where the hash is shared
    row0 = 0
    for chunk in _chunks(paths["previous"], "previous", chunk_rows, None):
        m = len(chunk)
        if "quantity" in chunk.columns:
            qty = pd.to_numeric(chunk["quantity"], errors="coerce").to_numpy(np.float64)
            top = max(top, float(np.nanmax(qty, initial=0.0)))
        if "demand_id" not in chunk.columns:
            lines.append(np.full(m, -1, dtype=np.int64))
            no_id += m
            row0 += m
            continue
        ids = chunk["demand_id"].astype(str).str.strip()
        h = _hash(ids.to_numpy(dtype=object))
        pos = np.minimum(np.searchsorted(sorted_hashes, h), max(len(order) - 1, 0))
        na = chunk["demand_id"].isna().to_numpy()
        no_id += int(na.sum())
        found = (sorted_hashes[pos] == h) & ~na if len(order) else np.zeros(m, bool)
        line = np.where(found, order[pos] if len(order) else -1, -1)
        for r in np.flatnonzero(found & shared[pos]).tolist():
            ambiguous[row0 + r] = ids.iloc[r]
        lines.append(line)
        missing.append(np.flatnonzero(~found & ~na) + row0)
        row0 += m
    keys.prev_line = np.concatenate(lines) if lines else np.zeros(0, np.int64)
    keys.prev_top = top
    if ambiguous:
        missing.append(_match_ids(paths["demand"], keys, order[shared], ambiguous, chunk_rows))
    unknown = np.sort(np.concatenate(missing)) if missing else np.zeros(0, np.int64)
    if len(unknown) and not no_id:  # else piece 0 names the first row without an id
        _unknown_previous(paths, int(unknown[0]), chunk_rows)


def _match_ids(
    path: Path, keys: _Keys, rows: np.ndarray, ambiguous: dict[int, str], chunk_rows: int
) -> np.ndarray:
    """Previous rows whose id hash several demand ids share, matched on the ids (the
    demand lines ``rows``); returns the rows no demand id matches."""
    line_of = {text: r for r, text in _ids_of(path, np.sort(rows), chunk_rows).items()}
    for r, text in ambiguous.items():
        keys.prev_line[r] = line_of.get(text, -1)
    return np.array([r for r, text in ambiguous.items() if text not in line_of], np.int64)


def _unknown_previous(paths: dict[str, Path], row: int, chunk_rows: int) -> None:
    """The one-process run's message for a previous row whose demand id no line has (it
    lists the first known ids: the nine smallest are gathered from the demand file)."""
    from optim.instances import tables as T

    row0, text = 0, ""
    for chunk in _chunks(paths["previous"], "previous", chunk_rows, None):
        if row < row0 + len(chunk):  # (chunks may hold fewer rows: blank rows dropped)
            text = str(chunk["demand_id"].iloc[row - row0]).strip()
            break
        row0 += len(chunk)
    smallest: list[str] = []
    for chunk in _chunks(paths["demand"], "demand", CHUNK_ROWS, ["id"]):
        ids = chunk["id"].dropna().astype(str).str.strip().unique().tolist()
        smallest = sorted(set(smallest).union(sorted(ids)[:9]))[:9]
    values = pd.Series([text], dtype=object)
    try:
        T.references(
            values,
            smallest,
            table="previous",
            col="demand_id",
            frame=pd.DataFrame({"demand_id": values}),
            id_col=None,
            what="demand id",
        )
    except InstanceError as exc:
        raise _renumbered(exc, {"previous": np.array([row])}) from None


def _ids_of(path: Path, rows: np.ndarray, chunk_rows: int) -> dict[int, str]:
    """The (stripped) ids of the demand rows ``rows`` (ascending), read from the file."""
    ids: dict[int, str] = {}
    row0 = 0
    for chunk in _chunks(path, "demand", chunk_rows, ["id"]):
        here = rows[(rows >= row0) & (rows < row0 + len(chunk))]
        for r in here.tolist():
            ids[r] = str(chunk["id"].iloc[r - row0]).strip()
        row0 += len(chunk)
    return ids


# --- 2. pieces ------------------------------------------------------------------------------
def _pieces(keys: _Keys, piece_lines: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Piece of every line and cell, and each piece's ``offset`` (:func:`engine.blocks`).

    Components are ordered as the one-process run labels them (by their first line; cells
    no line draws on after every line), sized ``arcs + lines`` (0 without arcs) and packed
    by ``cumsum // BLOCK_SIZE``; pieces are runs of whole blocks of about ``piece_lines``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from optim.models.rationing import engine

    n, C = len(keys.arcs), len(keys.sup_item)
    e = keys.edges
    graph = coo_matrix((np.ones(e.shape[1], dtype=np.int8), (e[0], e[1])), shape=(C, C))
    n_cc, cell_label = connected_components(graph, directed=False)
    has = keys.arcs > 0
    line_comp = np.where(has, cell_label[np.maximum(keys.first, 0)], -1)
    lone = np.flatnonzero(~has)
    line_comp[lone] = n_cc + np.arange(len(lone))
    n_comp = n_cc + len(lone)
    sort_key = np.empty(n_comp, dtype=np.int64)
    sort_key[:n_cc] = n + C
    np.minimum.at(sort_key[:n_cc], cell_label, np.arange(C) + n)
    with_lines = np.flatnonzero(has)
    np.minimum.at(sort_key, line_comp[with_lines], with_lines)
    sort_key[n_cc:] = lone
    lines_per = np.bincount(line_comp, minlength=n_comp)
    arcs_per = np.bincount(line_comp, weights=keys.arcs, minlength=n_comp).astype(np.int64)
    size = np.where(arcs_per > 0, arcs_per + lines_per, 0)
    order = np.argsort(sort_key, kind="stable")
    total = np.cumsum(size[order])
    block = total // engine.BLOCK_SIZE
    # pieces: runs of whole blocks with about piece_lines lines
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    lines_in = np.add.reduceat(lines_per[order], starts) if len(starts) else np.zeros(0)
    piece_of_run = np.zeros(len(starts), dtype=np.int64)
    offsets = [0]
    acc, piece = 0, 0
    for i in range(len(starts)):
        if acc >= piece_lines:
            piece += 1
            acc = 0
            offsets.append(int(total[starts[i] - 1]))
        piece_of_run[i] = piece
        acc += int(lines_in[i])
    run = np.cumsum(np.r_[True, block[1:] != block[:-1]]) - 1 if len(block) else block
    piece_of_comp = np.empty(n_comp, dtype=np.int64)
    piece_of_comp[order] = piece_of_run[run]
    return (
        piece_of_comp[line_comp].astype(np.int32),
        piece_of_comp[cell_label].astype(np.int32),
        offsets,
    )


# --- 3. split and solve ----------------------------------------------------------------------
def _split(
    paths: dict[str, Path], tmp: Path, piece_of: dict[str, np.ndarray], chunk_rows: int
) -> float:
    """Rows of supply.csv, demand.csv (and previous.csv) appended to their piece's files
    (cells as read); returns the largest quantity of supply and demand (the unit of
    :func:`optim.models.rationing.solve._in_units` is the whole instance's)."""
    top = 0.0
    for table, piece_of_row in piece_of.items():
        n_pieces = int(piece_of_row.max(initial=-1)) + 1
        handles: dict[int, Any] = {}
        row0 = 0
        try:
            for chunk in _chunks(paths[table], table, chunk_rows, None):
                if table != "previous":
                    top = max(top, _largest(chunk, table))
                piece = piece_of_row[row0 : row0 + len(chunk)]
                order = np.argsort(piece, kind="stable")
                bounds = np.searchsorted(piece[order], np.arange(n_pieces + 1))
                for k in np.unique(piece).tolist():
                    fh = handles.get(k)
                    if fh is None:
                        place = tmp / f"piece-{k}"
                        place.mkdir(exist_ok=True)
                        fh = handles[k] = open(  # noqa: SIM115 - closed below
                            place / f"{table}.csv", "w", encoding="utf-8", newline=""
                        )
                        chunk.iloc[:0].to_csv(fh, index=False, lineterminator="\n")
                    chunk.iloc[order[bounds[k] : bounds[k + 1]]].to_csv(
                        fh, header=False, index=False, lineterminator="\n"
                    )
                row0 += len(chunk)
        finally:
            for fh in handles.values():
                fh.close()
    return top


def _largest(chunk: pd.DataFrame, table: str) -> float:
    def number(col: str, default: float) -> np.ndarray:
        if col not in chunk.columns:
            return np.full(len(chunk), default)
        x = pd.to_numeric(chunk[col], errors="coerce").to_numpy(dtype=np.float64)
        return np.where(np.isnan(x), default, x)

    if table == "supply":
        return float(np.max(number("quantity", 0.0), initial=0.0))
    cap = np.minimum(number("quantity", 0.0), number("max_quantity", np.inf))
    return float(max(np.max(cap, initial=0.0), np.max(number("lot_size", 0.0), initial=0.0)))


def _tasks(
    paths: dict[str, Path],
    tmp: Path,
    keys: _Keys,
    piece_of: dict[str, np.ndarray],
    offsets: list[int],
    params: SolveParams,
    deadline: float | None,
    unit: int,
    *,
    probe: bool = False,
) -> Iterator[dict[str, Any]]:
    """One task per piece: its files, its rows in the whole tables, and the stand-in supply
    rows its validation needs (see :func:`_stand_ins`). ``probe``: the piece is only read
    and validated, and says its largest previous quantity on an arc."""
    item_names = np.array(list(keys.items), dtype=object)
    loc_names = np.array(list(keys.locations), dtype=object)
    valid = np.flatnonzero((keys.sup_item >= 0) & (keys.sup_loc >= 0))
    first_row = {  # the first supply row of every item and of every location
        "item": _first_of(keys.sup_item[valid], valid, len(keys.items)),
        "location": _first_of(keys.sup_loc[valid], valid, len(keys.locations)),
    }
    rows_of = {table: _members(of, len(offsets)) for table, of in piece_of.items()}
    for k, offset in enumerate(offsets):
        lines, cells = rows_of["demand"][k], rows_of["supply"][k]
        place = tmp / f"piece-{k}"
        for table in ("supply", "demand"):  # a piece may lack one of them: a header only
            if not (place / f"{table}.csv").exists():
                place.mkdir(exist_ok=True)
                header = next(_chunks(paths[table], table, 1, None)).iloc[:0]
                header.to_csv(place / f"{table}.csv", index=False, lineterminator="\n")
        for table in ("segments", "lanes"):
            if table in paths and not (place / f"{table}.csv").is_symlink():
                (place / f"{table}.csv").symlink_to(paths[table].resolve())
        yield {
            "piece": k,
            "folder": str(place),
            "rows": {table: rows[k] for table, rows in rows_of.items()},
            "probe": probe,
            "stand_ins": _stand_ins(keys, lines, cells, first_row, item_names, loc_names),
            "offset": offset,
            "unit": unit,
            "params": params,
            "deadline": deadline,
        }


def _members(piece_of: np.ndarray, n_pieces: int) -> list[np.ndarray]:
    """The rows of each piece, in input order."""
    order = np.argsort(piece_of, kind="stable").astype(np.int32)
    bounds = np.searchsorted(piece_of[order], np.arange(n_pieces + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n_pieces)]


def _first_of(codes: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Per code, the first of ``rows`` that has it (-1: none)."""
    out = np.full(n, -1, dtype=np.int64)
    uniques, at = np.unique(codes, return_index=True)
    out[uniques] = rows[at]
    return out


def _stand_ins(
    keys: _Keys,
    lines: np.ndarray,
    cells: np.ndarray,
    first_row: dict[str, np.ndarray],
    item_names: np.ndarray,
    loc_names: np.ndarray,
) -> list[tuple[str, str]]:
    """Supply rows of other pieces a piece's validation needs: one per item of its lines
    with no supply row in the piece (lines without eligible stock) and one per location it
    lacks. No line of the piece draws on them (it would then share their component), so
    they change nothing but what the validation knows; they are dropped before the solve."""
    own_items = np.unique(keys.sup_item[cells])
    need = np.setdiff1d(np.unique(keys.dem_item[lines]), own_items)
    need = need[need >= 0]
    lacking = np.setdiff1d(np.arange(len(keys.locations)), np.unique(keys.sup_loc[cells]))
    rows = np.r_[first_row["item"][need], first_row["location"][lacking]]
    rows = np.setdiff1d(rows[rows >= 0], cells).tolist()
    return [(str(item_names[keys.sup_item[r]]), str(loc_names[keys.sup_loc[r]])) for r in rows]


def _solve_piece(task: dict[str, Any]) -> dict[str, Any]:
    """Read, validate and solve one piece; write its rows of the result tables.

    Returns the per-line numbers, or ``{"error": ...}``: ``"invalid"`` (message and field
    with the whole tables' row numbers), ``"refused"`` (CP-SAT) or ``"failed"`` (the
    engine's :class:`~optim.models.rationing.engine.EngineError`).
    """
    from optim.instances.rationing import RationingInstance, read_csv_frames
    from optim.models.rationing import engine
    from optim.models.rationing import solve as rsolve
    from optim.models.rationing.arrays import prepare
    from optim.precision import csv_ready

    place, k, rows = Path(task["folder"]), task["piece"], task["rows"]
    try:
        frames = read_csv_frames(place)
        real = len(frames["supply"])
        if task["stand_ins"]:
            extra = pd.DataFrame(task["stand_ins"], columns=["item", "location"], dtype=object)
            extra["quantity"] = 0.0
            frames["supply"] = pd.concat([frames["supply"], extra], ignore_index=True)
        inst = RationingInstance.model_validate(frames)
    except InstanceError as exc:
        bad = _renumbered(exc, rows)
        return {"error": "invalid", "message": str(bad), "field": bad.field}
    p = prepare(inst)
    p = replace(
        p,
        cell_item=p.cell_item[:real],
        cell_location=p.cell_location[:real],
        supply=p.supply[:real],
        cell_component=p.cell_component[:real],
    )
    if task["probe"]:
        return {"previous": float(np.max(p.arc_previous, initial=0.0))}
    inst = inst.model_copy(update={"supply": inst.supply.iloc[:real]})
    params: SolveParams = task["params"].model_copy(update={"threads": 1})
    if task["deadline"] is not None:  # the time limit is the whole run's: what is left of it
        left = max(task["deadline"] - time.time(), 1e-6)
        params = params.model_copy(update={"time_limit": left})
    try:
        with executor.local_only():
            outcome = rsolve.allocate(p, params, offset=task["offset"], unit=task["unit"])
    except engine.EngineError as exc:
        return {
            "error": "failed",
            "result": rsolve._failed(
                exc, params, time.perf_counter(), rsolve.solver_name(params), p
            ),
        }
    except engine.ComponentNotScalable as exc:
        return {"error": "refused", "message": str(rsolve._refused(exc, p))}
    tables = rsolve.build_tables(inst, p, outcome)
    for name in ("allocations", "lines", "unallocated"):
        frame = tables[name]
        path = place / f"out-{name}.csv"
        csv_ready(frame).to_csv(path, index=False, lineterminator="\n")
        with path.open("rb") as fh:
            if sum(1 for _ in fh) != len(frame) + 1:
                return {
                    "error": "invalid",
                    "message": f"{name}: an id with a line break cannot be split into "
                    "pieces; solve this folder in one process (optim solve FOLDER)",
                    "field": name,
                }
    segments = inst.segments
    code = pd.Index(segments["name"]).get_indexer(inst.demand["segment"])
    return {
        "alloc": outcome.alloc,
        "request": p.request,
        "cap": p.cap,
        "segment": code.astype(np.int32),
        "segments": segments if k == 0 else None,
        "arcs": np.bincount(p.arc_line, minlength=p.num_lines).astype(np.int32),
        "lane": p.arc_cost * outcome.flow,
        "allocation_rows": np.bincount(p.arc_line[outcome.flow > 0], minlength=p.num_lines).astype(
            np.int32
        ),
    }


def _renumbered(exc: InstanceError, rows: dict[str, np.ndarray]) -> InstanceError:
    """``exc`` with a piece's row numbers (``demand[3]``) replaced by the whole table's."""

    def whole(match: re.Match[str]) -> str:
        table, row = match.group(1), int(match.group(2))
        known = rows.get(table)
        if known is None or row >= len(known):
            return match.group(0)
        return f"{table}[{int(known[row])}]"

    return InstanceError(_ROW.sub(whole, str(exc)), field=_ROW.sub(whole, exc.field or ""))


# --- 4. merge -------------------------------------------------------------------------------
def _merge(
    tmp: Path,
    out: Path,
    keys: _Keys,
    piece_of_line: np.ndarray,
    piece_of_cell: np.ndarray,
    results: list[dict[str, Any]],
    params: SolveParams,
    start: float,
) -> Result:
    from optim.models.rationing import solve as rsolve
    from optim.precision import write_csv

    """The tables and the result from the pieces' files and numbers. Each piece's numbers
    are dropped from ``results`` as they are copied, and the whole run's are dropped before
    the tables are interleaved (the client's peak: see ``benchmarks/bench_cluster.py``)."""
    n, n_pieces = len(piece_of_line), len(results)
    members = _members(piece_of_line, n_pieces)
    alloc, request, cap = np.empty(n), np.empty(n), np.empty(n)
    segment = np.empty(n, dtype=np.int32)
    arcs = np.zeros(n, dtype=np.int32)
    alloc_rows = np.zeros(n, dtype=np.int32)
    segments = results[0]["segments"]
    lanes = []
    for k, rows in enumerate(members):
        res, results[k] = results[k], {}
        alloc[rows], request[rows], cap[rows] = res["alloc"], res["request"], res["cap"]
        segment[rows], arcs[rows] = res["segment"], res["arcs"]
        alloc_rows[rows] = res["allocation_rows"]
        lanes.append(res["lane"])
        del res
    arc_start = np.cumsum(arcs, dtype=np.int64) - arcs
    lane = np.zeros(int(arc_start[-1] + arcs[-1]) if n else 0)
    for k, rows in enumerate(members):
        per = arcs[rows]
        pos = np.repeat(arc_start[rows], per) + (
            np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
        )
        lane[pos], lanes[k] = lanes[k], np.zeros(0)
    del arc_start, arcs, members, lanes
    names = segments["name"].to_numpy(dtype=object)
    seg = rsolve._segments(segments, names[segment], request, alloc)
    head = rsolve.finished(
        {}, alloc=alloc, request=request, cap=cap, lane=lane, params=params, start=start
    )
    del alloc, request, cap, lane, segment
    write_csv(seg, out / "segments.csv")
    _interleave(tmp, out, "lines", piece_of_line, None, n_pieces)
    _interleave(tmp, out, "allocations", piece_of_line, alloc_rows, n_pieces)
    _interleave(tmp, out, "unallocated", piece_of_cell, None, n_pieces)
    return replace(head, runtime=time.perf_counter() - start)


def _interleave(
    tmp: Path,
    out: Path,
    name: str,
    piece_of_row: np.ndarray,
    per_row: np.ndarray | None,
    n_pieces: int,
    window: int = 100_000,
) -> None:
    """``out/<name>.csv`` from the pieces' rows: row ``r`` of the whole table (with
    ``per_row[r]`` output rows, default one) is the next row of its piece's file."""
    files = [
        (tmp / f"piece-{k}" / f"out-{name}.csv").open(encoding="utf-8", newline="\n")
        for k in range(n_pieces)
    ]
    try:
        header = files[0].readline()
        for fh in files[1:]:
            fh.readline()
        with (out / f"{name}.csv").open("w", encoding="utf-8", newline="") as dst:
            dst.write(header)
            for a in range(0, len(piece_of_row), window):
                piece = piece_of_row[a : a + window]
                if per_row is not None:
                    piece = np.repeat(piece, per_row[a : a + window])
                text = np.empty(len(piece), dtype=object)
                for k in np.unique(piece).tolist():
                    at = np.flatnonzero(piece == k)
                    got = list(islice(files[k], len(at)))
                    text[at] = got
                dst.write("".join(text.tolist()))
    finally:
        for fh in files:
            fh.close()
