"""The flow kernel's orders in plain loops are the ``np.argsort`` calls they replaced in the
kernel, as numba compiles them: ``_stable_order`` is numba's (and numpy's) stable argsort -
ascending, ties in index order; ``_quick_order`` is numba's default quicksort argsort, the
same permutation ties and NaN included (numpy's quicksort orders ties otherwise, so only
numba's is the reference) - for any prefix length."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from optim.models.rationing.waterfill import _quick_order, _stable_order


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


@njit
def _numba_quicksort(keys, m):  # the call _quick_order replaced in _ration_components
    return np.argsort(keys[:m])


@settings(max_examples=200)  # the kernel's sums run in this order: test it hard
@given(
    st.lists(
        st.one_of(st.integers(-4, 4).map(float), st.just(float("nan")), st.floats(-1e3, 1e3)),
        max_size=300,  # past the insertion sort's 15 keys: partitions, the stack
    ),
    st.integers(0, 300),
    st.sampled_from([1.0, -1e-9, 0.1]),
)
def test_quick_order_is_numbas_quicksort_argsort(values, m, scale):
    keys = np.array(values + [0.0] * 3, dtype=np.float64) * scale  # a tail beyond m is ignored
    m = min(m, len(values))
    got = _quick_order(keys, m)
    assert got.dtype == np.int64
    assert got.tolist() == _numba_quicksort(keys, m).tolist()


def test_quick_order_on_sorted_reversed_and_equal_keys():
    for keys in (np.arange(500.0), np.arange(500.0)[::-1].copy(), np.ones(500), np.zeros(0)):
        assert _quick_order(keys, len(keys)).tolist() == _numba_quicksort(keys, len(keys)).tolist()
