"""The tree DP's compiled passes (numba, cached on disk): imported on first use by
:func:`optim.models.safety_stock.dp.tree_dp`, so importing the package does not load numba.

The kernels are module-level functions: numba keys a closure's disk-cache entry on the pickled
objects it closes over, and a dispatcher pickles with a per-process id, so kernels defined
inside a function were compiled again in every process (seconds per planning run).

Stage ``k``'s cost at net replenishment time ``t`` is ``ct[ct_ptr[k] + t]``; its cost
matrix over ``(S, SI)`` is Toeplitz, ``ct[SI + T_k - S]`` (``+inf`` below ``t = 0``, i.e.
skipped), so no matrix is built. ``f_k``/``g_k`` and their arg-minima live in flat arrays
at ``off[k]``. Ties go to the smallest index (as ``numpy.argmin``); a prefix minimum keeps
the first minimiser, a suffix minimum the smallest index among equal values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bottom_up", "running_min", "top_down"]


@njit(cache=True)
def running_min(val, ext_val, ext_arg, o, size, right):  # fmt: skip
    """Prefix (or, ``right``, suffix) minima of ``val[o:o+size]`` and their arg-minima."""
    cur = np.inf
    ca = 0
    for q in range(size):
        x = size - 1 - q if right else q
        v = val[o + x]
        if v < cur or (right and v == cur):
            cur = v
            ca = x
        ext_val[o + x] = cur
        ext_arg[o + x] = ca


@njit(cache=True)
def bottom_up(
    post, lo, hi, parent, up, adj_ptr, adj_node, adj_dir, ns, ni, lead, slo, shi, ilo, ihi,
    ct_ptr, ct, off, val, arg, ext_val, ext_arg, root_s, root_si,
    pen_s, ps_off, pen_si, pi_off,
):  # fmt: skip
    total = 0.0
    for pos in range(lo, hi):
        k = post[pos]
        nsk, nik, t = ns[k], ni[k], lead[k]
        a = np.zeros(nik)
        b = np.zeros(nsk)
        for e in range(adj_ptr[k], adj_ptr[k + 1]):
            c = adj_node[e]
            if c == parent[k]:
                continue
            oc = off[c]
            size = off[c + 1] - oc
            if adj_dir[e] == -1:  # c -> k: S_c <= SI_k, prefix minimum of f_c
                for x in range(nik):
                    a[x] += ext_val[oc + min(x, size - 1)]
            else:  # k -> c: SI_c >= S_k, suffix minimum of g_c
                for x in range(nsk):
                    b[x] += ext_val[oc + x] if x < size else np.inf
        if pen_s.size > 0:  # Lagrangian terms: functions of S_k and of SI_k
            for x in range(nsk):
                b[x] += pen_s[ps_off[k] + x]
            for x in range(nik):
                a[x] += pen_si[pi_off[k] + x]
        for x in range(min(max(ilo[k], 0), nik)):
            a[x] = np.inf
        for x in range(ihi[k] + 1, nik):
            a[x] = np.inf
        for x in range(min(max(slo[k], 0), nsk)):
            b[x] = np.inf
        for x in range(shi[k] + 1, nsk):
            b[x] = np.inf
        c0 = ct_ptr[k]
        o = off[k]
        if parent[k] < 0 or up[k]:  # f_k(S) = B(S) + min_SI [c(S, SI) + A(SI)]
            for s in range(nsk):
                bv = np.inf
                ba = 0
                for si in range(max(s - t, 0), nik):
                    v = ct[c0 + si + t - s] + a[si]
                    if v < bv:
                        bv = v
                        ba = si
                val[o + s] = bv + b[s]
                arg[o + s] = ba
            if parent[k] < 0:
                best = 0
                for s in range(1, nsk):
                    if val[o + s] < val[o + best]:
                        best = s
                total += val[o + best]
                root_s[k] = best
                root_si[k] = arg[o + best]
            else:  # prefix minimum, first minimiser
                running_min(val, ext_val, ext_arg, o, nsk, False)
        else:  # g_k(SI) = A(SI) + min_S [c(S, SI) + B(S)]
            for si in range(nik):
                bv = np.inf
                ba = 0
                for s in range(min(nsk, si + t + 1)):
                    v = ct[c0 + si + t - s] + b[s]
                    if v < bv:
                        bv = v
                        ba = s
                val[o + si] = bv + a[si]
                arg[o + si] = ba
            running_min(val, ext_val, ext_arg, o, nik, True)  # suffix, smallest index
    return total


@njit(cache=True)
def top_down(pre, parent, up, off, arg, ext_arg, out, inb):  # fmt: skip
    for k in pre:  # parents before children
        p = parent[k]
        if p < 0:
            continue
        o = off[k]
        if up[k]:  # k -> p: S_k <= SI_p
            s = ext_arg[o + min(inb[p], off[k + 1] - o - 1)]
            out[k] = s
            inb[k] = arg[o + s]
        else:  # p -> k: SI_k >= S_p
            si = ext_arg[o + out[p]]
            inb[k] = si
            out[k] = arg[o + si]
