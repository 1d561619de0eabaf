"""The flow kernel's stable order (optim.models.rationing.waterfill._stable_order) is the
``np.argsort(kind="mergesort")`` it replaced in the kernel (numba's, compiled) and numpy's
stable argsort: ascending, ties in index order, for any prefix length."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from optim.models.rationing.waterfill import _stable_order


@njit
def _numba_mergesort(keys, m):  # the call _stable_order replaced in _ration_components
    return np.argsort(keys[:m], kind="mergesort")


@given(
    st.lists(st.integers(-5, 5), max_size=70),  # few values: many ties
    st.integers(0, 70),
    st.sampled_from([1.0, -1e-9, 0.1]),
)
def test_stable_order_is_numpys_stable_argsort(values, m, scale):
    keys = np.array(values + [0] * 3, dtype=np.float64) * scale  # a tail beyond m is ignored
    m = min(m, len(values))
    got = _stable_order(keys, m)
    assert got.dtype == np.int64
    assert got.tolist() == np.argsort(keys[:m], kind="stable").tolist()
    assert got.tolist() == _numba_mergesort(keys, m).tolist()
