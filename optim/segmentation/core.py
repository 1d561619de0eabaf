"""`segment`: order history (+ previous run, overrides) → stable item and customer segments.

One run:

1. validate the order lines and bucket them per period (:mod:`.history`, returns rule);
2. raw item classes: ABC, XYZ, intermittency (:mod:`.items`); raw customer segments from
   the rules (:mod:`.customers`);
3. stabilise every dimension against ``previous`` (:mod:`.stability`): a class moves only
   when its metric is beyond the boundary by the margin, or after N consecutive runs across
   it; manual customer overrides (pins) win over everything;
4. attach the policy table (:mod:`.policy`); per-period demand statistics on request
   (:meth:`Segmentation.demand_stats`, :mod:`.stats`).

The result is deterministic: same input → identical frames (rows sorted by rank, ties by
id). It round-trips through :meth:`Segmentation.to_frames` / :meth:`Segmentation.from_frames`
and :meth:`Segmentation.to_json` / :meth:`Segmentation.from_json`, so a run's output can be
fed as ``previous`` to the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.segmentation.config import ABC_LABELS, XYZ_LABELS, SegmentationConfig
from optim.segmentation.customers import apply_rules, customer_metrics
from optim.segmentation.history import prepare_history
from optim.segmentation.items import item_metrics
from optim.segmentation.result import (
    CHANGE_COLUMNS,
    CUSTOMER_COLUMNS,
    ITEM_COLUMNS,
    Segmentation,
)
from optim.segmentation.stability import (
    HOLD,
    MARGIN,
    NEW,
    RUNS,
    Stabilised,
    band_index,
    class_index,
    stabilise,
)

__all__ = ["Segmentation", "segment"]

INT_LABELS = (False, True)


# --------------------------------------------------------------------------- helpers


def _previous_state(
    frame: pd.DataFrame | None,
    ids: np.ndarray,
    id_col: str,
    col: str,
    labels: tuple[Any, ...],
    runs_col: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Previous class index (-1 = none) and run counter per id."""
    prev = np.full(len(ids), -1, dtype=np.int64)
    runs = np.zeros(len(ids), dtype=np.int64)
    if frame is None:
        return prev, runs
    if frame[id_col].duplicated().any():
        dup = frame.loc[frame[id_col].duplicated(), id_col].iloc[0]
        raise InstanceError(f"previous {id_col}s has duplicate id {dup!r}.", field=id_col)
    lookup = {lab: i for i, lab in enumerate(labels)}
    values = frame[col].tolist()
    bad = [v for v in values if v not in lookup]
    if bad:
        raise InstanceError(
            f"previous {id_col}s column {col!r} holds {bad[0]!r}; allowed: {list(labels)}.",
            field=col,
        )
    index = pd.Index(frame[id_col].astype(str))
    pos = index.get_indexer(pd.Index(ids))
    found = pos >= 0
    prev[found] = np.array([lookup[values[p]] for p in pos[found]], dtype=np.int64)
    if runs_col in frame.columns:
        r = pd.to_numeric(frame[runs_col], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
        runs[found] = r[pos[found]]
    return prev, runs


def _fmt(x: float) -> str:
    return "nan" if x != x else f"{x:.4g}"


def _dimension_reasons(
    st: Stabilised,
    prev: np.ndarray,
    raw: np.ndarray,
    labels: tuple[Any, ...],
    name: str,
    metric_name: str,
    metric: np.ndarray,
    thresholds: tuple[float, ...],
    cfg: SegmentationConfig,
) -> list[str]:
    """One reason string per entity for one ordered dimension ('' when nothing to say)."""
    m, n_runs = cfg.margin, cfg.consecutive_runs
    out = [""] * len(raw)
    for i in np.flatnonzero(st.how != "same"):
        how, h, p, r = st.how[i], int(st.held[i]), int(prev[i]), int(raw[i])
        x = _fmt(float(metric[i]))
        if how == NEW:
            continue
        if how == MARGIN:
            if h < p:  # moved to a lower class index: metric fell below t·(1-m)
                t = thresholds[h]
                bound = f"below {t:g}·(1−{m:g}) = {t * (1 - m):.4g}"
            else:
                t = thresholds[h - 1]
                bound = f"beyond {t:g}·(1+{m:g}) = {t * (1 + m):.4g}"
            out[i] = f"{name} {labels[p]}→{labels[h]}: {metric_name} {x} {bound}"
        elif how == RUNS:
            out[i] = (
                f"{name} {labels[p]}→{labels[h]}: raw class {labels[r]} for {n_runs} "
                f"consecutive runs ({metric_name} {x})"
            )
        elif how == HOLD:
            out[i] = (
                f"{name} held {labels[h]}: raw {labels[r]} within margin ({metric_name} {x}), "
                f"run {int(st.runs[i])} of {n_runs}"
            )
    return out


def _ordered_dimension(
    metric: np.ndarray,
    thresholds: tuple[float, ...],
    closed: str,
    prev: np.ndarray,
    prev_runs: np.ndarray,
    cfg: SegmentationConfig,
) -> tuple[np.ndarray, Stabilised]:
    raw = class_index(metric, thresholds, closed)  # type: ignore[arg-type]
    lo, hi = band_index(metric, thresholds, cfg.margin, closed)  # type: ignore[arg-type]
    return raw, stabilise(raw, lo, hi, prev, prev_runs, cfg.consecutive_runs)


def _pattern(adi: np.ndarray, cv2: np.ndarray, cfg: SegmentationConfig) -> np.ndarray:
    a = class_index(adi, (cfg.adi_threshold,), "left")
    c = class_index(
        np.where(np.isnan(adi), np.nan, np.nan_to_num(cv2)), (cfg.cv2_threshold,), "left"
    )
    names = np.array([["smooth", "erratic"], ["intermittent", "lumpy"]], dtype=object)
    out = names[a, c]
    out[np.isnan(adi)] = "none"
    return out


def _changes_rows(
    kind: str,
    ids: np.ndarray,
    dimension: str,
    prev: np.ndarray,
    held: np.ndarray,
    labels: tuple[Any, ...],
    reasons: list[str],
) -> list[tuple[Any, ...]]:
    idx = np.flatnonzero((prev >= 0) & (prev != held))
    return [(kind, ids[i], dimension, labels[prev[i]], labels[held[i]], reasons[i]) for i in idx]


# --------------------------------------------------------------------------- segment


def _as_previous(
    previous: Segmentation | Mapping[str, pd.DataFrame] | None,
) -> Segmentation | None:
    if previous is None or isinstance(previous, Segmentation):
        return previous
    if isinstance(previous, Mapping):
        return Segmentation.from_frames(previous)
    raise InstanceError(
        f"previous must be a Segmentation or a mapping of frames, got {type(previous).__name__}.",
        field="previous",
    )


def segment(
    history: pd.DataFrame | str | Path,
    *,
    config: SegmentationConfig | str | Path | None = None,
    previous: Segmentation | Mapping[str, pd.DataFrame] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Segmentation:
    """Segment items (ABC / XYZ / intermittency) and customers, stably across reruns.

    Parameters
    ----------
    history
        Order lines (DataFrame, CSV or parquet path); columns in :mod:`.history`.
    config
        Thresholds, margin, N, period, value basis, returns rule, customer rules, policy
        (a :class:`SegmentationConfig`, or the path of a YAML file holding one).
        Defaults: weekly periods, revenue, ABC 80/95 %, XYZ 0.5/1.0, ADI 1.32 / CV² 0.49,
        margin 5 %, N = 3, ``returns="net"``.
    previous
        Result of the previous run (or its :meth:`Segmentation.to_frames`); without it every
        class is the raw class of this run.
    overrides
        Customer id → segment. A pinned customer gets that segment whatever its metrics.

    Returns
    -------
    Segmentation

    Raises
    ------
    InstanceError
        Bad history (see :func:`~optim.segmentation.history.prepare_history`), an override
        naming an unknown customer or segment, or a malformed ``previous``.
    """
    if isinstance(config, str | Path):
        config = SegmentationConfig.from_yaml(config)
    elif config is not None and not isinstance(config, SegmentationConfig):
        raise TypeError(  # (5 ended in "'int' object has no attribute 'period'")
            "config must be a SegmentationConfig or the path of its YAML file, not "
            f"{type(config).__name__}"
        )
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(
            f"overrides must be a mapping of customer to segment, not {type(overrides).__name__}"
        )
    cfg = config if config is not None else SegmentationConfig()
    prev_seg = _as_previous(previous)
    hist = prepare_history(
        history, period=cfg.period, value_basis=cfg.value_basis, returns=cfg.returns
    )
    value_col = cfg.value_basis

    # ---- items
    it = item_metrics(hist, value_col)
    ids = it["item"].to_numpy(dtype=object)
    prev_items = prev_seg.items if prev_seg is not None else None
    dims: dict[str, dict[str, Any]] = {}
    for name, col, labels, metric_col, thresholds, closed, metric_name in (
        ("abc", "abc", ABC_LABELS, "cum_share_before", cfg.abc_thresholds, "left",
         "cum_share_before"),
        ("xyz", "xyz", XYZ_LABELS, "cv", cfg.xyz_thresholds, "right", "cv"),
        ("intermittent", "intermittent", INT_LABELS, "adi", (cfg.adi_threshold,), "left",
         "adi"),
    ):  # fmt: skip
        prev, prev_runs = _previous_state(prev_items, ids, "item", col, labels, f"{name}_runs")
        metric = it[metric_col].to_numpy(dtype=float)
        raw, st = _ordered_dimension(metric, thresholds, closed, prev, prev_runs, cfg)
        reasons = _dimension_reasons(
            st, prev, raw, labels, name, metric_name, metric, thresholds, cfg
        )
        dims[name] = {"labels": labels, "prev": prev, "raw": raw, "st": st, "reasons": reasons}

    labels_of = {k: np.asarray(d["labels"], dtype=object) for k, d in dims.items()}
    it["abc"] = labels_of["abc"][dims["abc"]["st"].held]
    it["xyz"] = labels_of["xyz"][dims["xyz"]["st"].held]
    it["intermittent"] = dims["intermittent"]["st"].held.astype(bool)
    it["pattern"] = _pattern(it["adi"].to_numpy(float), it["cv2"].to_numpy(float), cfg)
    it["class"] = it["abc"] + it["xyz"]
    changed = np.zeros(len(it), dtype=bool)
    for d in dims.values():
        changed |= (d["prev"] >= 0) & (d["prev"] != d["st"].held)
    it["changed"] = changed
    it["reason"] = _join_reasons(
        [d["reasons"] for d in dims.values()], dims["abc"]["prev"], prev_seg is not None, "item"
    )
    for name, d in dims.items():
        raw_labels = labels_of[name][d["raw"]]
        it[f"{name}_raw"] = raw_labels.astype(bool) if name == "intermittent" else raw_labels
        it[f"{name}_runs"] = d["st"].runs.astype(np.int64)
    items = it[ITEM_COLUMNS].reset_index(drop=True)

    # ---- customers
    # a rule's channel no order line has selects nobody: a typo (key_acount) made every
    # customer of that rule transactional, exit 0
    channels = set(hist.lines["channel"].astype(str))
    for k, rule in enumerate(cfg.customer_rules):
        unknown = sorted(set(rule.channels or ()) - channels)
        if unknown:
            raise InstanceError(
                f"customer_rules[{k}].channels: {unknown[0]!r} is not a channel of any order "
                f"line; allowed: {', '.join(sorted(channels)[:10])}.",
                field=f"customer_rules[{k}].channels",
            )
    cu = customer_metrics(hist, value_col)
    cids = cu["customer"].to_numpy(dtype=object)
    segs = cfg.customer_segments
    pins = _check_overrides(overrides, cids, segs)
    raw = apply_rules(cu, cfg.customer_rules, segs, cfg.default_segment)
    lo = apply_rules(cu, cfg.customer_rules, segs, cfg.default_segment, loosen=cfg.margin)
    hi = apply_rules(cu, cfg.customer_rules, segs, cfg.default_segment, loosen=-cfg.margin)
    prev_c, prev_runs_c = _previous_state(
        prev_seg.customers if prev_seg is not None else None,
        cids,
        "customer",
        "segment",
        segs,
        "segment_runs",
    )
    st = stabilise(raw, lo, hi, prev_c, prev_runs_c, cfg.consecutive_runs)
    held, runs = st.held.copy(), st.runs.copy()
    pinned = np.array([c in pins for c in cids], dtype=bool)
    for i in np.flatnonzero(pinned):
        held[i], runs[i] = segs.index(pins[cids[i]]), 0
    reasons = _customer_reasons(st, prev_c, raw, cu, cfg)
    for i in np.flatnonzero(pinned):
        reasons[i] = f"pinned to {pins[cids[i]]} by override"
    cu["segment"] = np.asarray(segs, dtype=object)[held]
    cu["pinned"] = pinned
    cu["changed"] = (prev_c >= 0) & (prev_c != held)
    joined = _join_reasons([reasons], prev_c, prev_seg is not None, "customer")
    cu["reason"] = [reasons[i] if pinned[i] else r for i, r in enumerate(joined)]
    cu["segment_raw"] = np.asarray(segs, dtype=object)[raw]
    cu["segment_runs"] = runs.astype(np.int64)
    customers = cu[CUSTOMER_COLUMNS].reset_index(drop=True)

    # ---- changes
    rows: list[tuple[Any, ...]] = []
    if prev_seg is not None:
        for name, d in dims.items():
            rows += _changes_rows(
                "item", ids, name, d["prev"], d["st"].held, d["labels"], d["reasons"]
            )
        rows += _changes_rows("customer", cids, "segment", prev_c, held, segs, reasons)
        rows += _new_and_dropped("item", ids, prev_seg.items["item"].astype(str).to_numpy())
        rows += _new_and_dropped(
            "customer", cids, prev_seg.customers["customer"].astype(str).to_numpy()
        )
    changes = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    if len(changes):
        changes = changes.sort_values(["kind", "id", "dimension"], kind="stable")
        changes = changes.reset_index(drop=True)

    info = {
        "run": int(prev_seg.info.get("run", 1)) + 1 if prev_seg is not None else 1,
        "period": cfg.period,
        "periods": {
            "n": len(hist.periods),
            "first": hist.periods[0].strftime("%Y-%m-%d"),
            "last": hist.periods[-1].strftime("%Y-%m-%d"),
        },
        "value_basis": cfg.value_basis,
        "has_margin": hist.has_margin,
        "returns": hist.returns,
        "counts": {
            "abc": {k: int(v) for k, v in items["abc"].value_counts().sort_index().items()},
            "xyz": {k: int(v) for k, v in items["xyz"].value_counts().sort_index().items()},
            "intermittent": int(items["intermittent"].sum()),
            "segment": {
                k: int(v) for k, v in customers["segment"].value_counts().sort_index().items()
            },
        },
        "changes": len(changes),
    }
    return Segmentation(
        items=items,
        customers=customers,
        changes=changes,
        policy=cfg.policy.to_frame(),
        config=cfg,
        info=info,
        history=hist,
    )


def _join_reasons(
    per_dim: list[list[str]], prev: np.ndarray, has_previous: bool, kind: str
) -> list[str]:
    out = []
    for i in range(len(prev)):
        if not has_previous:
            out.append("initial run")
        elif prev[i] < 0:
            out.append(f"new {kind}")
        else:
            out.append("; ".join(r[i] for r in per_dim if r[i]))
    return out


def _customer_reasons(
    st: Stabilised, prev: np.ndarray, raw: np.ndarray, cu: pd.DataFrame, cfg: SegmentationConfig
) -> list[str]:
    segs, m, n_runs = cfg.customer_segments, cfg.margin, cfg.consecutive_runs
    before = cu["cum_share_before"].to_numpy(float)
    opp = cu["orders_per_period"].to_numpy(float)
    out = [""] * len(raw)
    for i in np.flatnonzero(st.how != "same"):
        how, h, p, r = st.how[i], int(st.held[i]), int(prev[i]), int(raw[i])
        facts = f"cum_share_before {_fmt(before[i])}, orders_per_period {_fmt(opp[i])}"
        if how == MARGIN:
            verb = "tightened" if h < p else "loosened"
            out[i] = (
                f"segment {segs[p]}→{segs[h]}: rules give {segs[h]} even with thresholds "
                f"{verb} by {m:g} ({facts})"
            )
        elif how == RUNS:
            out[i] = (
                f"segment {segs[p]}→{segs[h]}: raw segment {segs[r]} for {n_runs} "
                f"consecutive runs ({facts})"
            )
        elif how == HOLD:
            out[i] = (
                f"segment held {segs[h]}: raw {segs[r]} within margin ({facts}), "
                f"run {int(st.runs[i])} of {n_runs}"
            )
    return out


def _check_overrides(
    overrides: Mapping[str, str] | None, customers: np.ndarray, segments: tuple[str, ...]
) -> dict[str, str]:
    if overrides is None:
        return {}
    known = set(customers.tolist())
    pins: dict[str, str] = {}
    for cust, seg in overrides.items():
        c = str(cust)
        if c not in known:
            raise InstanceError(
                f"customer {c!r} is pinned but has no order lines in the history; allowed: a "
                "customer of the history (a pin for a typo would pin nobody).",
                field=f"overrides.{c}",
            )
        if seg not in segments:
            raise InstanceError(
                f"customer {c!r} is pinned to {seg!r}; {seg!r} is not a customer segment; "
                f"allowed: {', '.join(segments)}.",
                field=f"overrides.{c}",
            )
        pins[c] = seg
    return pins


def _new_and_dropped(kind: str, ids: np.ndarray, prev_ids: np.ndarray) -> list[tuple[Any, ...]]:
    now, before = set(ids.tolist()), set(prev_ids.tolist())
    rows: list[tuple[Any, ...]] = [
        (kind, i, "all", None, "present", f"new {kind}") for i in sorted(now - before)
    ]
    rows += [
        (kind, i, "all", "present", None, f"{kind} has no order lines in this history")
        for i in sorted(before - now)
    ]
    return rows
