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
    (folder / "pins.csv").write_text(f"customer,segment\n{c},platinum\n")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "pins.csv line 2, column segment: 'platinum'" in err and "strategic" in err
