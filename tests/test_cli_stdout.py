"""Standard output carries what optim prints and nothing else, for every command.

HiGHS 1.12.0 printf's a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution
tmpSolver.run();") from some MIPs whatever its output flag: the rationing integer stage of the
week below (one item of the demo's short week) and of a small planning folder put it on stdout
— ahead of ``--out -``'s JSON, in a summary, and as the only output of ``--quiet``. While a
command runs, file descriptor 1 is a pipe copied to stderr but for that line, and
``sys.stdout`` writes to the real stdout (``optim.cli._stdout_for_optim_only``, entered by
``optim.cli.main``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from optim import api

HIGHS_PRINTS = "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"

SUPPLY = {"DC-North": 369, "DC-South": 405, "R-01": 22, "R-02": 28, "R-03": 29, "R-05": 25,
          "R-06": 11}  # fmt: skip
LINES = [  # customer, segment, quantity, location: SKU-00049 of the demo's short week (seed 2026)
    ("C0000", "strategic", 286, "DC-South"), ("C0001", "strategic", 204, "DC-South"),
    ("C0002", "strategic", 190, "DC-North"), ("C0003", "standard", 39, "DC-North"),
    ("C0008", "strategic", 66, "DC-North"), ("C0011", "standard", 25, "DC-South"),
    ("C0012", "standard", 56, "DC-South"), ("C0013", "strategic", 50, "DC-North"),
    ("C0014", "standard", 38, "DC-South"), ("C0015", "standard", 128, "DC-South"),
    ("C0016", "strategic", 214, "DC-North"), ("C0017", "standard", 93, "DC-North"),
    ("C0019", "strategic", 299, "DC-North"), ("C0028", "standard", 29, "R-05"),
    ("C0030", "transactional", 33, "R-03"), ("C0043", "standard", 30, "R-01"),
    ("C0044", "transactional", 24, "R-01"), ("C0045", "standard", 38, "R-02"),
    ("C0047", "transactional", 31, "R-02"), ("C0050", "standard", 30, "R-03"),
    ("C0056", "transactional", 22, "R-06"), ("C0058", "transactional", 22, "R-05"),
]  # fmt: skip


def _line(customer: str, segment: str, quantity: int, location: str) -> dict:
    return {
        "id": f"{customer}|SKU-00049|{location}",
        "customer": customer,
        "item": "SKU-00049",
        "segment": segment,
        "quantity": quantity,
        "lot_size": 1,
        "locations": [location],
    }


def _week() -> dict:
    return {
        "kind": "rationing",
        "name": "short week",
        "supply": [
            {"item": "SKU-00049", "location": loc, "quantity": qty} for loc, qty in SUPPLY.items()
        ],
        "demand": [_line(*line) for line in LINES],
        "segments": [
            {"name": "strategic", "tier": 1, "fair_share": "proportional"},
            {"name": "standard", "tier": 2, "fair_share": "proportional"},
            {"name": "transactional", "tier": 3, "fair_share": "equal"},
        ],
    }


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    path = tmp_path_factory.mktemp("stdout") / "week.json"
    path.write_text(json.dumps(_week()))
    return path


def _optim(*args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "optim.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert HIGHS_PRINTS not in run.stdout + run.stderr
    return run


def test_highs_prints_its_debug_line_on_this_week_outside_the_cli(week):
    """The tests below exercise the print: the same solve through the Python API (no CLI
    scope) puts HiGHS's line on descriptor 1."""
    code = f"from optim import api; api.solve(api.load({str(week)!r}))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert HIGHS_PRINTS in run.stdout, run.stdout


def test_solve_quiet_prints_nothing_when_highs_prints(week):
    run = _optim("solve", str(week), "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and run.stderr == ""


def test_solve_prints_its_summary_and_nothing_else_when_highs_prints(week):
    run = _optim("solve", str(week))
    assert run.returncode == 0, run.stderr
    expected = api.solve(api.load(week)).summary().splitlines()
    printed = run.stdout.splitlines()
    assert len(printed) == len(expected) and run.stdout.endswith("\n")
    for got, want in zip(printed, expected, strict=True):
        if want.startswith("runtime: "):  # measured, not reproducible
            assert got.startswith("runtime: ") and got.endswith(" s")
        else:
            assert got == want


def test_solve_out_dash_writes_only_the_document_when_highs_prints(week):
    run = _optim("solve", str(week), "--out", "-")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)  # nothing before or after the document
    assert doc["kind"] == "rationing" and doc["status"] == "optimal"


def test_plan_quiet_prints_nothing_when_highs_prints(tmp_path):
    """A planning run: the short week's rationing MIPs (step 7) make HiGHS print."""
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder

    data = distributor_example(0, n_items=50, n_customers=25, weeks=56)
    folder = write_folder(data, tmp_path / "input")
    run = _optim("plan", str(folder), "--out", str(tmp_path / "out"), "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""


def test_c_level_and_child_process_prints_go_to_stderr():
    """In the scope, C stdio's prints (buffered: flushed before stdout is given back), raw
    descriptor writes and a spawned process's prints reach stderr, all but HiGHS's debug
    line, and a last partial line as written; Python's ``sys.stdout`` reaches stdout, in
    order, before and after the scope too."""
    code = textwrap.dedent(
        """
        import ctypes, multiprocessing, os, sys
        from optim.cli import _stdout_for_optim_only

        if __name__ == "__main__":
            libc = ctypes.CDLL(None)
            print("before", flush=True)
            with _stdout_for_optim_only():
                print("python print")
                libc.printf(b"c printf\\n")  # stays in C's buffer: stdout is a pipe
                libc.printf(HIGHS + b"\\n")
                os.write(1, b"raw write\\n")
                proc = multiprocessing.get_context("spawn").Process(
                    target=print, args=("child print",), kwargs={"flush": True}
                )
                proc.start()
                proc.join()
                sys.stdout.write("DOCUMENT\\n")
                libc.printf(b"partial")
            print("after")
        """
    ).replace("HIGHS", repr(HIGHS_PRINTS.encode()))
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout == "before\npython print\nDOCUMENT\nafter\n"
    for text in ("c printf\n", "raw write\n", "child print\n"):
        assert text in run.stderr
    assert run.stderr.endswith("partial") and HIGHS_PRINTS not in run.stderr


@pytest.mark.parametrize("kind", ["capacity", "plan"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(kind):
    """`optim schema capacity | head` ended "internal error: BrokenPipeError" (exit 1) and
    Python's "Exception ignored … BrokenPipeError" at exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "optim.cli", "schema", kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes: its write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141), err
    assert err == "", err
