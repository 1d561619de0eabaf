"""A cancel ends a solve with termination ``interrupted``, never ``time_limit``.

The seam is :func:`optim.solvers.base.interruptible`, which the HTTP service's workers put
around :func:`optim.solve` (tests/service/test_api.py cancels a job end to end).
"""

from __future__ import annotations

import threading

import optim
from optim import SolutionStatus, Status, Termination
from optim.instances.generators.capacity import generate
from optim.solvers.base import interruptible


def test_a_cancelled_mip_keeps_its_best_solution_and_says_interrupted():
    """A lot-sizing MIP HiGHS works on for minutes, cancelled from another thread."""
    inst = generate(n_periods=26, n_products=40, n_resources=4, lot_sizing=True, seed=1)
    event = threading.Event()
    threading.Timer(3.0, event.set).start()
    with interruptible(event.is_set) as scope:
        res = optim.solve(inst, time_limit=600)
    assert scope.stops > 0
    assert res.termination is Termination.INTERRUPTED and res.status is Status.TIME_LIMIT
    if res.has_solution():  # an incumbent within a second on an idle machine
        assert res.solution_status is SolutionStatus.FEASIBLE and res.gap > 0
    assert res.to_dict()["termination"] == "interrupted"


def test_a_cancel_before_the_first_lp_stops_every_kind_that_polls_it():
    capacity = optim.solve(optim.load_example("peak_capacity"))
    rationing = optim.load_example("weekly_rationing")
    with interruptible(lambda: True):
        res = optim.solve(optim.load_example("peak_capacity"))
        assert res.termination is Termination.INTERRUPTED
        assert res.solution_status is SolutionStatus.NONE and res.status is Status.TIME_LIMIT
        # the stages check the cancel before each LP (a small LP may end before HiGHS polls)
        # and before the compiled flow methods
        for method in ("lp", "auto"):
            res = optim.solve(rationing, method=method)
            assert res.termination is Termination.INTERRUPTED and not res.has_solution()
            assert res.message.startswith("cancelled before every stage finished")
    assert capacity.termination is Termination.OPTIMAL


def test_a_cancel_nobody_asked_for_changes_nothing():
    """A set check is what stops a solve: a time limit stays a time limit, and a solve that
    finishes inside an interruptible block is optimal."""
    inst = generate(n_periods=26, n_products=40, n_resources=4, lot_sizing=True, seed=1)
    with interruptible(lambda: False) as scope:
        res = optim.solve(inst, time_limit=2)
        done = optim.solve(optim.load_example("peak_capacity"))
    assert scope.stops == 0
    assert res.termination is Termination.TIME_LIMIT
    assert done.termination is Termination.OPTIMAL
    with interruptible(lambda: True) as scope:  # the tree DP polls nothing: it finishes
        res = optim.solve(optim.load_example("two_echelon_gsm"))
    assert scope.stops == 0 and res.termination is Termination.OPTIMAL


def test_a_wall_clock_cap_stops_highs_at_its_deadline_even_where_callbacks_are_quiet():
    """The service's cap is a deadline: HiGHS does not poll its interrupt callbacks in every
    phase (this MIP ran from 15.0 s to 25.2 s without one, so the server killed the worker at
    its backstop), so the adapter also gives HiGHS the time left as its own limit, and
    reaching it is an interrupt, not the solve's time limit."""
    import time

    inst = generate(n_periods=26, n_products=40, n_resources=4, lot_sizing=True, seed=1)
    stop_at = time.monotonic() + 15.0
    with interruptible(lambda: False, deadline=stop_at) as scope:
        res = optim.solve(inst)
    late = time.monotonic() - stop_at
    assert late < 2.0, f"HiGHS stopped {late:.1f} s after the cap"
    assert scope.stops > 0 and res.termination is Termination.INTERRUPTED
    assert res.status is Status.TIME_LIMIT and res.message.startswith("HiGHS: Interrupted")
    # the solve's own, shorter limit stays a time limit
    far = time.monotonic() + 600.0
    with interruptible(lambda: False, deadline=far) as scope:
        res = optim.solve(inst, time_limit=2)
    assert scope.stops == 0 and res.termination is Termination.TIME_LIMIT
