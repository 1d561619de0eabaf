"""``optim solve --out -``: standard output carries the result document and nothing else.

HiGHS 1.12.0 printf's a debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution
tmpSolver.run();") from some MIPs whatever its output flag, so the rationing integer stage
of the instance below put text ahead of the JSON. While the document owns stdout, file
descriptor 1 points at stderr (``optim.cli._stdout_kept_for_the_document``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from optim.instances.generators.rationing import random_rationing


def test_solve_out_dash_writes_only_the_document_when_highs_prints(tmp_path):
    inst = random_rationing(
        623241, n_items=5, n_locations=5, n_lines=51, tiers=3, lot_share=0.7, aon_share=0.6,
        min_share=0.3,
    )  # fmt: skip
    path = tmp_path / "week.json"
    path.write_text(json.dumps(inst.to_dict()))
    run = subprocess.run(
        [sys.executable, "-m", "optim.cli", "solve", str(path), "--out", "-"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)  # nothing before or after the document
    assert doc["kind"] == "rationing" and doc["status"] == "optimal"


def test_c_level_prints_during_the_solve_go_to_stderr():
    """Python's, C stdio's (buffered: flushed before stdout is given back) and raw
    descriptor writes inside the scope reach stderr; the document written after it is
    stdout's only content."""
    code = textwrap.dedent(
        """
        import ctypes, os, sys
        from optim.cli import _stdout_kept_for_the_document
        libc = ctypes.CDLL(None)
        with _stdout_kept_for_the_document():
            print("python print")
            libc.printf(b"c printf\\n")  # stays in C's buffer: stdout is a pipe
            os.write(1, b"raw write\\n")
        sys.stdout.write("DOCUMENT")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout == "DOCUMENT"
    for text in ("python print", "c printf", "raw write"):
        assert text in run.stderr
