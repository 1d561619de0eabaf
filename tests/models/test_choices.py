"""models.choices: each kind's methods and solvers, checked the same way by the solve loops
(CLI exit 2) and by the service at submission (422)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optim import api
from optim.errors import InstanceError
from optim.models import choices
from optim.params import SolveParams

EXAMPLES = Path(__file__).resolve().parents[2] / "instances" / "data"


def test_every_kind_states_its_methods_and_solvers() -> None:
    assert set(choices.METHODS) == set(choices.SOLVERS) == set(api.KINDS)
    for kind in api.KINDS:
        assert choices.METHODS[kind][0] == "auto" and "auto" in choices.SOLVERS[kind]
        for method in choices.METHODS[kind]:
            choices.check(kind, SolveParams(method=method))


@pytest.mark.parametrize("kind", sorted(api.KINDS))
def test_a_method_the_kind_does_not_have_is_refused_with_what_is_allowed(kind: str) -> None:
    with pytest.raises(InstanceError) as err:
        choices.check(kind, SolveParams(method="bogus"), load=False)
    assert err.value.field == "params.method"
    assert str(err.value) == (
        f"params.method 'bogus' is not available for {kind}; allowed: "
        + ", ".join(choices.METHODS[kind])
    )


def test_the_solve_loops_refuse_as_the_submission_check() -> None:
    """The same message from api.solve (the CLI's path) as from the service's check."""
    doc = api.load(EXAMPLES / "two_echelon_gsm.json")
    with pytest.raises(InstanceError) as solved:
        api.solve(doc, SolveParams(solver="cpsat"))
    with pytest.raises(InstanceError) as checked:
        choices.check("safety_stock", SolveParams(solver="cpsat"), load=False)
    assert str(solved.value) == str(checked.value)
    assert "params.solver 'cpsat' is not available for safety_stock" in str(checked.value)
    capacity = api.load(EXAMPLES / "peak_capacity.json")
    with pytest.raises(InstanceError, match=r"params\.method 'x' is not available for capacity"):
        api.solve(capacity, SolveParams(method="x"))


def test_a_name_check_without_loading_imports_no_solver() -> None:
    """The service checks names at submission without importing a solver backend."""
    import subprocess

    code = (
        "import sys; from optim.models import choices; from optim.params import SolveParams; "
        "choices.check('rationing', SolveParams(solver='cpsat'), load=False); "
        "print(sorted(m for m in ('ortools', 'highspy', 'pyomo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
