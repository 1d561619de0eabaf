"""Graph helpers on nodes ``0..n-1`` and arcs given as two index arrays, written once.

* :func:`topological_order` — suppliers first (Kahn's algorithm with a stack: among the
  nodes that are ready, the lowest index goes first); raises :class:`CycleError`;
  :func:`topological_list` gives the same order as a list, without numpy.
* :func:`find_cycle` — one directed cycle, for error messages that name it.
* :class:`DisjointSets` — union-find with path halving; :func:`is_forest` and
  :func:`maximum_spanning_forest` (Kruskal) use it.

Pure Python/numpy, no solver: instances (cycle checks), models (GSM arrays, DP, relaxations)
and generators share these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where an array is made: find_cycle and DisjointSets
    import numpy as np  # run without it (`optim validate` of a planning folder, start-up)
    from numpy.typing import NDArray

    IntArray = NDArray[np.int64]

__all__ = [
    "CycleError",
    "DisjointSets",
    "find_cycle",
    "is_forest",
    "maximum_spanning_forest",
    "topological_list",
    "topological_order",
]


class CycleError(ValueError):
    """The directed graph has a cycle; ``nodes`` are those left with unmet predecessors."""

    def __init__(self, nodes: list[int]) -> None:
        super().__init__(f"the graph has a cycle through nodes {nodes[:5]}")
        self.nodes = nodes


def _successors(n: int, source: Iterable[int], target: Iterable[int]) -> list[list[int]]:
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(source, target, strict=True):
        succ[int(i)].append(int(j))
    return succ


def topological_list(
    n: int, source: Sequence[int] | IntArray, target: Sequence[int] | IntArray
) -> list[int]:
    """:func:`topological_order` as a list of Python ints, without numpy (start-up of
    ``optim validate``: the input gate's memory estimate orders a plan's stages)."""
    src, tgt = _listed(source), _listed(target)
    indeg = [0] * n
    for t in tgt:
        indeg[t] += 1
    succ = _successors(n, src, tgt)
    stack = [j for j in range(n) if indeg[j] == 0][::-1]
    out: list[int] = []
    while stack:
        j = stack.pop()
        out.append(j)
        for t in succ[j]:
            indeg[t] -= 1
            if indeg[t] == 0:
                stack.append(t)
    if len(out) != n:
        raise CycleError(sorted(j for j in range(n) if indeg[j] > 0))
    return out


def topological_order(
    n: int, source: Sequence[int] | IntArray, target: Sequence[int] | IntArray
) -> IntArray:
    """Nodes with every arc ``source[k] -> target[k]`` pointing forward (suppliers first)."""
    import numpy as np

    return np.array(topological_list(n, source, target), dtype=np.int64)


def _listed(values: Sequence[int] | IntArray) -> list[int]:
    """The node indices as Python ints."""
    tolist = getattr(values, "tolist", None)
    return [int(v) for v in (tolist() if tolist is not None else values)]


def find_cycle(
    n: int, source: Sequence[int] | IntArray, target: Sequence[int] | IntArray
) -> list[int]:
    """One directed cycle as a list of nodes (in arc order), or ``[]`` when acyclic."""
    succ = _successors(n, _listed(source), _listed(target))
    color = [0] * n  # 0 new, 1 on the current path, 2 done
    for root in range(n):
        if color[root]:
            continue
        stack: list[tuple[int, int]] = [(root, 0)]
        path = [root]
        color[root] = 1
        while stack:
            node, k = stack[-1]
            if k < len(succ[node]):
                stack[-1] = (node, k + 1)
                nxt = succ[node][k]
                if color[nxt] == 1:
                    return path[path.index(nxt) :]
                if color[nxt] == 0:
                    color[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                color[node] = 2
                stack.pop()
                path.pop()
    return []


class DisjointSets:
    """Union-find over ``0..n-1`` (path halving)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        """Join the sets of ``a`` and ``b``; ``False`` when they were already one set."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True


def is_forest(n: int, source: Sequence[int] | IntArray, target: Sequence[int] | IntArray) -> bool:
    """True when the undirected graph with these edges has no cycle."""
    sets = DisjointSets(n)
    return all(
        sets.union(int(a), int(b)) for a, b in zip(_listed(source), _listed(target), strict=True)
    )


def maximum_spanning_forest(
    n: int, source: IntArray, target: IntArray, weight: NDArray[np.float64]
) -> IntArray:
    """Arc positions of a maximum-weight spanning forest (Kruskal; ties by arc position)."""
    import numpy as np

    sets = DisjointSets(n)
    keep = [
        a
        for a in np.argsort(-np.asarray(weight), kind="stable").tolist()
        if sets.union(int(source[a]), int(target[a]))
    ]
    return np.array(sorted(keep), dtype=np.int64)
