"""Seeded generators of rationing instances (tests, benchmarks, demos). Pure and vectorised."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from optim.instances.rationing import RationingInstance


def rationing_frames(
    seed: int,
    *,
    n_items: int = 5,
    n_locations: int = 3,
    n_customers: int = 6,
    n_lines: int = 20,
    tiers: int = 3,
    eligible: tuple[int, int] = (1, 3),
    stocked: tuple[int, int] = (1, 4),
    supply_factor: tuple[float, float] = (0.4, 1.3),
    rules: tuple[str, ...] = ("proportional", "proportional", "equal"),
    min_share: float = 0.0,
    max_share: float = 0.0,
    weighted: bool = False,
    lanes: bool = False,
    lot_share: float = 0.0,
    aon_share: float = 0.0,
    default_locations_share: float = 0.2,
    integer_quantities: bool = True,
) -> dict[str, pd.DataFrame]:
    """Tables of a random weekly rationing run.

    Each item is stocked at ``stocked`` random locations with total supply ``supply_factor``
    × its demand (so some items are short); each line lists ``eligible`` of its item's
    locations in random preference order (or none, to allow every location, with probability
    ``default_locations_share``). Customers belong to one segment; tier ``t`` has rule
    ``rules[t-1]`` (``"weighted"`` lines get random weights).
    """
    rng = np.random.default_rng(seed)
    L = n_locations
    loc_names = np.array([f"DC{j + 1:02d}" for j in range(L)], dtype=object)
    item_names = np.array([f"I{i + 1:06d}" for i in range(n_items)], dtype=object)
    cust_names = np.array([f"C{c + 1:05d}" for c in range(n_customers)], dtype=object)
    seg_names = np.array([f"tier{t + 1}" for t in range(tiers)], dtype=object)

    # where each item is stocked: the first k of a random permutation of locations
    k_item = rng.integers(stocked[0], min(stocked[1], L) + 1, n_items)
    perm = np.argsort(rng.random((n_items, L)), axis=1)
    stocked_mask = np.arange(L)[None, :] < k_item[:, None]

    line_item = rng.integers(0, n_items, n_lines)
    qty = np.maximum(1.0, np.round(rng.lognormal(3.0, 0.8, n_lines)))
    if not integer_quantities:
        qty = np.round(rng.lognormal(3.0, 0.8, n_lines), 3) + 0.001
    cust_seg = np.minimum((rng.random(n_customers) ** 1.5 * tiers).astype(np.int64), tiers - 1)
    line_cust = rng.integers(0, n_customers, n_lines)

    # eligible locations: the first e of the item's stocked locations, in a random order
    e = np.minimum(rng.integers(eligible[0], eligible[1] + 1, n_lines), k_item[line_item])
    line_perm = np.argsort(
        np.where(stocked_mask[line_item], rng.random((n_lines, L)), 2.0), axis=1
    )
    chosen = perm[line_item[:, None], line_perm]
    use_default = rng.random(n_lines) < default_locations_share
    locations = [
        None if use_default[i] else list(loc_names[chosen[i, : e[i]]]) for i in range(n_lines)
    ]

    demand = pd.DataFrame(
        {
            "id": [f"D{i + 1:07d}" for i in range(n_lines)],
            "customer": cust_names[line_cust],
            "item": item_names[line_item],
            "quantity": qty,
            "segment": seg_names[cust_seg[line_cust]],
            "locations": locations,
        }
    )
    if min_share > 0:
        has = rng.random(n_lines) < min_share
        demand["min_quantity"] = np.where(
            has, np.floor(qty * rng.uniform(0.1, 0.6, n_lines)), np.nan
        )
    if max_share > 0:
        has = rng.random(n_lines) < max_share
        demand["max_quantity"] = np.where(
            has, np.ceil(qty * rng.uniform(0.3, 0.9, n_lines)), np.nan
        )
    if min_share > 0 and max_share > 0:
        demand["min_quantity"] = np.fmin(demand["min_quantity"], demand["max_quantity"])
    if weighted:
        demand["weight"] = rng.integers(1, 5, n_lines).astype(np.float64)
    if lot_share > 0:
        has = rng.random(n_lines) < lot_share
        lot = rng.choice(np.array([2.0, 5.0, 10.0]), n_lines)
        demand["lot_size"] = np.where(has, lot, np.nan)
        if "min_quantity" in demand:
            demand["min_quantity"] = np.where(
                has, np.floor(demand["min_quantity"].fillna(0) / lot) * lot, demand["min_quantity"]
            )
            demand.loc[demand["min_quantity"] == 0, "min_quantity"] = np.nan
    if aon_share > 0:
        aon = rng.random(n_lines) < aon_share
        if "lot_size" in demand:
            aon &= demand["lot_size"].isna().to_numpy()
        if "min_quantity" in demand:
            demand.loc[aon, "min_quantity"] = np.nan
        demand["all_or_nothing"] = aon

    item_demand = np.bincount(line_item, qty, n_items)
    total = item_demand * rng.uniform(supply_factor[0], supply_factor[1], n_items)
    share = np.where(stocked_mask, rng.random((n_items, L)) + 0.05, 0.0)
    share /= share.sum(axis=1, keepdims=True)
    per_cell = np.round(total[:, None] * share)
    rows, cols = np.nonzero(stocked_mask)
    supply = pd.DataFrame(
        {
            "item": item_names[rows],
            "location": loc_names[perm[rows, cols]],
            "quantity": per_cell[rows, cols],
        }
    )
    segments = pd.DataFrame(
        {
            "name": seg_names,
            "tier": np.arange(1, tiers + 1),
            "fair_share": [rules[min(t, len(rules) - 1)] for t in range(tiers)],
        }
    )
    if weighted:
        segments["fair_share"] = "weighted"
    frames = {"supply": supply, "demand": demand, "segments": segments}
    if lanes:
        lc = np.array([(c, loc) for c in range(n_customers) for loc in range(L)])
        frames["lanes"] = pd.DataFrame(
            {
                "location": loc_names[lc[:, 1]],
                "customer": cust_names[lc[:, 0]],
                "cost": np.round(rng.uniform(0.5, 5.0, len(lc)), 2),
            }
        )
    return frames


def random_rationing(seed: int, **kwargs: object) -> RationingInstance:
    """A validated random instance (see :func:`rationing_frames` for the knobs)."""
    frames = rationing_frames(seed, **kwargs)  # type: ignore[arg-type]
    return RationingInstance.from_frames(**frames, name=f"random_rationing_{seed}")


def dense_rationing_frames(
    seed: int,
    *,
    n_items: int = 50,
    n_locations: int = 20,
    n_customers: int = 10,
    lines_per_customer: int = 20,
    tiers: int = 3,
    eligible: tuple[int, int] = (1, 3),
    stocked_share: float = 0.97,
    supply_factor: tuple[float, float] = (0.2, 1.1),
    rules: tuple[str, ...] = ("equal", "weighted", "proportional"),
    min_share: float = 0.0,
    max_share: float = 0.0,
    integer_quantities: bool = True,
) -> dict[str, pd.DataFrame]:
    """Tables of a dense, fully short week (issue 13's shape).

    Every customer has ``lines_per_customer`` lines on random items; each line lists
    ``eligible`` random locations out of all ``n_locations`` (in preference order). Stock sits
    at ``stocked_share`` of the (item, location) cells that some line asks for, at
    ``supply_factor`` × what is asked there (a line's request spread evenly over its eligible
    locations), so almost every cell is short. Tier ``t`` has rule ``rules[t-1]``; the weighted
    rule's lines get random weights 1–4.
    """
    rng = np.random.default_rng(seed)
    L = n_locations
    n_lines = n_customers * lines_per_customer
    loc_names = np.array([f"DC{j + 1:02d}" for j in range(L)], dtype=object)
    item_names = np.array([f"I{i + 1:06d}" for i in range(n_items)], dtype=object)
    cust_names = np.array([f"C{c + 1:05d}" for c in range(n_customers)], dtype=object)
    seg_names = np.array([f"tier{t + 1}" for t in range(tiers)], dtype=object)

    line_cust = np.repeat(np.arange(n_customers), lines_per_customer)
    line_item = rng.integers(0, n_items, n_lines)
    if integer_quantities:
        qty = np.maximum(1.0, np.round(rng.lognormal(3.0, 0.8, n_lines)))
    else:
        qty = np.round(rng.lognormal(3.0, 0.8, n_lines), 3) + 0.001
    cust_seg = np.minimum((rng.random(n_customers) ** 1.5 * tiers).astype(np.int64), tiers - 1)
    e = rng.integers(eligible[0], min(eligible[1], L) + 1, n_lines)
    chosen = np.argsort(rng.random((n_lines, L)), axis=1)[:, : int(e.max())]
    first = np.arange(chosen.shape[1])[None, :] < e[:, None]
    lengths = e.astype(np.int64)
    flat_loc = chosen[first]  # row-major: each line's locations in preference order
    flat_line = np.repeat(np.arange(n_lines), lengths)
    starts = np.cumsum(lengths) - lengths
    loc_texts = loc_names[flat_loc]
    locations = [list(loc_texts[s : s + k]) for s, k in zip(starts, lengths, strict=True)]

    demand = pd.DataFrame(
        {
            "id": [f"D{i + 1:07d}" for i in range(n_lines)],
            "customer": cust_names[line_cust],
            "item": item_names[line_item],
            "quantity": qty,
            "segment": seg_names[cust_seg[line_cust]],
            "locations": locations,
        }
    )
    seg_rules = [rules[min(t, len(rules) - 1)] for t in range(tiers)]
    if "weighted" in seg_rules:
        demand["weight"] = rng.integers(1, 5, n_lines).astype(np.float64)
    if min_share > 0:
        has = rng.random(n_lines) < min_share
        demand["min_quantity"] = np.where(
            has, np.floor(qty * rng.uniform(0.1, 0.6, n_lines)), np.nan
        )
        demand.loc[demand["min_quantity"] == 0, "min_quantity"] = np.nan
    if max_share > 0:
        has = rng.random(n_lines) < max_share
        demand["max_quantity"] = np.where(
            has, np.ceil(qty * rng.uniform(0.3, 0.9, n_lines)), np.nan
        )
        if "min_quantity" in demand:
            demand["min_quantity"] = np.fmin(demand["min_quantity"], demand["max_quantity"])

    # what is asked at each (item, location) cell: requests spread over eligible locations
    cell = line_item[flat_line] * L + flat_loc
    asked = np.bincount(cell, (qty / e)[flat_line], n_items * L)
    wanted = np.flatnonzero(asked > 0)
    stocked = rng.random(len(wanted)) < stocked_share
    # every demanded item and every listed location needs a supply row: keep the most-asked
    # cell of each
    for key in (wanted // L, wanted % L):
        stocked[pd.Series(asked[wanted]).groupby(key).idxmax().to_numpy()] = True
    cells = wanted[stocked]
    factor = rng.uniform(supply_factor[0], supply_factor[1], len(cells))
    quantity = np.round(asked[cells] * factor)
    if not integer_quantities:
        quantity = np.round(asked[cells] * factor, 3)
    supply = pd.DataFrame(
        {
            "item": item_names[cells // L],
            "location": loc_names[cells % L],
            "quantity": quantity,
        }
    )
    segments = pd.DataFrame(
        {"name": seg_names, "tier": np.arange(1, tiers + 1), "fair_share": seg_rules}
    )
    return {"supply": supply, "demand": demand, "segments": segments}


def one_component_frames(seed: int, size: int, huge: float) -> dict[str, pd.DataFrame]:
    """Tables of one item whose lines and cells form one component of ``size`` lines + cells
    (:func:`dense_rationing_frames`' shape, ``size // 50`` locations, at least 20), its first
    line raised to ``huge`` units and one of that line's cells to 0.8 × that, beside lines of
    ~20 units: a wide span of magnitudes in one large component (the rationing benchmarks'
    and tests' case of a component beyond what the staged LPs resolve)."""
    locations = max(20, size // 50)
    lines = size - locations
    frames = dense_rationing_frames(
        seed, n_items=1, n_locations=locations, n_customers=max(1, lines // 200),
        lines_per_customer=min(200, lines), tiers=3,
    )  # fmt: skip
    dem, sup = frames["demand"], frames["supply"]
    dem.at[0, "quantity"] = huge
    first = cast(list[str], dem.at[0, "locations"])  # the raised line's locations
    at = np.flatnonzero(sup["location"].isin(first).to_numpy())[0]
    sup.loc[at, "quantity"] = huge * 0.8
    return frames


def previous_allocation(
    frames: dict[str, pd.DataFrame], share: float = 0.4, seed: int = 1
) -> pd.DataFrame:
    """A ``previous`` table (last week's allocation) on ``share`` of the demand lines, each
    at a location drawn from all locations: on one of the line's arcs or not (a location
    that does not stock its item, or one its list leaves out), 1..29 units."""
    rng = np.random.default_rng(seed)
    dem = frames["demand"]
    locs = np.array(sorted(frames["supply"]["location"].unique()), dtype=object)
    pick = np.sort(rng.choice(len(dem), int(share * len(dem)), replace=False))
    prev = pd.DataFrame(
        {
            "demand_id": dem["id"].to_numpy()[pick],
            "location": locs[rng.integers(0, len(locs), len(pick))],
            "quantity": rng.integers(1, 30, len(pick)).astype(float),
        }
    )
    return prev.drop_duplicates(["demand_id", "location"]).reset_index(drop=True)


def write_csv_folder(frames: dict[str, pd.DataFrame], folder: str | Path, mode: str = "w") -> None:
    """Generated tables as a rationing CSV folder (``locations`` joined by ';', blank for
    every location); ``mode="a"`` appends rows to the files (a large week written in slices
    with disjoint item names)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if name == "demand" and "locations" in frame.columns:
            frame = frame.assign(
                locations=[";".join(v) if isinstance(v, list) else "" for v in frame["locations"]]
            )
        path = folder / f"{name}.csv"
        append = mode == "a" and path.exists()
        frame.to_csv(path, index=False, mode="a" if append else "w", header=not append)
