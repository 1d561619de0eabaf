"""Import direction, read from the source (issue: data flows one way).

instance → build → solve → extract → Result → report: the models and the instances never
import the API, the CLI or the planning product; instances import no model but the pure
graph helpers; solvers import the models' problem types only, never a kind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the public API, the CLI and the planning product: nothing below them may import these
TOP = ("optim.api", "optim.cli", "optim.planning", "optim.segmentation", "optim.service")
# the shared contract, importable anywhere (precision: how a quantity is written, in the
# tables and in the models' messages alike)
SHARED = {"errors", "params", "result", "status", "executor", "clock", "precision"}


def _imports(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "optim":
                out += [(node.lineno, f"optim.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def _violations(folder: str, allowed) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, name in _imports(path):
            if (name == "optim" or name.startswith("optim.")) and not allowed(name):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return bad


def _below_top(name: str) -> bool:
    if name == "optim":
        return False
    if any(name == t or name.startswith(t + ".") for t in TOP):
        return False
    head = name.split(".")[1]
    return head in SHARED or head in {"models", "solvers", "instances"}


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [
        ("models", _below_top),
        (
            "instances",
            lambda n: (
                _below_top(n)
                and not n.startswith("optim.solvers")
                and (not n.startswith("optim.models") or n == "optim.models.graph")
            ),
        ),
        (
            "solvers",
            lambda n: (
                _below_top(n)
                and not n.startswith("optim.instances")
                and (not n.startswith("optim.models") or n == "optim.models.problem")
            ),
        ),
    ],
)
def test_import_direction(folder, allowed):
    assert _violations(folder, allowed) == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The checker is not vacuous: a planted wrong-way import is reported."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bad.py").write_text("from optim import api\nimport optim.cli\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert len(_violations("models", _below_top)) == 2
