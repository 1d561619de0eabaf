"""The suite guards itself against a hang (pyproject's [tool.pytest.ini_options]): a test
stuck inside C code fails with its stack instead of holding CI, and the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A 4-row MIP on which HiGHS 1.12.0's presolve cycles in removeDoubletonEquations without
# checking its time limit (the shape of test_rationing_integer's first oracle: a general
# integer k unbounded above, x = lot * k, x below a cap smaller than one lot).
_CYCLING_MIP = """\
max
obj: x0 + x1 + x2
st
c0: x0 + x1 - 10 k0 = 0
c1: x0 + x1 <= 5
c2: x2 - 2 k1 = 0
c3: x2 <= 11
bounds
k0 >= 0
k1 >= 0
general
k0
k1
end
"""

_HANGING = """
import highspy


def test_stuck_in_highs_presolve(tmp_path):
    model = tmp_path / "cycle.lp"
    model.write_text({mip!r})
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", 1.0)
    h.readModel(str(model))
    h.run()  # never returns (HiGHS 1.12.0)
    raise AssertionError("HiGHS returned: this is no longer a hang; the guard test needs one")


def test_after_the_hang():
    pass
"""


def test_a_test_hung_in_c_code_fails_with_its_stack_and_the_run_goes_on(tmp_path):
    """With the project's pytest configuration (limits shortened to 1 s and 3 s), under
    xdist as in CI: faulthandler prints the stuck worker's stack, pytest-timeout's thread
    method ends the test (a signal would wait for HiGHS to return: forever), xdist reports
    it failed and runs the next test on a new worker."""
    (tmp_path / "test_hang.py").write_text(_HANGING.format(mip=_CYCLING_MIP))
    only = ["-p", "xdist.plugin", "-p", "pytest_timeout", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *only, "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-n", "1", "-o", "faulthandler_timeout=1",
         "-o", "timeout=3", str(tmp_path / "test_hang.py")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        # the two plugins only: every other one installed costs each worker seconds
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "HiGHS returned" not in out, out
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "crashed while running 'test_hang.py::test_stuck_in_highs_presolve'" in out, out
    # faulthandler's stack from the xdist worker names the line that hangs
    assert 'test_hang.py", line 12 in test_stuck_in_highs_presolve' in out, out
