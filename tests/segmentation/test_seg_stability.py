"""Stability: margin band and N-consecutive-runs rule (hypothesis), through the pure rule
and end to end through `segment` with `previous`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.segmentation import Segmentation, SegmentationConfig, segment
from optim.segmentation.stability import band_index, class_index, stabilise

T = (0.8, 0.95)


def _run_sequence(metrics: list[float], margin: float, n: int, closed: str = "left") -> list[int]:
    """Held class index after each run for one entity whose metric follows `metrics`."""
    prev, runs, held = np.array([-1]), np.array([0]), []
    for x in metrics:
        m = np.array([x])
        raw = class_index(m, T, closed)
        lo, hi = band_index(m, T, margin, closed)
        s = stabilise(raw, lo, hi, prev, runs, n)
        prev, runs = s.held, s.runs
        held.append(int(s.held[0]))
    return held


# up to 8 %: the A/B band [.8(1-m), .8(1+m)) stays clear of the B/C band
margins = st.floats(min_value=0.01, max_value=0.08)


@settings(max_examples=200, deadline=None)
@given(margin=margins, data=st.data())
def test_oscillation_within_margin_never_flips(margin: float, data) -> None:
    t = T[0]
    inside = st.floats(min_value=t * (1 - margin) + 1e-6, max_value=t * (1 + margin) - 1e-6)
    seq = data.draw(st.lists(inside, min_size=2, max_size=30))
    held = _run_sequence(seq, margin, n=len(seq) + 1)
    assert len(set(held)) == 1


@settings(max_examples=200, deadline=None)
@given(margin=margins, n=st.integers(2, 6), data=st.data())
def test_alternating_sides_never_flips_for_any_n(margin: float, n: int, data) -> None:
    # the value never stays on the other side for 2 consecutive runs -> N >= 2 never fires
    t = T[0]
    below = st.floats(min_value=t * (1 - margin) + 1e-6, max_value=t - 1e-6)
    above = st.floats(min_value=t + 1e-6, max_value=t * (1 + margin) - 1e-6)
    k = data.draw(st.integers(1, 15))
    seq = [v for _ in range(k) for v in (data.draw(below), data.draw(above))]
    assert len(set(_run_sequence(seq, margin, n))) == 1


@settings(max_examples=200, deadline=None)
@given(margin=margins, n=st.integers(1, 8), data=st.data())
def test_n_consecutive_runs_flip_exactly_at_run_n(margin: float, n: int, data) -> None:
    t = T[0]
    start = data.draw(st.floats(min_value=0.0, max_value=t * (1 - margin) - 1e-6))  # clearly A
    across = st.floats(min_value=t + 1e-6, max_value=t * (1 + margin) - 1e-6)  # B, in band
    seq = [start] + [data.draw(across) for _ in range(n + 2)]
    held = _run_sequence(seq, margin, n)
    # run 0 sets A; runs 1..n-1 hold A; run n flips to B and it stays B
    assert held[:n] == [0] * n
    assert held[n:] == [1] * (len(seq) - n)


@settings(max_examples=200, deadline=None)
@given(margin=margins, n=st.integers(1, 8), data=st.data())
def test_beyond_margin_flips_at_once(margin: float, n: int, data) -> None:
    t = T[0]
    start = data.draw(st.floats(min_value=0.0, max_value=t * (1 - margin) - 1e-6))
    far = data.draw(st.floats(t * (1 + margin) + 1e-6, T[1] * (1 - margin) - 1e-6))
    assert _run_sequence([start, far], margin, n) == [0, 1]


@settings(max_examples=100, deadline=None)
@given(
    metrics=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    margin=st.floats(0.0, 0.3),
    prev=st.lists(st.integers(-1, 2), min_size=20, max_size=20),
    runs=st.lists(st.integers(0, 5), min_size=20, max_size=20),
    n=st.integers(1, 6),
)
def test_held_class_always_inside_band(metrics, margin, prev, runs, n) -> None:
    m = np.array(metrics)
    k = len(m)
    raw = class_index(m, T, "left")
    lo, hi = band_index(m, T, margin, "left")
    assert np.all(lo <= raw) and np.all(raw <= hi)
    s = stabilise(raw, lo, hi, np.array(prev[:k]), np.array(runs[:k]), n)
    assert np.all(lo <= s.held) and np.all(s.held <= hi)
    if margin == 0.0:
        assert np.array_equal(s.held, raw)


# ------------------------------------------------------------------ end to end via segment


def _two_items(share_p: float) -> pd.DataFrame:
    """Items P and Q with P's value share `share_p`: Q's cum_share_before = share_p."""
    return pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-01"],
            "customer": ["c1", "c1"],
            "item": ["P", "Q"],
            "quantity": [1, 1],
            "unit_price": [1000.0 * share_p, 1000.0 * (1 - share_p)],
        }
    )


@settings(max_examples=15, deadline=None)
@given(
    shares=st.lists(st.floats(min_value=0.761, max_value=0.839), min_size=2, max_size=6),
    to_json=st.booleans(),
)
def test_segment_reruns_do_not_flap_within_margin(shares: list[float], to_json: bool) -> None:
    cfg = SegmentationConfig(margin=0.05, consecutive_runs=len(shares) + 1)
    prev = None
    classes = []
    for s in shares:
        seg = segment(_two_items(s), config=cfg, previous=prev)
        q = seg.items.set_index("item").loc["Q"]
        classes.append(q["abc"])
        assert seg.changes.empty
        prev = Segmentation.from_json(seg.to_json()) if to_json else seg
    assert len(set(classes)) == 1


def test_segment_flip_at_run_n_lists_the_change_and_why() -> None:
    cfg = SegmentationConfig(margin=0.05, consecutive_runs=3)
    seg = segment(_two_items(0.70), config=cfg)  # Q: cum_before .70 < .76 -> A
    assert seg.items.set_index("item").loc["Q", "abc"] == "A"
    for run in (1, 2, 3):
        seg = segment(_two_items(0.82), config=cfg, previous=seg)  # in band, B side
        q = seg.items.set_index("item").loc["Q"]
        if run < 3:
            assert q["abc"] == "A" and q["abc_raw"] == "B" and q["abc_runs"] == run
            assert not q["changed"] and f"run {run} of 3" in q["reason"]
            assert seg.changes.empty
        else:
            assert q["abc"] == "B" and q["changed"] and q["abc_runs"] == 0
            (row,) = seg.changes.itertuples(index=False)
            assert (row.kind, row.id, row.dimension, row.previous, row.current) == (
                "item",
                "Q",
                "abc",
                "A",
                "B",
            )
            assert "3 consecutive runs" in row.reason


def test_segment_margin_crossing_changes_at_once_with_reason() -> None:
    cfg = SegmentationConfig(margin=0.05, consecutive_runs=3)
    first = segment(_two_items(0.70), config=cfg)
    seg = segment(_two_items(0.90), config=cfg, previous=first)  # .90 >= .84 -> B now
    q = seg.items.set_index("item").loc["Q"]
    assert q["abc"] == "B" and q["changed"]
    assert "beyond 0.8·(1+0.05) = 0.84" in q["reason"]
    assert seg.info["run"] == 2


def test_new_and_dropped_items_are_listed() -> None:
    first = segment(_two_items(0.7))
    df = _two_items(0.7).replace({"item": {"P": "P2"}})
    seg = segment(df, previous=first.to_frames())
    ch = seg.changes[seg.changes["dimension"] == "all"]
    assert sorted(zip(ch["id"], ch["reason"], strict=True)) == [
        ("P", "item has no order lines in this history"),
        ("P2", "new item"),
    ]
