"""Packaging: one top-level import name, every subpackage listed, the solver pair pinned."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "optim": "optim",
    "optim.models": "models",
    "optim.solvers": "solvers",
    "optim.instances": "instances",
}


def test_every_package_folder_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["package-dir"] == MAPPING
    listed = set(cfg["packages"])
    found = set()
    for name, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == listed


@pytest.mark.parametrize("name", ["models", "solvers", "instances"])
def test_sibling_folders_are_not_top_level_imports(name, tmp_path):
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("order", [("highspy", "ortools"), ("ortools", "highspy")])
def test_highspy_and_ortools_import_in_either_order(order, tmp_path):
    code = (
        f"import {order[0]}; import {order[1]}\n"
        "from ortools.sat.python import cp_model\n"
        "import highspy\n"
        "h = highspy.Highs(); h.setOptionValue('output_flag', False)\n"
        "m = cp_model.CpModel(); x = m.new_int_var(0, 3, 'x'); m.maximize(x)\n"
        "s = cp_model.CpSolver(); assert s.solve(m) == cp_model.OPTIMAL\n"
        "import pyomo.environ as pyo; assert pyo.SolverFactory('appsi_highs').available()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_interpreter_start_imports_no_documentation_tooling():
    """The dev venv must not import sphinx at every start (stockpyl's sphinx-toolbox .pth file;
    the Makefile removes it): it cost 0.3-0.9 s per process in the CLI tests, workers and
    benchmarks."""
    code = (
        "import sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sphinx', 'jinja2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
