"""Pins in a planning run (issue 12): ``pins:`` in plan.yaml, ``pins.csv`` in the folder and
``optim plan --pin`` all reach the segmentation; the command line wins over the folder."""

from __future__ import annotations

import pandas as pd
import yaml

from optim.cli import main
from optim.planning.distributor import distributor_example
from optim.planning.folder import read_folder, write_folder


def test_pins_from_plan_yaml_pins_csv_and_the_command_line(tmp_path, capsys):
    folder = write_folder(
        distributor_example(11, n_items=30, n_customers=15, weeks=56), tmp_path / "in"
    )
    customers = sorted(read_folder(folder).history["customer"].unique())
    a, b, c = customers[:3]
    plan = yaml.safe_load((folder / "plan.yaml").read_text())
    plan["pins"] = {a: "transactional", b: "transactional"}
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    (folder / "pins.csv").write_text(f"customer,segment\n{b},standard\n{c},strategic\n")
    data = read_folder(folder)
    assert data.pins == {a: "transactional", b: "standard", c: "strategic"}
    (note,) = [n for n in data.notes if n.startswith("pins:")]  # the override is said
    assert f"{b} standard (pins.csv line 2) over transactional (plan.yaml line" in note
    out = tmp_path / "out"
    code = main(["plan", str(folder), "--out", str(out), "--quiet", "--pin", f"{c}=standard"])
    assert code == 0, capsys.readouterr().err
    seg = pd.read_csv(out / "segmentation" / "customers.csv").set_index("customer")["segment"]
    assert seg[a] == "transactional" and seg[b] == "standard" and seg[c] == "standard"
    # the --pin over pins.csv's line is said, as pins.csv's over plan.yaml's (it was not)
    notes = pd.read_csv(out / "alerts.csv")["message"]
    assert (notes == f"pins: 1 pin(s) of the command line override the folder's pins (plan.yaml, "
            f"pins.csv; the command line wins): {c} standard (--pin {c}=standard) over "
            "strategic.").any(), notes.tolist()  # fmt: skip
    (folder / "pins.csv").write_text(f"customer,segment\n{c},platinum\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "pins.csv line 2, column segment: 'platinum'" in err and "strategic" in err


def test_a_pinned_customer_new_this_week_is_planned(tmp_path, capsys):
    """A customer whose only history lines are in the history's last week, pinned in
    pins.csv: validate passed the folder and the run refused it ("customer ... is pinned but
    has no order lines in the history", exit 2): last week's segmentation, on the lines
    before that week, was given every pin. It now takes the pins of the customers it holds."""
    folder = write_folder(
        distributor_example(11, n_items=30, n_customers=15, weeks=56), tmp_path / "in"
    )
    history = pd.read_csv(folder / "history.csv", dtype=str, keep_default_na=False)
    new = history.iloc[[-1]].assign(customer="NEWCO", order="O-NEW")
    pd.concat([history, new]).to_csv(folder / "history.csv", index=False)
    (folder / "pins.csv").write_text("customer,segment\nNEWCO,strategic\n")
    assert main(["validate", str(folder)]) == 0
    out = tmp_path / "out"
    assert main(["plan", str(folder), "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    seg = pd.read_csv(out / "segmentation" / "customers.csv").set_index("customer")["segment"]
    assert seg["NEWCO"] == "strategic"
