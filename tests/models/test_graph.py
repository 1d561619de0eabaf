"""Graph helpers against brute-force definitions on random graphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optim.models.graph import (
    CycleError,
    DisjointSets,
    find_cycle,
    is_forest,
    maximum_spanning_forest,
    topological_list,
    topological_order,
)


@st.composite
def digraphs(draw, max_n: int = 7):
    n = draw(st.integers(1, max_n))
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    arcs = draw(st.lists(st.sampled_from(pairs), max_size=12, unique=True)) if pairs else []
    return n, [a for a, _ in arcs], [b for _, b in arcs]


def _reaches(n: int, src: list[int], tgt: list[int], a: int, b: int) -> bool:
    seen, todo = {a}, [a]
    while todo:
        x = todo.pop()
        for s, t in zip(src, tgt, strict=True):
            if s == x and t not in seen:
                seen.add(t)
                todo.append(t)
    return b in seen


@given(digraphs())
def test_topological_order_or_a_real_cycle(g):
    n, src, tgt = g
    acyclic = not any(_reaches(n, src, tgt, t, s) for s, t in zip(src, tgt, strict=True))
    cycle = find_cycle(n, src, tgt)
    if acyclic:
        order = topological_order(n, src, tgt)
        rank = {int(v): k for k, v in enumerate(order)}
        assert sorted(rank) == list(range(n))
        assert all(rank[s] < rank[t] for s, t in zip(src, tgt, strict=True))
        assert cycle == []
        arrays = (np.array(src, dtype=np.int64), np.array(tgt, dtype=np.int64))
        assert topological_list(n, src, tgt) == order.tolist() == topological_list(n, *arrays)
        assert find_cycle(n, *arrays) == []
    else:
        try:
            topological_order(n, src, tgt)
        except CycleError as exc:
            assert exc.nodes
            with pytest.raises(CycleError) as listed:
                topological_list(n, src, tgt)
            assert listed.value.nodes == exc.nodes
        else:  # pragma: no cover - the assertion below reports it
            raise AssertionError("a cyclic graph got a topological order")
        arcs = set(zip(src, tgt, strict=True))
        assert cycle and all(
            (cycle[k], cycle[(k + 1) % len(cycle)]) in arcs for k in range(len(cycle))
        )


@given(digraphs())
def test_forest_and_spanning_forest(g):
    n, src, tgt = g
    # brute force: a forest has no subset of edges that closes an undirected cycle, i.e.
    # the number of components is n - edges
    sets = DisjointSets(n)
    for a, b in zip(src, tgt, strict=True):
        sets.union(a, b)
    components = len({sets.find(v) for v in range(n)})
    undirected = {frozenset(e) for e in zip(src, tgt, strict=True)}
    assert is_forest(n, src, tgt) == (components == n - len(src) and len(undirected) == len(src))
    if not src:
        return
    w = np.arange(len(src), dtype=float)[::-1].copy()
    keep = maximum_spanning_forest(n, np.array(src), np.array(tgt), w)
    assert is_forest(n, np.array(src)[keep], np.array(tgt)[keep])
    assert len(keep) == n - components
    best = max(
        (
            sum(w[list(c)])
            for r in range(len(src) + 1)
            for c in itertools.combinations(range(len(src)), r)
            if len(c) == n - components
            and is_forest(n, np.array(src)[list(c)], np.array(tgt)[list(c)])
        ),
        default=0.0,
    )
    assert sum(w[keep]) == best
