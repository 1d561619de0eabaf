"""Policy table defaults, YAML editing and config loading."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from optim.errors import InstanceError
from optim.segmentation import PolicyTable, SegmentationConfig, default_policy, segment
from optim.segmentation.policy import POLICY_COLUMNS

RANGES = {  # the industry table of the issue
    "strategic": (0.98, 0.99),
    "A": (0.98, 0.99),
    "standard": (0.92, 0.95),
    "B": (0.92, 0.95),
    "transactional": (0.85, 0.90),
    "C": (0.85, 0.90),
}


def test_default_policy_follows_industry_table() -> None:
    table = default_policy()
    frame = table.to_frame()
    assert list(frame.columns) == POLICY_COLUMNS
    assert set(frame["segment"]) == set(RANGES)
    for seg, (lo, hi) in RANGES.items():
        assert lo <= table.segments[seg].service_level <= hi
    assert "collaborative" in table.segments["strategic"].forecasting
    assert "statistical" in table.segments["B"].forecasting
    assert "min/max" in table.segments["C"].forecasting
    tiers = [table.segments[s].rationing_tier for s in ("strategic", "standard", "transactional")]
    assert tiers == sorted(tiers) and len(set(tiers)) == 3


def test_combine_rule() -> None:
    table = default_policy()
    cell = table.combine_rows("C", "strategic")
    assert cell["service_level"] == table.segments["strategic"].service_level
    assert cell["rationing_tier"] == 1
    assert cell["forecasting"] == table.segments["C"].forecasting
    cell = table.combine_rows("A", "transactional")
    assert cell["service_level"] == table.segments["A"].service_level
    assert cell["max_service_time_days"] == table.segments["A"].max_service_time_days
    assert cell["fair_share"] == table.segments["transactional"].fair_share
    with pytest.raises(InstanceError, match="no row for segment 'D'"):
        table.combine_rows("D", "strategic")


def test_edited_yaml_policy_is_used(tmp_path) -> None:
    data = default_policy().model_dump(mode="json")
    data["segments"]["strategic"]["service_level"] = 0.995
    data["segments"]["standard"]["fair_share"] = "weighted"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    table = PolicyTable.from_yaml(path)
    cfg = SegmentationConfig(policy=table)
    df = _tiny()
    pol = segment(df, config=cfg).policy.set_index("segment")
    assert pol.loc["strategic", "service_level"] == 0.995
    assert pol.loc["standard", "fair_share"] == "weighted"


def test_config_yaml_round_trip_and_policy_path(tmp_path) -> None:
    cfg = SegmentationConfig(margin=0.1, consecutive_runs=4, abc_thresholds=(0.7, 0.9))
    path = tmp_path / "cfg.yaml"
    path.write_text(cfg.to_yaml())
    assert SegmentationConfig.from_yaml(path) == cfg
    # policy given as a path relative to the config file
    (tmp_path / "pol.yaml").write_text(yaml.safe_dump(default_policy().model_dump(mode="json")))
    (tmp_path / "cfg2.yaml").write_text("period: W\nmargin: 0.02\npolicy: pol.yaml\n")
    cfg2 = SegmentationConfig.from_yaml(tmp_path / "cfg2.yaml")
    assert cfg2.margin == 0.02 and cfg2.policy == default_policy()


def test_bad_policy_and_config_values_are_named() -> None:
    data = default_policy().model_dump(mode="json")
    data["segments"]["A"]["fair_share"] = "random"
    with pytest.raises(InstanceError, match=r"segments\.A\.fair_share: .*'random'"):
        PolicyTable.model_validate(data)
    data = default_policy().model_dump(mode="json")
    del data["segments"]["B"]
    with pytest.raises(InstanceError, match=r"no row for segment\(s\) B; allowed: a policy row"):
        SegmentationConfig(policy=PolicyTable.model_validate(data))
    with pytest.raises(InstanceError, match="abc_thresholds"):
        SegmentationConfig(abc_thresholds=(0.95, 0.8))
    with pytest.raises(InstanceError, match="period 'fortnight'"):
        SegmentationConfig(period="fortnight")
    with pytest.raises(InstanceError, match="less important than default_segment"):
        SegmentationConfig(
            default_segment="standard",
            customer_rules=({"segment": "transactional", "channels": ("web",)},),
        )
    with pytest.raises(InstanceError, match="treshold: Extra inputs are not permitted"):
        SegmentationConfig(treshold=0.5)


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-09"],
            "customer": ["c1", "c2"],
            "item": ["i1", "i2"],
            "quantity": [1, 2],
            "unit_price": [3.0, 4.0],
        }
    )


def test_pattern_overrides_change_methods_not_targets() -> None:
    table = default_policy()
    a = table.segments["A"]
    lumpy = table.item_row("A", "lumpy")
    assert "make-to-order" in lumpy.forecasting and lumpy.review_frequency == "monthly"
    assert (lumpy.service_level, lumpy.max_service_time_days) == (
        a.service_level,
        a.max_service_time_days,
    )
    assert table.item_row("A", "smooth") == a  # no rule for smooth: the class row
    assert table.item_row("A", "none") == a  # items without demand
    inter = table.item_row("B", "intermittent")
    assert "Croston" in inter.forecasting
    assert inter.review_frequency == table.segments["B"].review_frequency  # not overridden
    cell = table.combine_rows("C", "strategic", "lumpy")
    assert cell["forecasting"] == table.item_row("C", "lumpy").forecasting
    assert cell["service_level"] == table.segments["strategic"].service_level


def test_unknown_pattern_in_yaml_is_named(tmp_path) -> None:
    data = default_policy().model_dump(mode="json")
    data["patterns"]["sporadic"] = {"forecasting": "x"}
    with pytest.raises(InstanceError, match=r"patterns\.sporadic"):
        PolicyTable.model_validate(data)


def test_item_policy_table_follows_class_and_pattern() -> None:
    """Every item's row, recomputed by hand from the class row and the pattern rule."""
    from optim.instances.generators.history import generate_history

    seg = segment(generate_history(1, n_items=60, n_customers=30, weeks=40))
    table = seg.config.policy
    pol = seg.item_policy()
    assert list(pol["item"]) == list(seg.items["item"])
    assert {"intermittent", "lumpy"} & set(pol["pattern"])  # the seed has both kinds
    for row in pol.itertuples(index=False):
        base = table.segments[row.abc]
        rule = table.patterns.get(row.pattern)
        want = base.forecasting if rule is None or rule.forecasting is None else rule.forecasting
        assert row.forecasting == want
        assert row.service_level == base.service_level


