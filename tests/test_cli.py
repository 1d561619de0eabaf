"""The CLI contract: outputs, CSV folders, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optim
from optim.cli import main
from optim.output import verify

EXAMPLE = Path(optim.__file__).resolve().parents[1] / "instances" / "data"
EXAMPLE = EXAMPLE / "weekly_rationing.json"


def test_solve_writes_document_and_tables(tmp_path, capsys):
    out, tables = tmp_path / "r.json", tmp_path / "tables"
    assert main(["solve", str(EXAMPLE), "--out", str(out), "--tables", str(tables)]) == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal"
    assert "runtime_seconds" not in doc  # deterministic by default
    assert {p.name for p in tables.iterdir()} == {
        "allocations.csv",
        "lines.csv",
        "segments.csv",
        "unallocated.csv",
        "manifest.json",  # written atomically: complete with its manifest, or not at all
    }
    assert verify(tables) == []
    assert json.loads((tables / "manifest.json").read_text())["input"]["sha256"]
    assert "status: OPTIMAL" in capsys.readouterr().out


def test_csv_folder_gives_the_same_answer_as_json(tmp_path):
    inst = optim.load(EXAMPLE)
    folder = tmp_path / "week"
    folder.mkdir()
    doc = inst.to_dict()
    pd.DataFrame(doc["supply"]).to_csv(folder / "supply.csv", index=False)
    pd.DataFrame(doc["segments"]).to_csv(folder / "segments.csv", index=False)
    dem = pd.DataFrame(doc["demand"])
    dem["locations"] = dem["locations"].map(lambda v: ";".join(v) if isinstance(v, list) else "")
    dem.to_csv(folder / "demand.csv", index=False)
    a = optim.solve(optim.load(folder)).to_dict()
    b = optim.solve(inst).to_dict()
    assert a["lines"] == b["lines"]
    assert a["allocations"] == b["allocations"]


def test_exit_code_4_on_time_limit_without_solution(tmp_path, capsys, monkeypatch):
    from optim import clock

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, without the floor
    assert main(["solve", str(EXAMPLE), "--time-limit", "1e-9"]) == 4
    assert "time_limit" in capsys.readouterr().err


def test_schema_and_validate(capsys):
    assert main(["schema", "rationing"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "demand" in schema["properties"]
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "valid rationing instance" in capsys.readouterr().out


HEAVY = ("pandas", "numpy", "scipy", "highspy", "ortools", "pyomo", "matplotlib", "numba")


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["schema", "plan"], ["schema", "manifest"]]
    + [["schema", kind] for kind in sorted(optim.api.KINDS)]
    + [["schema", f"result-{kind}"] for kind in sorted(optim.api.KINDS)],
)
def test_version_and_schema_import_nothing_heavy(argv):
    """CLI start-up (issue 12: <= 0.5 s): `optim --version` and `optim schema KIND` import
    neither the data stack nor a solver (bench_cli.py measures the seconds)."""
    code = (
        "import sys\n"
        "from optim.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "HEAVY [] 0"
    if argv[0] == "schema":  # the schema was printed in full
        assert json.loads(run.stdout.rsplit("\nHEAVY", 1)[0])["properties"]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLE.parent.glob("*.json")))
def test_validate_of_every_document_kind_imports_nothing_heavy(name):
    """`optim validate` of the bundled rationing, capacity and safety-stock documents (issue
    12: start-up <= 0.5 s) imports neither pandas nor numpy nor a solver, nor pydantic for
    the plain rationing check (bench_cli.py measures the seconds)."""
    run = _validate_in_a_fresh_process(
        EXAMPLE.parent / name, list(HEAVY) + ["pydantic"] * (name == "weekly_rationing.json")
    )
    assert run.stdout.splitlines()[0].startswith("valid ")
    assert run.stdout.splitlines()[-1] == "HEAVY [] 0"


def _validate_in_a_fresh_process(path: Path, heavy: list[str]) -> subprocess.CompletedProcess:
    """`optim validate PATH` in a fresh interpreter, which then prints the modules of
    ``heavy`` it imported and the exit code."""
    code = (
        "import sys\n"
        "from optim.cli import main\n"
        f"code = main(['validate', {str(path)!r}])\n"
        f"print('HEAVY', sorted(m for m in {heavy!r} if m in sys.modules), code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return run


def test_validate_of_a_planning_folder_imports_nothing_heavy(tmp_path):
    """`optim validate FOLDER` of the demo's planning folder (issue 12: start-up <= 0.5 s)
    imports neither pandas nor numpy nor a solver nor pydantic: optim.planning.folder_check
    checks it in plain Python, read_folder's checks and messages kept (test_loader_mutations
    compares both on damaged folders; bench_cli.py --startup-only measures the seconds)."""
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder

    folder = write_folder(distributor_example(5, n_items=40, n_customers=20), tmp_path / "in")
    run = _validate_in_a_fresh_process(folder, [*HEAVY, "pydantic"])
    assert run.stdout.startswith("valid planning folder: ")
    assert run.stdout.splitlines()[-1] == "HEAVY [] 0"


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"kind": "capacity"},
        {"stability": "yes"},
        {"name": 5},
        {"supply": [{"item": "A", "location": "L", "quantity": -1}]},
        {"segments": [{"name": "s", "tier": 2}]},
        {"demand": None},
    ],
)
def test_validate_of_a_rationing_document_is_as_strict_as_load(tmp_path, capsys, change):
    """The light check of `optim validate` (no pandas) refuses what `optim.load` refuses,
    with load's message located in the file (exit 2)."""
    doc = json.loads(EXAMPLE.read_text()) | change
    path = tmp_path / "week.json"
    path.write_text(json.dumps(doc, indent=2))
    with pytest.raises(optim.InstanceError) as refused:
        optim.load(path)
    assert main(["validate", str(path)]) == 2
    assert str(refused.value) in capsys.readouterr().err


