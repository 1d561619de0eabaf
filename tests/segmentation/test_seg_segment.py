"""End to end: determinism, serialisation round trips, previous fed back, realistic reruns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from optim.errors import InstanceError
from optim.instances.generators.history import generate_history
from optim.segmentation import Segmentation, SegmentationConfig, segment


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """A small generated history: 40 items, 15 customers, 30 weeks, with returns."""
    return generate_history(11, n_items=40, n_customers=15, weeks=30, return_rate=0.03)


def test_same_input_identical_frames_even_shuffled(history: pd.DataFrame) -> None:
    a = segment(history)
    b = segment(history.copy())
    c = segment(history.sample(frac=1.0, random_state=3))
    for other in (b, c):
        for name in ("items", "customers", "changes", "policy"):
            pd.testing.assert_frame_equal(getattr(a, name), getattr(other, name))
        pd.testing.assert_frame_equal(a.demand_stats(), other.demand_stats())
    assert a.to_json() == b.to_json() == c.to_json()


def test_contract_columns(history: pd.DataFrame) -> None:
    seg = segment(history)
    items = ["item", "value", "share", "cum_share", "abc", "cv", "xyz", "adi", "cv2"]
    items += ["intermittent", "class", "changed", "reason"]
    assert set(items) <= set(seg.items.columns)
    customers = ["customer", "value", "orders_per_period", "channel", "segment", "pinned"]
    customers += ["changed", "reason"]
    assert set(customers) <= set(seg.customers.columns)
    assert list(seg.changes.columns) == [
        "kind",
        "id",
        "dimension",
        "previous",
        "current",
        "reason",
    ]
    assert seg.items["item"].is_unique and seg.customers["customer"].is_unique
    assert seg.info["returns"]["policy"] == "net" and seg.info["returns"]["negative_lines"] > 0


def test_round_trips_feed_previous(history: pd.DataFrame) -> None:
    seg = segment(history)
    via_json = Segmentation.from_json(seg.to_json())
    via_frames = Segmentation.from_frames(seg.to_frames())
    for rebuilt in (via_json, via_frames):
        for name in ("items", "customers", "policy"):
            pd.testing.assert_frame_equal(getattr(rebuilt, name), getattr(seg, name))
        assert rebuilt.config == seg.config and rebuilt.info == seg.info
    pd.testing.assert_frame_equal(via_frames.demand_stats(), seg.demand_stats())
    # the same history against itself: nothing changes, run counter advances
    for prev in (seg, via_json, via_frames, seg.to_frames()):
        again = segment(history, previous=prev)
        assert again.changes.empty and not again.items["changed"].any()
        assert again.info["run"] == 2


def test_json_file_path(tmp_path, history: pd.DataFrame) -> None:
    seg = segment(history)
    path = tmp_path / "seg.json"
    path.write_text(seg.to_json())
    assert json.loads(path.read_text())["info"]["run"] == 1
    pd.testing.assert_frame_equal(Segmentation.from_json(path).items, seg.items)


def test_malformed_previous_is_named(history: pd.DataFrame) -> None:
    seg = segment(history)
    items = seg.items.copy()
    items.loc[0, "abc"] = "D"
    with pytest.raises(InstanceError, match=r"'abc' holds 'D'"):
        segment(history, previous={"items": items, "customers": seg.customers})
    with pytest.raises(InstanceError, match="lack the 'customers' table"):
        segment(history, previous={"items": seg.items})
    with pytest.raises(InstanceError, match="previous must be"):
        segment(history, previous=42)  # type: ignore[arg-type]


def test_weekly_rolling_reruns_flap_less_than_without_stability() -> None:
    """Rolling 26-week window moved 1 week at a time, 8 reruns: count class reversals."""
    df = generate_history(7, n_items=80, n_customers=30, weeks=34)
    start = df["date"].min()

    def reversals(cfg: SegmentationConfig) -> tuple[int, int]:
        prev, rows = None, []
        for k in range(9):
            lo = start + pd.Timedelta(weeks=k)
            window = df[(df["date"] >= lo) & (df["date"] < lo + pd.Timedelta(weeks=26))]
            seg = segment(window, config=cfg, previous=prev)
            rows.append(seg.changes[seg.changes["dimension"] != "all"])
            prev = seg
        ch = pd.concat(rows)
        back = 0
        for _, g in ch.groupby(["kind", "id", "dimension"]):
            states = [str(g["previous"].iloc[0]), *map(str, g["current"])]
            back += sum(states[i] == states[i + 2] for i in range(len(states) - 2))
        return len(ch), back

    stable = reversals(SegmentationConfig())
    raw = reversals(SegmentationConfig(margin=0.0, consecutive_runs=1))
    assert stable[0] < raw[0]
    assert stable[1] < raw[1]


def test_config_from_yaml_path_and_summary(tmp_path, history: pd.DataFrame) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("margin: 0.1\nconsecutive_runs: 2\nvalue_basis: margin\n")
    seg = segment(history, config=path)
    assert seg.config.margin == 0.1 and seg.info["value_basis"] == "margin"
    text = seg.summary()
    assert text.startswith("segmentation run 1:") and "returns       net:" in text
    assert f"{len(seg.items)} items" in text


def test_a_period_shorter_than_a_day_is_refused_by_name() -> None:
    """period: ms built a period per millisecond of the history (MemoryError, exit 1); 's'
    two million periods for three weeks."""
    import pytest

    from optim.errors import InstanceError
    from optim.segmentation import SegmentationConfig

    for alias in ("ms", "s", "h", "12h"):
        with pytest.raises(InstanceError, match=f"period '{alias}' is shorter than a day"):
            SegmentationConfig(period=alias)
    assert SegmentationConfig(period="D").period == "D"


def test_a_multiple_period_is_refused_by_name() -> None:
    """period: 2W bucketed each date into a two-week period starting at its own week: an
    item had 104 "nonzero periods" in two years, CVs were empty and classes nonsense."""
    import pytest

    from optim.errors import InstanceError
    from optim.segmentation import SegmentationConfig

    for alias, n in (("2W", 2), ("7D", 7), ("2D", 2), ("3M", 3)):
        with pytest.raises(InstanceError, match=rf"period '{alias}' is a multiple \({n} units\)"):
            SegmentationConfig(period=alias)
    assert SegmentationConfig(period="W-MON").period == "W-MON"


def test_a_customer_rule_on_a_channel_no_line_has_is_refused(history: pd.DataFrame) -> None:
    """channels: [key_acount] (a typo) selected nobody: every customer of the rule became
    transactional, exit 0."""
    import pytest

    from optim.errors import InstanceError
    from optim.segmentation import SegmentationConfig, segment
    from optim.segmentation.config import CustomerRule

    config = SegmentationConfig(
        customer_rules=(CustomerRule(segment="strategic", channels=("key_acount",)),)
    )
    with pytest.raises(InstanceError, match=r"customer_rules\[0\]\.channels: 'key_acount'"):
        segment(history, config=config)
    # channels: [] selected nobody either, without a word
    from pydantic import ValidationError

    with pytest.raises((ValidationError, InstanceError), match="channels is empty"):
        CustomerRule(segment="strategic", channels=())
