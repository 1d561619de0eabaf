"""Time limits hold inside the compiled kernels too (issue 12, "time limits hold on every
path"; "time-limit outcomes are deterministic for the same input").

The flow method's and the exact routing's kernels did not look at the clock inside a
component, and a component whose quantities span more than the staged LPs resolve
(``waterfill.LP_SPAN``) goes to them whatever its size: one item of 10,000 lines + cells
with a line of 1e9 beside lines of ~20 ran 15-35 CPU s under ``--time-limit 1``. To keep
time limits, components of more than 2,000 lines + cells of a narrow span went to the LPs
under a limit (``TIMED_COMPONENT``), so a plan depended on whether a limit was given: the
2,500-node item below routed 66 units differently with ``time_limit=600``. Now a thread
sets a flag at the deadline or on a cancel while the kernels run without the GIL
(``waterfill.watch``), the kernels read it before every search and leave, the solve ends as
a stage LP stopped at the limit does, and every component up to ``MAX_COMPONENT`` takes
the kernels with or without a limit.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rationing_magnitudes_large import _one_item
from test_rationing_waterfill import _instance, dense, sparse

import optim
from optim import SolveParams
from optim.cli import main
from optim.models.rationing import engine, routing, waterfill
from optim.models.rationing.arrays import prepare
from optim.solvers.base import interruptible
from optim.status import Status, Termination


def _digest(out: engine._BlockResult | engine.Outcome) -> str:
    h = hashlib.sha256()
    for a in (out.floor, out.alloc, out.flow, out.stage, out.level, out.share):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def wide_10k(tmp_path_factory):
    """One component of 10,000 lines + cells, a line of 1e9 units beside lines of ~20 (the
    dense benchmark's shape): beyond ``LP_SPAN``, so the kernels take it whatever its size."""
    inst = _one_item(0, 10_000, 1e9)
    p = prepare(inst)
    assert p.num_lines + p.num_cells == 10_000 and waterfill.spans(p)[1] > waterfill.LP_SPAN
    path = tmp_path_factory.mktemp("wide") / "week.json"
    path.write_text(json.dumps(inst.to_dict()))
    return path


def test_a_wide_10k_component_stops_at_a_1s_limit(wide_10k, tmp_path, capsys):
    """``optim solve --time-limit 1`` on it: exit 4 ("time_limit", no allocation, as any
    stage stopped at a limit) within about the limit. It ran 15.1 CPU s / 17.6 s wall (load
    0.5) before; the bounds leave room for a loaded machine (stopping takes milliseconds)."""
    engine.load_kernels(SolveParams())  # outside the limit, as in any process
    out = tmp_path / "out.json"
    cpu, wall = time.process_time(), time.perf_counter()
    code = main(["solve", str(wide_10k), "--time-limit", "1", "--out", str(out)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert code == 4
    doc = json.loads(out.read_text())
    assert doc["status"] == "time_limit" and doc["termination"] == "time_limit"
    assert "time limit reached" in doc["message"]
    assert cpu < 6.0 and wall < 20.0, (cpu, wall)


def test_without_a_limit_a_narrow_2500_component_gets_the_same_plan_as_with_one():
    """2,500 lines + cells of a narrow span: with and without ``time_limit=600`` the kernels
    take it (no LP) and the plan is the same to the byte. Before, the limit sent it to the
    staged LPs, whose routing shipped 66 units from other locations."""
    p = prepare(_one_item(0, 2_500, 50.0))
    free = engine.allocate(p, SolveParams(threads=1))
    timed = engine.allocate(p, SolveParams(threads=1, time_limit=600))
    assert free.lp_count == timed.lp_count == 0
    assert _digest(timed) == _digest(free)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["sparse", "dense"]), st.data())
def test_kernels_with_a_far_deadline_equal_the_kernels_without_one(seed, shape, data):
    """The watch changes nothing while it is not due: a block solved with a deadline far
    ahead (a watch thread beside every kernel call) equals the block solved without one (no
    thread), to the byte (stages 0-2, the integer stage, routing)."""
    kw = data.draw(sparse if shape == "sparse" else dense)
    p = prepare(_instance(shape, seed, kw))
    params = SolveParams(threads=1)
    free = engine._solve_block(p, engine._Runner(params))
    far = engine._Runner(params, deadline=time.perf_counter() + 3600)
    assert _digest(engine._solve_block(p, far)) == _digest(free)


def _small_week():
    return prepare(_instance("dense", 3, {"n_items": 2, "n_locations": 4, "n_customers": 3,
                                          "lines_per_customer": 6, "tiers": 2}))  # fmt: skip


def test_the_flow_kernel_stops_at_a_spent_deadline_and_on_a_cancel():
    """A deadline or a cancel already due when the kernel is called: the first component
    is not started (the flag is set on entry), the engine's outcome is a stage LP's."""
    p = _small_week()
    has_arc = np.bincount(p.arc_line, minlength=p.num_lines) > 0
    engine._exact(p, has_arc)  # answers without a deadline
    with pytest.raises(engine.EngineError) as spent:
        engine._exact(p, has_arc, deadline=time.perf_counter())
    assert spent.value.status is Status.TIME_LIMIT
    assert spent.value.termination is Termination.TIME_LIMIT
    with interruptible(lambda: True), pytest.raises(engine.EngineError) as cancelled:
        engine._exact(p, has_arc)
    assert cancelled.value.termination is Termination.INTERRUPTED
    assert str(cancelled.value) == "cancelled"


def test_the_engine_routing_stops_at_a_spent_deadline():
    """``engine._route_exact`` turns the routing kernel's stop into the stage LPs' outcome
    at a limit, as ``_exact`` does the flow kernel's."""
    p = _small_week()
    block = engine.Block(
        num_lines=p.num_lines, arc_line=p.arc_line, arc_cell=p.arc_cell, supply=p.supply
    )
    ga = np.arange(p.num_arcs)
    alloc = np.zeros(p.num_lines)
    usable = np.ones(p.num_arcs, dtype=bool)
    assert engine._route_exact(p, block, ga, alloc, usable) is not None
    with pytest.raises(engine.EngineError) as spent:
        engine._route_exact(p, block, ga, alloc, usable, deadline=time.perf_counter())
    assert spent.value.status is Status.TIME_LIMIT
    assert spent.value.termination is Termination.TIME_LIMIT


def test_the_routing_kernel_stops_at_a_spent_deadline_and_on_a_cancel():
    common = dict(
        arc_line=np.array([0, 0, 1, 1]),
        arc_cell=np.array([0, 1, 0, 1]),
        supply=np.array([5.0, 5.0]),
        line_component=np.zeros(2, np.int64),
        cell_component=np.zeros(2, np.int64),
        alloc=np.array([4.0, 4.0]),
        cost=np.array([1, 2, 2, 1]),
        previous=None,
        rank=np.zeros(4),
    )
    flow, ok = routing.route(**common, deadline=time.perf_counter() + 3600)
    assert ok.all() and flow.tolist() == [4.0, 0.0, 0.0, 4.0]
    with pytest.raises(waterfill.Stopped) as spent:
        routing.route(**common, deadline=time.perf_counter())
    assert not spent.value.cancelled
    with interruptible(lambda: True), pytest.raises(waterfill.Stopped) as cancelled:
        routing.route(**common)
    assert cancelled.value.cancelled


def test_a_cancel_inside_a_wide_component_ends_cancelled(wide_10k):
    """A cancel requested while the kernels work inside the component stops them. The
    check is asked when the block starts (``_Clock.remaining``), then when the flow kernel
    is called (``waterfill.watch``): False both times; it turns True 0.2 s after the second
    (the component's stages need 10+ CPU s in the kernels, nothing but the watch asks in
    between), and the solve ends ``interrupted`` within seconds of that."""
    inst = optim.load(wide_10k)
    engine.load_kernels(SolveParams())
    asked: list[float] = []

    def check() -> bool:
        asked.append(time.perf_counter())
        return len(asked) > 2 and asked[-1] > asked[1] + 0.2

    with interruptible(check):
        res = optim.solve(inst, SolveParams(threads=1))
    assert res.status is Status.TIME_LIMIT and res.termination is Termination.INTERRUPTED
    assert len(asked) > 3  # the watch asked while the kernel ran
    assert time.perf_counter() - (asked[1] + 0.2) < 5.0
