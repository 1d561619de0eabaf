"""The one time-limit clock (optim.clock.Clock): budget, shared deadline, floor per call."""

from __future__ import annotations

import time

import pytest

from optim.clock import MIN_SLICE, Clock


def test_no_limit_never_expires() -> None:
    clock = Clock(None)
    assert clock.left() is None
    assert not clock.expired()


def test_spent_budget_still_hands_the_floor_to_the_next_call() -> None:
    clock = Clock(1e-9)
    time.sleep(0.002)
    assert clock.expired()
    assert clock.left() == MIN_SLICE
    floored = Clock(1e-9, floor=1.0)
    time.sleep(0.002)
    assert floored.expired()
    assert floored.left() == 1.0


def test_left_counts_down_from_the_limit() -> None:
    clock = Clock(100.0, floor=1.0)
    left = clock.left()
    assert left is not None and 99.0 < left <= 100.0
    assert clock.elapsed() >= 0.0


def test_shared_deadline_wins_over_limit() -> None:
    deadline = time.perf_counter() + 50.0
    clock = Clock(1000.0, deadline=deadline)
    assert clock.deadline == deadline
    left = clock.left()
    assert left is not None and left <= 50.0


def test_capacity_runs_on_the_shared_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # every solver call of the capacity solve asks the one clock for its time slice
    from optim.models.capacity import solve as capacity
    from optim.params import SolveParams

    floors: list[float] = []
    original = Clock.left

    def spy(self: Clock) -> float | None:
        floors.append(self.floor)
        return original(self)

    monkeypatch.setattr(Clock, "left", spy)
    inst = {
        "periods": ["W1", "W2"],
        "resources": [{"id": "r", "capacity": 10}],
        "products": [{"id": "p", "usage": {"r": 1.0}, "holding_cost": 1.0}],
        "segments": [{"name": "s", "priority": 1, "backlog_cost": 1.0, "lost_sales_cost": 5.0}],
        "demand": [{"product": "p", "segment": "s", "period": "W2", "quantity": 15}],
    }
    res = capacity.solve(inst, SolveParams(time_limit=30.0))
    # W2 needs 15 on 10 hours: pre-build 5 in W1 (holding 5 × 1) instead of losing 5 × 5
    assert res.objective == pytest.approx(5.0)
    assert floors and set(floors) == {capacity.MIN_SOLVER_SECONDS}