def test_console_script_runs_demo(tmp_path):
    exe = Path(sys.executable).with_name("optim")
    run = subprocess.run(
        [str(exe), "demo", "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "optim planning run" in run.stdout and "strategic" in run.stdout
    assert "[9/9]" in run.stderr  # progress on stderr, the summary on stdout
    for name in ("report.html", "segment_summary.csv", "rationing_result.json"):
        assert (tmp_path / name).exists(), name


def test_yaml_instance_gives_the_same_answer(tmp_path):
    import yaml

    doc = json.loads(EXAMPLE.read_text())
    path = tmp_path / "week.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert optim.solve(optim.load(path)).to_json() == optim.solve(optim.load(EXAMPLE)).to_json()
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: rationing\nsupply: [unclosed\n")
    with pytest.raises(optim.InstanceError, match="invalid YAML"):
        optim.load(bad)


def test_the_python_api_refuses_wrong_arguments_by_name(tmp_path):
    """From the hunt: a dict of parameters ended in AttributeError, SolveParams took
    time_limit="5" and threads=True, a path to solve() said only "unknown kind None",
    and read_folder / run / write of None in errors of pandas' or pathlib's."""
    from pydantic import ValidationError

    from optim import planning
    from optim.errors import InstanceError

    doc = optim.load_example("weekly_rationing").to_dict()
    assert optim.solve(doc, {"time_limit": 5}).status.value == "optimal"
    for bad in ({"time_limit": "5"}, {"threads": True}, {"seed": 1.0}):
        with pytest.raises(ValidationError):
            optim.SolveParams(**bad)
    with pytest.raises(TypeError, match="params must be SolveParams or a mapping"):
        optim.solve(doc, 5)
    with pytest.raises(InstanceError, match=r"optim\.load\(path\) reads a file"):
        optim.solve(str(tmp_path / "x.json"))
    with pytest.raises(TypeError, match="folder must be str or Path, not NoneType"):
        planning.read_folder(None)
    with pytest.raises(TypeError, match="data must be PlanningData or a planning folder"):
        planning.run(5)
    with pytest.raises(InstanceError, match="does not exist"):
        planning.run(str(tmp_path / "nowhere"))  # a path is read as a folder
    with pytest.raises(TypeError, match="result must be a PlanningRun, not NoneType"):
        planning.write(None, tmp_path / "out")
    # planning.run took no mapping of parameters ("'dict' object has no attribute 'threads'")
    # and a previous run of another type ended in pathlib's TypeError
    from optim.planning.distributor import distributor_example

    data = distributor_example(5, n_items=20, n_customers=10, weeks=56)
    with pytest.raises(ValidationError, match="time_limt"):
        planning.run(data, params={"time_limt": 5})
    with pytest.raises(TypeError, match="previous must be an earlier run's output folder"):
        planning.run(data, params={"time_limit": 60}, previous=123)  # (the mapping passed)


def test_the_python_api_names_wrong_argument_types_of_segment_forecast_and_load():
    """segment(None) and optim.load(5) ended in pathlib's TypeError, segment(config=5) and
    overrides=[...] in AttributeErrors, forecast(by="item") read the keys 'i', 't', 'e', 'm',
    and forecast(n_jobs=0) was taken."""
    from optim import planning
    from optim.errors import InstanceError
    from optim.forecasting import forecast
    from optim.segmentation import segment

    history = pd.DataFrame(
        {
            "date": pd.date_range("2025-01-06", periods=40, freq="W-MON").repeat(2),
            "customer": ["C1", "C2"] * 40,
            "item": "I1",
            "quantity": 5.0,
            "unit_price": 2.0,
        }
    )
    for bad, words in (
        (lambda: segment(None), "history must be a DataFrame of order lines or the path"),
        (lambda: segment(history, config=5), "config must be a SegmentationConfig"),
        (lambda: segment(history, overrides=["C1"]), "overrides must be a mapping"),
        (lambda: optim.load(5), "path must be str or Path, not int"),
        (lambda: planning.read_previous(5), "folder must be str or Path, not int"),
        (lambda: planning.write_folder(5, "x"), "data must be PlanningData, not int"),
    ):
        with pytest.raises(TypeError, match=words):
            bad()
    with pytest.raises(InstanceError, match="n_jobs must be a whole number >= 1"):
        forecast(history, by="item", n_jobs=0)
    assert set(forecast(history, by="item").forecast.columns) >= {"item", "week", "forecast"}
    both = forecast(history, by="item,customer", horizon=2).forecast
    assert sorted(both["customer"].unique()) == ["C1", "C2"]
