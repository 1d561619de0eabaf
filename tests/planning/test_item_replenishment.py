"""Replenishment parameters of the planning run: policy type from the policy table, numbers
per item × location, each simulated against its segment's target."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import optim
from optim import planning
from optim.instances.safety_stock import SafetyStockInstance
from optim.planning.builders import (
    make_to_order_demands,
    make_to_order_items,
    replenishment_times,
)
from optim.planning.distributor import ORDERING_COST, distributor_example
from optim.planning.replenishment import (
    REPLENISHMENT_COLUMNS,
    replenishment_parameters,
    review_periods,
)

SMALL = {"n_items": 40, "n_customers": 25, "weeks": 60}


@pytest.fixture(scope="module")
def run():
    return planning.run(distributor_example(5, **SMALL))


@pytest.mark.parametrize(
    ("text", "days", "periods"),
    [
        ("weekly", 7, 1),
        ("biweekly", 7, 2),
        ("Fortnightly review", 7, 2),
        ("monthly", 7, 4),
        ("quarterly", 7, 13),
        ("every 3 weeks", 7, 3),
        ("every 10 days", 7, 1),
        ("daily", 7, 1),
        ("monthly", 1, 28),
    ],
)
def test_review_frequency_text_to_whole_periods(text, days, periods):
    assert review_periods(text, days) == (periods, "")


def test_unknown_review_frequency_is_one_period_with_a_note():
    periods, note = review_periods("when the buyer feels like it", 7)
    assert periods == 1 and "not understood" in note


def test_every_item_location_has_numbers_and_every_stocked_one_meets_its_target(run):
    table = run.tables["replenishment"]
    assert list(table.columns) == REPLENISHMENT_COLUMNS
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    stages = {d.stage for d in inst.demands}
    mto = make_to_order_items(run.segmentation)
    made = make_to_order_demands(run.segmentation, run.data.network, mto)
    assert set(table["item"] + "@" + table["location"]) == stages | set(
        made["item"] + "@" + made["stage"]
    )
    assert set(table["policy"]) <= {"base stock", "min/max", "make-to-order"}
    stocked = table[table["policy"] != "make-to-order"]
    assert len(stocked) and stocked["cycle_service"].notna().all()
    # the simulation, not a label: every stocked row is within the simultaneous margin
    assert table["meets_target"].all()
    z = 3.5
    assert (stocked["cycle_service"] >= stocked["target"] - z * stocked["cycle_service_se"]).all()
    assert (stocked["order_up_to"] >= stocked["reorder_point"]).all()


def test_policy_types_follow_the_policy_table(run):
    table = run.tables["replenishment"]
    pol = run.segmentation.item_policy().set_index("item")
    text = pol["forecasting"].reindex(table["item"]).str.lower().to_numpy()
    lumpy = table["pattern"].to_numpy() == "lumpy"
    mto = np.char.find(text.astype(str), "make-to-order") >= 0
    kinds = table["policy"].to_numpy()
    # lumpy items whose policy offers make-to-order are made to order
    assert (kinds[mto & lumpy] == "make-to-order").all()
    # items whose policy names neither min/max nor make-to-order hold base stock
    plain = ~mto & (np.char.find(text.astype(str), "min/max") < 0)
    assert (kinds[plain] == "base stock").all()
    # review period from review_frequency (weekly 1, biweekly 2, monthly 4 periods of a week)
    freq = pol["review_frequency"].reindex(table["item"]).to_numpy()
    want = pd.Series(freq).map({"weekly": 1, "biweekly": 2, "monthly": 4}).to_numpy()
    assert (table["review_period"].to_numpy() == want).all()


def test_make_to_order_holds_no_stock_and_promises_the_replenishment_time(run):
    table = run.tables["replenishment"]
    mto = table[table["policy"] == "make-to-order"]
    assert len(mto)
    assert (mto[["reorder_point", "order_up_to", "order_quantity"]] == 0).all().all()
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    lead = {s.id: s.lead_time for s in inst.stages}
    stages = run.safety_stock.tables["stages"].set_index("stage")
    lumpy = set(make_to_order_items(run.segmentation))
    # the template's times without stock: plant 1 (external) + 2, DC + 1, store + 1 week
    assert replenishment_times(run.data.network)["DC-North"] == 4.0
    assert replenishment_times(run.data.network)["R-01"] == 5.0
    n_lumpy = 0
    for row in mto.itertuples():
        stage = f"{row.item}@{row.location}"
        if row.item in lumpy:  # left out of GSM: no stock anywhere for the item
            n_lumpy += 1
            assert not stages.index.str.startswith(f"{row.item}@").any()
            want = replenishment_times(run.data.network)[row.location] * 7.0
            assert row.promise_days == pytest.approx(want)
            assert row.gsm_base_stock == 0
        else:  # the promise covers GSM's upstream service + own lead time: none held here
            assert row.promise_days == pytest.approx(
                (stages.at[stage, "inbound_service_time"] + lead[stage]) * 7.0
            )
            assert stages.at[stage, "safety_stock"] == 0
            assert stages.at[stage, "base_stock_level"] == 0
    assert n_lumpy and n_lumpy < len(mto)


def test_make_to_order_items_leave_every_other_item_unchanged(run):
    """GSM with and without the made-to-order items' demand (same σ, the history's): every
    other item's stages and stock are identical (one tree per item), and the made-to-order
    items held stock before."""
    seg = run.segmentation
    unit_cost = run.data.items.set_index("item")["unit_cost"]
    lumpy = make_to_order_items(seg)
    assert lumpy
    full = planning.build_item_safety_stock(seg, run.data.network, unit_cost)
    cut = planning.build_item_safety_stock(seg, run.data.network, unit_cost, make_to_order=lumpy)
    assert {d.stage.split("@")[0] for d in cut.demands}.isdisjoint(lumpy)
    before = optim.solve(full).tables["stages"].set_index("stage")
    after = optim.solve(cut).tables["stages"].set_index("stage")
    item = before.index.str.rsplit("@", n=1).str[0]
    kept = before[~item.isin(lumpy)]
    assert sorted(kept.index) == sorted(after.index)
    cols = ["safety_stock", "base_stock_level", "outbound_service_time", "inbound_service_time"]
    pd.testing.assert_frame_equal(after.loc[kept.index, cols], kept[cols])
    assert before.loc[item.isin(lumpy), "safety_stock"].sum() > 0  # stock the policy drops


def test_min_max_uses_the_eoq_and_the_exact_reorder_point(run):
    from scipy.stats import gamma

    table = run.tables["replenishment"]
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    h = {s.id: s.holding_cost for s in inst.stages}
    mm = table[table["policy"] == "min/max"]
    assert len(mm)
    for row in mm.itertuples():
        hold = h[f"{row.item}@{row.location}"]
        q = np.sqrt(2 * ORDERING_COST * row.mean / hold)
        assert row.eoq == pytest.approx(q) and row.order_quantity == pytest.approx(q)
        assert row.order_up_to == pytest.approx(row.reorder_point + q)
        w = row.lead_time + row.review_period - 1
        k, theta = row.mean**2 / row.std_dev**2, row.std_dev**2 / row.mean
        cdf = gamma.cdf(row.reorder_point, w * k, scale=theta) if w > 0 else 1.0
        below = gamma.cdf(row.reorder_point - 1, w * k, scale=theta) if w > 0 else 0.0
        assert cdf >= row.target > below or row.reorder_point == 0


def test_base_stock_is_gsm_s_level_raised_only_where_it_is_short(run):
    table = run.tables["replenishment"]
    bs = table[(table["policy"] == "base stock") & (table["review_period"] == 1)]
    assert len(bs)
    assert (bs["order_up_to"] >= np.ceil(bs["gsm_base_stock"] - 1e-9)).all()
    raised = bs["order_up_to"] > np.ceil(bs["gsm_base_stock"] - 1e-9)
    assert bs.loc[raised, "why"].str.contains("raised").all()
    assert (bs["reorder_point"] == bs["order_up_to"]).all()


def test_without_ordering_cost_the_quantity_is_one_review_period(run):
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    table, _ = replenishment_parameters(
        run.segmentation, inst, run.safety_stock, days_per_period=7.0, periods=200
    )
    mm = table[table["policy"] == "min/max"]
    assert mm["eoq"].isna().all()
    np.testing.assert_allclose(mm["order_quantity"], mm["mean"] * mm["review_period"])


def test_item_policy_csv_has_the_numbers(run, tmp_path):
    planning.write(run, tmp_path / "out", report=False)
    table = pd.read_csv(tmp_path / "out" / "segmentation" / "item_policy.csv")
    for col in ("location", "policy", "reorder_point", "order_up_to", "review_period",
                "cycle_service", "target", "forecasting", "review_frequency"):  # fmt: skip
        assert col in table.columns
    assert set(run.segmentation.items["item"]) == set(table["item"])
    # the made-to-order items: no stock, promised the replenishment time without stock
    made = table[table["item"].isin(make_to_order_items(run.segmentation))]
    assert len(made) and (made["policy"] == "make-to-order").all()
    assert (made[["reorder_point", "order_up_to"]] == 0).all().all()
    times = replenishment_times(run.data.network)
    np.testing.assert_allclose(made["promise_days"], made["location"].map(times) * 7.0)


def test_replenishment_table_is_seeded(run):
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    args = dict(days_per_period=7.0, ordering_cost=ORDERING_COST, periods=200)
    a, _ = replenishment_parameters(run.segmentation, inst, run.safety_stock, **args)
    b, _ = replenishment_parameters(run.segmentation, inst, run.safety_stock, **args)
    pd.testing.assert_frame_equal(a, b)


def test_random_lead_times_are_drawn_and_the_parameters_still_meet_the_target(run):
    """Stores R-01 get a lane lead time of 0 or 2 weeks (mean 1, the plan's fixed lead
    time): the parameters computed for it meet their targets in a simulation that draws each
    order's lead time, while the fixed-lead-time parameters miss there."""
    from optim.instances.safety_stock import LeadTimePoint
    from optim.models.replenishment import simulate_periodic

    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    lane = (LeadTimePoint(value=0.0, probability=0.5), LeadTimePoint(value=2.0, probability=0.5))
    stages = [
        s.model_copy(update={"lead_time_distribution": lane}) if s.id.endswith("@R-01") else s
        for s in inst.stages
    ]
    random = inst.model_copy(update={"stages": stages})
    args = dict(days_per_period=7.0, ordering_cost=ORDERING_COST, periods=1000)
    fixed, _ = replenishment_parameters(run.segmentation, inst, run.safety_stock, **args)
    drawn, _ = replenishment_parameters(run.segmentation, random, run.safety_stock, **args)
    at = (drawn["location"] == "R-01") & (drawn["policy"] != "make-to-order") & (drawn["mean"] > 0)
    assert at.sum() >= 5
    rows = drawn[at]
    si = run.safety_stock.tables["stages"].set_index("stage")
    for row in rows.itertuples():  # whole periods SI - S + v of the drawn lead times
        st = si.loc[f"{row.item}@R-01"]
        shift = st["inbound_service_time"] - st["outbound_service_time"]
        want = {max(0, int(shift)): 0.5, max(0, int(shift) + 2): 0.5}
        assert row.lead_time_distribution == " ".join(f"{k}:{p:.3g}" for k, p in want.items())
    assert rows["meets_target"].all()
    # other rows keep the fixed-lead-time parameters (their simulated figures move: the
    # drawn lead times shift the shared random stream)
    other = ~drawn["location"].eq("R-01")
    cols = ["reorder_point", "order_up_to", "lead_time_distribution"]
    pd.testing.assert_frame_equal(drawn.loc[other, cols], fixed.loc[other, cols])
    # the fixed-lead-time parameters, simulated with the drawn lead times, miss
    old = fixed[at]
    dists = [
        {int(t.split(":")[0]): float(t.split(":")[1]) for t in d.split()}
        for d in rows["lead_time_distribution"]
    ]
    sim = simulate_periodic(
        old["mean"], old["std_dev"], old["lead_time"], old["review_period"],
        old["reorder_point"], old["order_up_to"], periods=1000, replications=4, seed=0,
        lead_distribution=dists,
    )  # fmt: skip
    short = sim.cycle_service < old["target"].to_numpy() - 3 * sim.cycle_service_se
    assert short.sum() >= 3, (sim.cycle_service, old["target"].to_numpy())
    assert (rows["reorder_point"].to_numpy() >= old["reorder_point"].to_numpy()).all()
    assert (rows["reorder_point"].to_numpy()[short] > old["reorder_point"].to_numpy()[short]).all()