def test_service_measure_column_is_computed_and_overridable(tmp_path) -> None:
    """The policy table's service_measure: the default rule (cycle_service) where a row gives
    none, the row's own where it does; "max" takes cycle_service if either row has it; a
    pattern's measure wins over both rows; the cell reaches the demand statistics."""
    from optim.segmentation.policy import DEFAULT_SERVICE_MEASURE

    table = default_policy()
    frame = table.to_frame().set_index("segment")
    assert DEFAULT_SERVICE_MEASURE == "cycle_service"
    assert (frame["service_measure"] == "cycle_service").all()
    assert all(row.service_measure is None for row in table.segments.values())  # computed

    data = default_policy().model_dump(mode="json")
    data["segments"]["transactional"]["service_measure"] = "fill_rate"
    data["segments"]["C"]["service_measure"] = "fill_rate"
    data["patterns"]["lumpy"]["service_measure"] = "fill_rate"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    edited = PolicyTable.from_yaml(path)
    assert edited.to_frame().set_index("segment").loc["transactional", "service_measure"] == (
        "fill_rate"
    )
    assert edited.combine_rows("C", "transactional")["service_measure"] == "fill_rate"
    assert edited.combine_rows("B", "transactional")["service_measure"] == "cycle_service"
    assert edited.combine_rows("C", "strategic")["service_measure"] == "cycle_service"
    assert edited.combine_rows("A", "strategic", "lumpy")["service_measure"] == "fill_rate"
    assert edited.item_row("A", "lumpy").measure == "fill_rate"
    customer = edited.model_copy(update={"combine": "customer"})
    assert customer.combine_rows("A", "transactional")["service_measure"] == "fill_rate"

    from optim.instances.generators.history import generate_history

    seg = segment(generate_history(1, n_items=40, n_customers=20, weeks=30),
                  config=SegmentationConfig(policy=edited))  # fmt: skip
    stats = seg.demand_stats(("item", "segment"))
    items = seg.items.set_index("item")
    for row in stats.itertuples(index=False):
        key = (items.loc[row.item, "abc"], row.segment, items.loc[row.item, "pattern"])
        assert row.service_measure == edited.combine_rows(*key)["service_measure"]
    assert set(stats["service_measure"]) == {"cycle_service", "fill_rate"}


def test_unknown_service_measure_is_named(tmp_path) -> None:
    data = default_policy().model_dump(mode="json")
    data["segments"]["standard"]["service_measure"] = "sometimes"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InstanceError, match=r"segments\.standard\.service_measure: .*'sometimes'"):
        PolicyTable.from_yaml(path)
    data = default_policy().model_dump(mode="json")
    data["patterns"]["lumpy"]["service_measure"] = "otif"
    with pytest.raises(InstanceError, match=r"patterns\.lumpy\.service_measure: .*'otif'"):
        PolicyTable.model_validate(data)
