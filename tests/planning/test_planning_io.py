"""Planning folders: round trip, `optim plan` = the Python run, and bad input → exit 2 with one
message naming the file, the field or row and what is allowed (nothing written)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from optim import planning
from optim.cli import main
from optim.planning.distributor import distributor_example
from optim.planning.folder import read_folder, write_folder
from optim.segmentation import default_policy

SMALL = {"n_items": 50, "n_customers": 25, "weeks": 56}


@pytest.fixture(scope="module")
def data():
    return distributor_example(3, **SMALL)


@pytest.fixture(scope="module")
def folder(data, tmp_path_factory):
    return write_folder(data, tmp_path_factory.mktemp("plan") / "input")


def test_round_trip_is_exact(data, folder):
    back = read_folder(folder)
    for name in ("history", "orders", "items"):
        pd.testing.assert_frame_equal(getattr(data, name), getattr(back, name))
    for name in ("network", "families", "resources", "disruption", "plan_start", "plan_weeks",
                 "forecast", "ordering_cost"):  # fmt: skip
        assert getattr(data, name) == getattr(back, name)


def test_cli_plan_equals_the_python_run(data, folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["plan", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "optim planning run" in captured.out and "[9/9]" in captured.err
    direct = planning.run(data)
    for kind in ("safety_stock", "capacity", "rationing"):
        doc = (out / f"{kind}_result.json").read_text(encoding="utf-8")
        assert doc == getattr(direct, kind).to_json()
    assert (out / "report.html").is_file()


def test_custom_policy_in_the_folder_flows_through(data, folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "custom")
    policy = default_policy().model_dump(mode="json")
    policy["segments"]["transactional"]["service_level"] = 0.8
    for name, tier in (("strategic", 1), ("standard", 5), ("transactional", 3)):  # gaps
        policy["segments"][name]["rationing_tier"] = tier
    (copy / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    run = planning.run(read_folder(copy))
    # the rationing model takes tiers 1..K: ranked in the same order, and said so (they
    # were renumbered without a word)
    tiers = run.rationing.tables["segments"].set_index("segment")["tier"]
    assert tiers.to_dict() == {"strategic": 1, "transactional": 2, "standard": 3}
    assert any("standard 5 -> 3, transactional 3 -> 2" in n for n in run.notes), run.notes
    demands = run.safety_stock.tables["demands"]
    abc = run.segmentation.items.set_index("item")["abc"]
    c_tail = demands[
        (demands["segment"] == "transactional")
        & (demands["stage"].str.rsplit("@", n=1).str[0].map(abc) == "C")
    ]
    assert len(c_tail) and (c_tail["service_level"] == 0.875).all()  # max(C 0.875, 0.8)
    summary = run.tables["segment_summary"].set_index("segment")
    assert summary.loc["transactional", "service_level_target"] == 0.8


def _edit_csv(path, change):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


def _edit_plan(path, change):
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(plan)
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")


def _set(frame, col, row, value):
    frame.loc[row, col] = value
    return frame


CASES = [
    ("missing file", lambda f: (f / "items.csv").unlink(), ["items.csv"]),
    ("unknown plan key", lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(horizon=3)),
     ["plan.yaml", "horizon"]),
    ("missing plan key", lambda f: _edit_plan(f / "plan.yaml", lambda p: p.pop("network")),
     ["plan.yaml", "network"]),
    ("bad plan_start", lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(plan_start="x")),
     ["plan_start", "'x'"]),
    ("empty plan_start",  # pandas reads '' as NaT: was exit 1, "'NaTType' has no normalize"
     lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(plan_start="")),
     ["plan.yaml", "plan_start", "(empty)", "is not a day"]),
    ("zero weeks", lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(plan_weeks=0)),
     ["plan_weeks", "0"]),
    ("unknown forecast",
     lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(forecast="magic")),
     ["plan.yaml", "forecast", "'magic'", "seasonal_naive"]),
    ("bad ordering cost",
     lambda f: _edit_plan(f / "plan.yaml", lambda p: p.update(ordering_cost="cheap")),
     ["plan.yaml", "ordering_cost", "'cheap'", "number >= 0"]),
    ("bad unit cost",
     lambda f: _edit_csv(f / "items.csv", lambda d: _set(d, "unit_cost", 2, "-1")),
     ["items.csv", "line 4", "unit_cost", "-1"]),
    ("unknown item", lambda f: _edit_csv(f / "items.csv", lambda d: d.iloc[1:]),
     ["history.csv", "line", "column item", "is not an item of items.csv"]),
    ("unknown family", lambda f: _edit_csv(f / "items.csv", lambda d: _set(d, "family", 0, "F?")),
     ["items.csv", "F?"]),
    ("bad date", lambda f: _edit_csv(f / "orders.csv", lambda d: _set(d, "date", 1, "someday")),
     ["orders.csv", "date", "someday"]),
    ("orders in the past",
     lambda f: _edit_csv(f / "orders.csv", lambda d: d.assign(date="2023-07-04")),
     ["orders.csv", "after the history"]),
    ("orders over two weeks",
     lambda f: _edit_csv(f / "orders.csv", lambda d: _set(d, "date", 0, "2030-01-01")),
     ["orders.csv", "one week"]),
    ("new customer",
     lambda f: _edit_csv(f / "orders.csv", lambda d: _set(d, "customer", 0, "NEWCO")),
     ["orders.csv", "NEWCO"]),
    ("bad disruption",
     lambda f: _edit_plan(f / "plan.yaml", lambda p: p["disruption"].update({"SKU-00000": 1.5})),
     ["disruption", "SKU-00000", "1.5"]),
    ("bad policy",
     lambda f: (f / "policy.yaml").write_text(yaml.safe_dump(
         default_policy().model_dump(mode="json")
         | {"segments": {"A": {"dimension": "item", "service_level": 1.5}}})),
     ["policy.yaml", "service_level", "1.5"]),
    ("policy not yaml", lambda f: (f / "policy.yaml").write_text("segments: [unclosed\n"),
     ["policy.yaml", "invalid YAML"]),
    ("missing network key",
     lambda f: _edit_plan(f / "plan.yaml", lambda p: p["network"].pop("demand_stage_of_location")),
     ["network", "demand_stage_of_location"]),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_folder_exits_2_and_names_it(folder, tmp_path, capsys, what, change, words):
    copy = shutil.copytree(folder, tmp_path / "bad")
    change(copy)
    out = tmp_path / "out"
    code = main(["plan", str(copy), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, (what, err)
    assert err.startswith("optim: invalid input:") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (what, err)
    assert not out.exists()


def test_bad_service_measure_in_the_policy_names_file_line_and_field(folder, tmp_path, capsys):
    copy = shutil.copytree(folder, tmp_path / "bad")
    policy = default_policy().model_dump(mode="json")
    policy["segments"]["standard"]["service_measure"] = "sometimes"
    text = yaml.safe_dump(policy, sort_keys=False)
    (copy / "policy.yaml").write_text(text, encoding="utf-8")
    line = text.splitlines().index("    service_measure: sometimes") + 1
    out = tmp_path / "out"
    assert main(["plan", str(copy), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"optim: invalid input: policy.yaml line {line}: "), err
    for word in ("segments.standard.service_measure", "'sometimes'", "cycle_service", "fill_rate"):
        assert word in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("where", "typo", "model"),
    [
        (("segments", "standard"), "AutoArma", "AutoARIMA"),
        (("patterns", "lumpy"), "Crostn", "Croston"),
    ],
)
def test_a_misspelt_forecasting_model_in_the_policy_is_refused(
    folder, tmp_path, capsys, where, typo, model
):
    """``forecasting: AutoArma`` read as free text naming no model: the demand pattern chose
    the model, without a word. Free text naming none (the default table's) still passes."""
    copy = shutil.copytree(folder, tmp_path / "bad")
    policy = default_policy().model_dump(mode="json")
    policy[where[0]][where[1]]["forecasting"] = typo
    text = yaml.safe_dump(policy, sort_keys=False)
    (copy / "policy.yaml").write_text(text, encoding="utf-8")
    line = text.splitlines().index(f"    forecasting: {typo}") + 1
    out = tmp_path / "out"
    assert main(["plan", str(copy), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"optim: invalid input: policy.yaml line {line}: "), err
    assert f"{'.'.join(where)}.forecasting: {typo!r} names no forecasting model" in err
    assert f"looks like {model}" in err and not out.exists()


def test_the_typed_history_reads_as_the_file_does(folder, tmp_path):
    """read_folder parses each history column once (validation and the typed frame share the
    parse): ids written with blanks, blank and missing channels and another date spelling
    give a frame that prepare_history reads exactly as it reads the file."""
    from optim.segmentation.history import prepare_history

    copy = shutil.copytree(folder, tmp_path / "typed")

    def edit(d):
        d.loc[0, "customer"] = f"  {d.loc[0, 'customer']} "
        d.loc[1, "channel"] = ""
        d.loc[2, "channel"] = "   "
        d.loc[3, "date"] = pd.Timestamp(d.loc[3, "date"]).strftime("%d %B %Y")
        return d

    _edit_csv(copy / "history.csv", edit)
    history = read_folder(copy).history
    assert history.loc[0, "customer"] == history.loc[0, "customer"].strip()
    assert list(history.loc[[1, 2], "channel"]) == ["unspecified", "unspecified"]
    assert history["date"].dtype == "datetime64[ns]"
    from_file = prepare_history(copy / "history.csv")
    from_frame = prepare_history(history)
    pd.testing.assert_frame_equal(from_file.lines, from_frame.lines)
    pd.testing.assert_frame_equal(from_file.demand, from_frame.demand)


@pytest.mark.parametrize(
    ("name", "column"),
    [("history.csv", "chanel"), ("history.csv", "ordr"), ("orders.csv", "unit_cst"),
     ("items.csv", "holding_cost"), ("supply.csv", "note"), ("pins.csv", "since")],
)  # fmt: skip
def test_a_column_no_reader_takes_is_refused(folder, tmp_path, capsys, name, column):
    """A misspelt optional column was dropped without a word: `ordr` made each customer's
    lines of a day one order (a standard customer became transactional), `chanel` put every
    customer in channel 'unspecified'; items.csv's `holding_cost` was never read."""
    copy = shutil.copytree(folder, tmp_path / "extra")
    if name == "supply.csv":
        pd.DataFrame({"item": ["X"], "location": ["Y"], "quantity": ["1"]}).to_csv(
            copy / name, index=False
        )
    if name == "pins.csv":
        pd.DataFrame({"customer": ["X"], "segment": ["strategic"]}).to_csv(
            copy / name, index=False
        )
    was = {"chanel": "channel", "ordr": "order", "unit_cst": "unit_cost"}.get(column)
    _edit_csv(
        copy / name,
        lambda d: d.rename(columns={was: column}) if was else d.assign(**{column: "1"}),
    )
    for argv in (["validate", str(copy)], ["plan", str(copy), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        for word in (f"{name} line 1", f"unknown column {column!r}", "allowed: "):
            assert word in err, err
    assert not (tmp_path / "o").exists()


def _family(p, **change):
    fam = p["families"][0]
    for key, value in change.items():
        if value is None:
            fam.pop(key, None)
        else:
            fam[key] = value


def _weekly(p, weeks):
    p["resources"][0]["capacity"] = {w: 100.0 for w in weeks}


SUPPLY = [
    ("family without usage", lambda p: _family(p, usage=None),
     ["families[0].usage", "exactly one of usage or routings"]),
    ("family of zero usage",
     lambda p: _family(p, usage={r: 0 for r in p["families"][0]["usage"]}),
     ["families[0].usage", "no resource can make family"]),
    ("usage of an unknown resource", lambda p: p["families"][0]["usage"].update(Paint=0.1),
     ["families[0].usage.Paint", "unknown resource 'Paint'"]),
    ("stock above its bound", lambda p: _family(p, initial_inventory=10, max_inventory=5),
     ["families[0].initial_inventory", "exceeds its max_inventory 5",
      "allowed: initial_inventory <= max_inventory"]),
    ("an empty routings list", lambda p: _family(p, usage=None, routings=[]),
     ["families[0].routings", "allowed: a non-empty list of routings"]),
    ("capacity of a day that is no planned week",
     lambda p: _weekly(p, [str(p["plan_start"])[:8] + "08"]),
     ["resources[0].capacity.", "unknown period"]),
    ("capacity missing planned weeks",
     lambda p: _weekly(p, [str(pd.Timestamp(p["plan_start"]).to_period("W").start_time.date())]),
     ["resources[0].capacity", "has no value for period"]),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "words"), SUPPLY, ids=[c[0] for c in SUPPLY])
def test_resources_and_families_are_checked_together_before_any_solve(
    folder, tmp_path, capsys, what, change, words
):
    """Before, these passed `optim validate` and failed the plan after the forecast, naming
    history.csv's forecast instead of plan.yaml."""
    copy = shutil.copytree(folder, tmp_path / "bad")
    _edit_plan(copy / "plan.yaml", change)
    out = tmp_path / "out"
    for argv in (["validate", str(copy)], ["plan", str(copy), "--out", str(out), "--quiet"]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (what, err)
        assert err.startswith("optim: invalid input: plan.yaml line "), err
        assert "; allowed: " in err and ": families: " not in err, err
        for word in words:
            assert word in err, (what, err)
    assert not out.exists()


def test_weekly_capacities_keyed_by_the_planned_mondays_are_taken(folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "weekly")
    data = read_folder(folder)
    mondays = pd.date_range(data.plan_start, periods=data.plan_weeks, freq="7D")
    _edit_plan(copy / "plan.yaml", lambda p: _weekly(p, [d.strftime("%Y-%m-%d") for d in mondays]))
    assert read_folder(copy).resources[0]["capacity"][mondays[-1].strftime("%Y-%m-%d")] == 100.0


def test_setups_are_refused_unless_the_plan_asks_for_lot_sizing(folder, tmp_path, capsys):
    """A family's setup_cost / min_lot_size were dropped without a word (the peak plan is an
    LP; only a note in capacity_result.json said so)."""
    copy = shutil.copytree(folder, tmp_path / "setups")
    _edit_plan(copy / "plan.yaml", lambda p: _family(p, setup_cost=40.0))
    assert main(["validate", str(copy)]) == 2
    err = capsys.readouterr().err
    for word in ("plan.yaml line ", "families[0].setup_cost", "lot_sizing: true"):
        assert word in err, err
    _edit_plan(copy / "plan.yaml", lambda p: p.update(lot_sizing="yes"))
    assert main(["validate", str(copy)]) == 2
    assert "lot_sizing is 'yes'; allowed: true or false" in capsys.readouterr().err


def test_a_minimum_lot_no_week_can_make_is_refused_by_validate(folder, tmp_path, capsys):
    """With lot_sizing: true, a family's min_lot_size beyond any week's hours passed
    validate; the plan refused it after the forecast, naming history.csv's forecast."""
    copy = shutil.copytree(folder, tmp_path / "lots")
    _edit_plan(copy / "plan.yaml", lambda p: _family(p, min_lot_size=1e8, setup_cost=40.0))
    _edit_plan(copy / "plan.yaml", lambda p: p.update(lot_sizing=True))
    text = (copy / "plan.yaml").read_text().splitlines()
    line = next(k for k, t in enumerate(text, 1) if "min_lot_size:" in t)
    for argv in (["validate", str(copy)], ["plan", str(copy), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"plan.yaml line {line}, field families[0].min_lot_size: min_lot_size 1e+08" in err
        assert "could never be made; allowed: at most " in err and "history.csv" not in err
    assert not (tmp_path / "o").exists()


def test_lot_sizing_plans_the_peak_as_a_mip_that_charges_the_setups(data, tmp_path):
    import dataclasses

    from optim import SolveParams
    from optim.planning.demo import summary

    fams = [dict(f) for f in data.families]
    for f in fams[:3]:
        f |= {"setup_cost": 40.0, "min_lot_size": 30.0}
    lot = dataclasses.replace(data, families=fams, lot_sizing=True)
    back = read_folder(write_folder(lot, tmp_path / "lot"))
    assert back.lot_sizing and back.families == fams
    # 1 s: HiGHS has a plan (it had one at 0.01 s) far from proven (10 % at 10 s)
    run = planning.run(back, params=SolveParams(time_limit=1))
    cap = run.capacity
    assert cap.info["lot_sizing"] and cap.info["cost_terms"]["setup"] > 0
    # a plan the time limit stopped says so: its gap on the summary line and an alert
    stopped = cap.status.value == "time_limit"
    assert stopped and cap.gap is not None and f"(gap {cap.gap:.2%})" in summary(run)
    from optim.alerts import collect

    assert stopped == any(
        a.topic == "capacity" and "stopped at the time limit" in a.message for a in collect(run)
    )
    made = cap.tables["production"]
    setups = made[made["product"].isin([f["id"] for f in fams[:3]]) & (made["quantity"] > 1e-6)]
    assert len(setups) and (setups["quantity"] >= 30.0 - 1e-6).all()  # min_lot_size held


@pytest.mark.parametrize("spelling", ["%m/%d/%Y", "%d/%m/%Y"])
def test_one_order_of_day_and_month_for_the_folder(folder, tmp_path, spelling):
    """This week's orders dated 08/01..08/04 show no order of day and month: they were
    refused (or read month first) beside a history whose dates show it."""
    copy = shutil.copytree(folder, tmp_path / "numeric")

    def respell(frame, keep=None):
        dates = pd.to_datetime(frame["date"])
        frame = frame[dates.dt.day <= 12] if keep else frame
        return frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime(spelling))

    _edit_csv(copy / "history.csv", respell)
    _edit_csv(copy / "orders.csv", lambda d: respell(d, keep=True))
    data, back = read_folder(folder), read_folder(copy)
    orders = data.orders[data.orders["date"].dt.day <= 12]
    assert len(back.orders) == len(orders) > 0
    assert back.orders["date"].tolist() == orders["date"].tolist()
    assert back.history["date"].tolist() == data.history["date"].tolist()


def test_ids_written_with_spaces_read_as_the_models_read_them(folder, tmp_path):
    """A stage 'Plant ' passed the checks (the models strip ids) but the run read the raw
    records again and failed after the forecast, naming no file."""
    copy = shutil.copytree(folder, tmp_path / "spaces")

    def pad(p):
        net = p["network"]
        net["stages"][0]["id"] += " "
        net["arcs"][0]["source"] = " " + net["arcs"][0]["source"]
        loc = next(iter(net["demand_stage_of_location"]))
        net["demand_stage_of_location"][loc] += "  "
        p["families"][0]["id"] = " " + p["families"][0]["id"]

    _edit_plan(copy / "plan.yaml", pad)
    clean, padded = read_folder(folder), read_folder(copy)
    assert padded.network == clean.network and padded.families == clean.families


def test_a_disruption_on_an_item_without_history_is_noted(data, folder, tmp_path):
    """It changes nothing (the item gets no stock plan) and was accepted without a word."""
    from optim.planning.folder_check import plain_summary, read_summary

    copy = shutil.copytree(folder, tmp_path / "idle")
    idle = sorted(set(data.items["item"]) - set(data.history["item"]))[0]
    _edit_plan(copy / "plan.yaml", lambda p: p["disruption"].update({idle: 0.5}))
    want = f"disruption changes nothing: {idle}."
    plain, full = plain_summary(copy), read_summary(copy)
    assert plain is not None and plain.notes == full.notes
    assert any(n.endswith(want) for n in full.notes), full.notes


def _one_item_folder(folder, weeks):
    """The smallest planning folder: one item, customer, location and stage, one line a
    week for ``weeks`` weeks from 2024-01-01, and this week's order the week after."""
    folder.mkdir()
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=weeks)
    plan = {
        "plan_start": str(start.date()),
        "plan_weeks": 4,
        "network": {
            "stages": [{"id": "DC", "lead_time": 1, "holding_cost": 0.01}],
            "demand_stage_of_location": {"DC": "DC"},
        },
        "resources": [{"id": "R", "capacity": 100}],
        "families": [{"id": "F", "holding_cost": 0.1, "usage": {"R": 0.1}}],
    }
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    (folder / "items.csv").write_text("item,family,unit_cost\nI1,F,10\n")
    header = "date,customer,item,quantity,unit_price,location\n"
    days = pd.date_range("2024-01-01", periods=weeks, freq="7D")
    lines = "".join(f"{d.date()},C1,I1,{5 + k % 3},20,DC\n" for k, d in enumerate(days))
    (folder / "history.csv").write_text(header + lines)
    (folder / "orders.csv").write_text(header + f"{start.date()},C1,I1,6,20,DC\n")
    return folder


def test_a_history_of_one_week_is_refused_by_validate_as_by_plan(tmp_path, capsys):
    """validate passed a history of one week, and the run refused it ("history.csv has no
    order lines", naming no line): its last week's segmentation had no earlier week, its
    weekly demand no spread. Both now refuse it naming its first line; two weeks plan."""
    one = _one_item_folder(tmp_path / "one", weeks=1)
    out = tmp_path / "out"
    assert main(["validate", str(one)]) == 2
    err = capsys.readouterr().err
    assert main(["plan", str(one), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == err and not out.exists()
    assert err.startswith("optim: invalid input: history.csv line 2, column date: '2024-01-01'")
    assert "one week (2024-01-01 to 2024-01-07); allowed: order lines in two weeks" in err
    two = _one_item_folder(tmp_path / "two", weeks=2)
    assert main(["validate", str(two)]) == 0
    assert main(["plan", str(two), "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err


def test_a_random_lead_time_over_budget_in_plan_yaml_is_refused_by_validate(
    folder, tmp_path, capsys
):
    """plan.yaml's memory check estimated the mean lead time: lead_time_std_dev 1e12 passed
    validate, and the plan refused it after 5 s naming no plan.yaml line."""
    copy = shutil.copytree(folder, tmp_path / "spread")

    def spread(p):
        p["network"]["stages"][0]["lead_time_std_dev"] = 1e12

    _edit_plan(copy / "plan.yaml", spread)
    text = (copy / "plan.yaml").read_text().splitlines()
    line = next(k for k, t in enumerate(text, 1) if "lead_time_std_dev" in t)
    for argv in (["validate", str(copy)], ["plan", str(copy), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"plan.yaml line {line}, field network.stages[0].lead_time_std_dev" in err, err
    assert not (tmp_path / "o").exists()