def _known_receipts(
    days: dict[str, list[int]] | None = None,
) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Receipts whose lead times are a known list per lane: by default Plant 20 receipts
    (12 d x 5, 14 d x 10, 15 d x 4, 20 d x 1), DC-North 10 (6 d x 3, 7 d x 6, 9 d x 1)."""
    if days is None:
        days = {
            "Plant": [12] * 5 + [14] * 10 + [15] * 4 + [20],
            "DC-North": [6] * 3 + [7] * 6 + [9],
        }
    start = pd.Timestamp("2025-01-06")
    rows = [
        (lane, start + pd.Timedelta(weeks=k), start + pd.Timedelta(weeks=k, days=d), 10.0)
        for lane, values in days.items()
        for k, d in enumerate(values)
    ]
    frame = pd.DataFrame(rows, columns=["lane", "order_date", "receipt_date", "quantity"])
    for col in ("order_date", "receipt_date"):
        frame[col] = frame[col].dt.strftime("%Y-%m-%d")
    return frame, days


def test_make_to_order_promise_is_the_brute_force_quantile_of_the_lanes_and_holds(run):
    """Lead times from receipts with a known distribution: every made-to-order promise is the
    smallest whole day within which at least the target's share of all equally likely
    receipt combinations along the path arrive (enumerated), and the simulated share of
    orders within it meets the target."""
    from optim.instances.receipts import validate_receipts
    from optim.models.safety_stock.lead_time_data import lane_lead_times
    from optim.planning.replenishment import make_to_order_paths

    frame, days = _known_receipts()
    stats = lane_lead_times(validate_receipts(frame), period_days=7.0)
    lanes = dict(zip(stats["lane"], stats["distribution"], strict=True))
    seg, network = run.segmentation, run.data.network
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    mto = make_to_order_demands(seg, network, make_to_order_items(seg))
    args = dict(days_per_period=7.0, ordering_cost=ORDERING_COST, periods=200)
    table, notes = replenishment_parameters(
        seg, inst, run.safety_stock, make_to_order=mto, network=network, lanes=lanes, **args
    )
    made = table[table["item"].isin(make_to_order_items(seg))]
    assert len(made) and (made["policy"] == "make-to-order").all()
    parent = {a["target"]: a["source"] for a in network["arcs"]}
    template = {s["id"]: [7 * s["lead_time"]] for s in network["stages"]}
    north = 0
    for row in made.itertuples():
        path, stage = [], row.location
        while stage is not None:
            path.append(stage)
            stage = parent.get(stage)
        north += "DC-North" in path
        choices = [days.get(s, template[s]) for s in path]  # each receipt equally likely
        times = sorted(7 + sum(c) for c in itertools.product(*choices))  # Plant: 1 wk external
        want = times[math.ceil(row.target * len(times) - 1e-9) - 1]
        assert row.promise_days == want, (row.item, row.location, path)
        # simulated: the share of orders within the promise meets the target
        assert row.cycle_service >= row.target - 3 * row.cycle_service_se
        assert row.meets_target
    assert north and north < len(made)  # both a lane-measured and a template DC
    assert made["why"].str.contains("lane Plant").all()
    assert not any("template's lead times" in n for n in notes)  # every path has a lane
    paths = make_to_order_paths(made, network, lanes, 7.0)
    plant = paths[paths["stage"] == "Plant"]
    assert (plant["source"] == "receipts").all() and (plant["lane"] == "Plant").all()
    assert plant["mean_days"].to_numpy() == pytest.approx(np.mean(days["Plant"]))
    assert plant["std_days"].to_numpy() == pytest.approx(np.std(days["Plant"]))
    south = paths[paths["stage"] == "DC-South"]
    assert len(south) and (south["source"] == "template").all()
    assert (south["mean_days"] == 7.0).all() and (south["std_days"] == 0.0).all()


def test_without_receipts_the_promise_is_the_template_time_with_a_note(run):
    seg, network = run.segmentation, run.data.network
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    mto = make_to_order_demands(seg, network, make_to_order_items(seg))
    table, notes = replenishment_parameters(
        seg, inst, run.safety_stock, days_per_period=7.0, periods=200,
        make_to_order=mto, network=network, lanes=None,
    )  # fmt: skip
    made = table[table["item"].isin(make_to_order_items(seg))]
    times = replenishment_times(network)
    np.testing.assert_allclose(made["promise_days"], made["location"].map(times) * 7.0)
    assert (made["cycle_service"] == 1.0).all() and made["meets_target"].all()
    assert any(
        f"make-to-order: {len(made)} promise(s) use the network template's lead times "
        "(no receipts.csv)" in n
        for n in notes
    )
    assert any("use the network template's lead times (no receipts.csv)" in n for n in run.notes)


def _stage_promises_hold(seg, inst, lanes, days):
    """GSM solved on ``inst``, replenishment parameters with ``lanes``: every row of an item
    whose policy offers make-to-order is made to order exactly when the segments' promise
    covers GSM's upstream guaranteed service time + the brute-force quantile of the stage's
    receipts (``days``; the template's 7 d without a lane) at its strictest target — then the
    promise is that whole day and the simulated on-time share agrees with the receipts and
    meets the target; otherwise it holds stock and meets its target. Returns the table, the
    notes, the made-to-order rows per location and the upstream times (days) of lane rows."""
    from optim.planning.builders import offers_make_to_order

    gsm = optim.solve(inst)
    table, notes = replenishment_parameters(
        seg, inst, gsm, days_per_period=7.0, periods=200, lanes=lanes
    )
    stages = gsm.tables["stages"].set_index("stage")
    covered: dict[str, float] = {}  # the segments' promise per item@stage, days
    for d in inst.demands:
        covered[d.stage] = min(covered.get(d.stage, math.inf), d.max_service_time * 7.0)
    text = seg.item_policy().set_index("item")["forecasting"].fillna("")
    offer = table[table["item"].map(lambda i: offers_make_to_order(str(text.get(i, ""))))]
    seen: dict[str, int] = {}
    upstream_of_lanes = []
    for row in offer.itertuples():
        stage = f"{row.item}@{row.location}"
        upstream = stages.at[stage, "inbound_service_time"] * 7.0
        choices = days.get(row.location, [7])  # no lane: the template's 1 week
        times = sorted(upstream + d for d in choices)  # each receipt equally likely
        want = math.ceil(times[math.ceil(row.target * len(times) - 1e-9) - 1] - 1e-9)
        assert row.meets_target, (stage, row.policy)
        if want > covered[stage]:  # the quantile does not fit the promise: stock is held
            assert row.policy != "make-to-order", stage
            assert row.cycle_service >= row.target - 3 * row.cycle_service_se
            continue
        seen[row.location] = seen.get(row.location, 0) + 1
        assert row.policy == "make-to-order" and row.promise_days == want, (stage, want)
        assert row.cycle_service >= row.target - 3 * row.cycle_service_se
        exact = np.mean(np.array(times) <= want)  # the simulation agrees with the receipts
        assert abs(row.cycle_service - exact) <= 4 * row.cycle_service_se + 1e-12
        assert row.reorder_point == 0 and row.order_up_to == 0
        lane = f"lane {row.location}" if row.location in days else "template"
        assert f"{row.target:.1%} quantile of the stage's lead time" in row.why
        assert lane in row.why and f"promise {want} d" in row.why
        if row.location in days:
            upstream_of_lanes.append(upstream)
    return table, notes, seen, upstream_of_lanes


def test_make_to_order_at_a_stocked_stage_promises_upstream_service_plus_the_lane_quantile(run):
    """Stocked items whose policy offers make-to-order, at stores whose lanes' receipts are
    known (GSM re-solved on them; :func:`_stage_promises_hold`): R-02's lane gives the
    quantile promise, R-04's long tail does not fit the one-week promise (stock is held),
    stores without a lane keep the template's time, with a note. With a three-week promise
    GSM's upstream guarantees a positive service time, which the promise adds."""
    from optim.instances.receipts import validate_receipts
    from optim.models.safety_stock.lead_time_data import apply_lane_lead_times, lane_lead_times
    from optim.planning.builders import offers_make_to_order

    frame, days = _known_receipts(
        {"R-02": [3] * 5 + [5] * 10 + [6] * 4 + [7], "R-04": [7, 10] * 10}
    )
    stats = lane_lead_times(validate_receipts(frame), period_days=7.0)
    lanes = dict(zip(stats["lane"], stats["distribution"], strict=True))
    seg = run.segmentation
    plain = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    doc = apply_lane_lead_times(plain.model_dump(mode="json", exclude_none=True), lanes)[0]
    inst = SafetyStockInstance.model_validate(doc)
    table, notes, seen, upstream = _stage_promises_hold(seg, inst, lanes, days)
    assert seen.get("R-02") and seen.get("R-05") and not seen.get("R-04"), seen
    # R-02's lane: the 87.5 % quantile of its receipts, 6 d, one day within the template's week
    lane_rows = table[table["why"].str.contains("lane R-02")]
    assert len(lane_rows) and (lane_rows["promise_days"] == 6.0).all()
    template = sum(n for loc, n in seen.items() if loc not in days)
    assert any(
        f"make-to-order: {template} promise(s) at a stocked item's stage" in n
        and "(no receipts lane for the stage)" in n
        for n in notes
    ), notes
    # three-week promises for these items: GSM lets the upstream quote a service time > 0
    text = seg.item_policy().set_index("item")["forecasting"].fillna("")
    for d in doc["demands"]:
        if offers_make_to_order(str(text.get(d["stage"].rsplit("@", 1)[0], ""))):
            d["max_service_time"] = 3
    longer = SafetyStockInstance.model_validate(doc)
    _, _, seen, upstream = _stage_promises_hold(seg, longer, lanes, days)
    assert seen.get("R-02") and max(upstream) > 0, (seen, upstream)


def test_make_to_order_at_a_stocked_stage_without_receipts_is_the_template_time(run):
    """No receipts: the promise at a stocked item's stage is GSM's upstream service time +
    the template's lead time (whole days), every simulated order is on time, and a note
    says the template's times were used."""
    table = run.tables["replenishment"]
    lumpy = set(make_to_order_items(run.segmentation))
    rows = table[(table["policy"] == "make-to-order") & ~table["item"].isin(lumpy)]
    assert len(rows)
    stages = run.safety_stock.tables["stages"].set_index("stage")
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    lead = {s.id: s.lead_time for s in inst.stages}
    for row in rows.itertuples():
        stage = f"{row.item}@{row.location}"
        want = math.ceil((stages.at[stage, "inbound_service_time"] + lead[stage]) * 7.0 - 1e-9)
        assert row.promise_days == want and "template" in row.why
    assert (rows["cycle_service"] == 1.0).all() and rows["meets_target"].all()
    assert any(
        f"make-to-order: {len(rows)} promise(s) at a stocked item's stage" in n
        and "(no receipts.csv)" in n
        for n in run.notes
    ), run.notes


def test_make_to_order_rows_agree_in_csv_workbook_and_report(run, tmp_path):
    """item_policy.csv, the workbook's "item policy" sheet and the report's drill-down show
    the same make-to-order rows: policy, no stock, target, promise, simulated on-time share."""
    import json
    import re

    paths = planning.write(run, tmp_path / "out")
    csv = pd.read_csv(paths["out"] / "segmentation" / "item_policy.csv")
    sheet = pd.read_excel(paths["workbook"], sheet_name="item policy")
    page = paths["report"].read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="item-data">(.*?)</script>', page)
    assert found
    records = dict(json.loads(found.group(1))["items"])
    cols = ["item", "location", "policy", "target", "promise_days", "cycle_service",
            "reorder_point", "order_up_to", "meets_target"]  # fmt: skip
    made = csv[csv["policy"] == "make-to-order"][cols].reset_index(drop=True)
    assert len(made) and set(make_to_order_items(run.segmentation)) <= set(made["item"])
    in_sheet = sheet[sheet["policy"] == "make-to-order"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(made, in_sheet, check_dtype=False)
    table = run.tables["replenishment"]
    want = table[table["policy"] == "make-to-order"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(made, want, check_dtype=False, rtol=1e-9)
    assert (made[["reorder_point", "order_up_to"]] == 0).all().all()
    for row in made.itertuples():
        rec = records[row.item]
        assert "make-to-order" in rec["policy"]
        shown = {r[0]: r for r in rec["promise"]}[row.location]
        assert shown[1:] == [
            round(row.target, 4),
            round(row.promise_days, 1),
            None if np.isnan(row.cycle_service) else round(row.cycle_service, 4),
            bool(row.meets_target),
        ]
        stock = {r[0]: r for r in rec["stock"]}[row.location]
        assert stock[1] == 0 and stock[2] == 0 and stock[4] == 0 and stock[5] == 0
