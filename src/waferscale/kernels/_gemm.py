"""Pieces shared by the GEMM kernels (``gemm-summa``, ``gemm-cannon``): the local block product
with ``fmacs``, the host-side block layout, the numpy emulation of the PEs' arithmetic order, and
the row/column broadcast routes of a moving root.

Blocks are stored column-major on the PEs: an ``m x k`` block ``X`` is ``m*k`` f32 words with
``X[r, c]`` at ``c*m + r``, so column ``c`` is one contiguous memory DSD.
"""

from __future__ import annotations

import numpy as np

from ..program import mem1d_dsd

# -- the local product --------------------------------------------------------------------------


def block_columns(sym, rows: int, cols: int, base: int = 0) -> list:
    """Memory DSDs of the ``cols`` columns (``rows`` long) of a column-major block at ``base``."""
    return [mem1d_dsd(sym, rows, offset=base + c * rows) for c in range(cols)]


def local_gemm(pe, C_cols: list, A_cols: list, B_sym, B_base: int, kb: int, nb: int) -> None:
    """``C += A B`` for column-major blocks: ``nb * kb`` fmacs ``C[:, n] += A[:, k] * B[k, n]``
    (``mb`` elements each). The scalars ``B[k, n]`` are read from PE memory as the task runs."""
    bv = pe[B_sym][B_base : B_base + kb * nb].tolist()
    for n in range(nb):
        cn = C_cols[n]
        col = bv[n * kb : (n + 1) * kb]
        for k in range(kb):
            pe.fmacs(cn, cn, A_cols[k], col[k])


def local_gemm_cycles(arch, mb: int, kb: int, nb: int) -> int:
    """Cycles of :func:`local_gemm`: ``nb * kb`` memory ops of ``mb`` elements."""
    from ._base import vector_cycles

    return nb * kb * vector_cycles(arch, mb, "f32")


# -- host side ----------------------------------------------------------------------------------


def col_major_blocks(X: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Cut padded ``X`` (R*rows x Cn*cols) into blocks; returns shape (R, Cn, rows*cols) with each
    block column-major."""
    R, Cn = X.shape[0] // rows, X.shape[1] // cols
    return np.ascontiguousarray(
        X.reshape(R, rows, Cn, cols).transpose(0, 2, 3, 1).reshape(R, Cn, rows * cols)
    )


def from_col_major_blocks(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Inverse of :func:`col_major_blocks` for blocks shaped (R, Cn, rows*cols)."""
    R, Cn = blocks.shape[:2]
    return blocks.reshape(R, Cn, cols, rows).transpose(0, 3, 1, 2).reshape(R * rows, Cn * cols)


def pad(X: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), np.float32)
    out[: X.shape[0], : X.shape[1]] = X
    return out


def pe_order_product(A: np.ndarray, B: np.ndarray, order) -> np.ndarray:
    """``A B`` in float32 the way the PEs add: starting from 0, for every inner index ``kk`` in
    ``order`` (the global inner index each step adds, in time order), ``C = C + A[:, kk] B[kk, :]``
    with the multiply and the add each rounded (unfused fmacs)."""
    C = np.zeros((A.shape[0], B.shape[1]), np.float32)
    for kk in order:
        C = C + (A[:, kk : kk + 1] * B[kk : kk + 1, :])
    return C


def gemm_inputs(M: int, K: int, N: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (M, K)).astype(np.float32)
    B = rng.uniform(-1, 1, (K, N)).astype(np.float32)
    return A, B


# -- the interleaved ring embedding (Cannon) -------------------------------------------------------


def ring_order(p: int) -> list[int]:
    """Ring position -> physical index on a line of ``p``: 0, 2, 4, ... outward, then the odd
    indices back (..., 5, 3, 1), so consecutive ring positions (and the last and the first) are
    at most two hops apart."""
    evens = list(range(0, p, 2))
    odds = list(range(1, p, 2))[::-1]
    return evens + odds


def ring_streams(p: int) -> list[tuple[int, int]]:
    """The streams of a cyclic shift toward lower ring positions: ring position r + 1 sends to r,
    as (source, destination) physical indices, one per ring position r (p > 1)."""
    R = ring_order(p)
    return [(R[(r + 1) % p], R[r]) for r in range(p)]


def stream_colors(streams: list[tuple[int, int]], palette: tuple[int, ...]) -> list[int]:
    """A color per stream such that no router touched by two streams sees one color twice: the
    streams are intervals of routers, colored greedily by left end (optimal for intervals; the
    interleaved ring needs three: a router is touched by at most three streams)."""
    spans = [(min(a, b), max(a, b)) for a, b in streams]
    out: dict[int, int] = {}
    for k in sorted(range(len(streams)), key=lambda k: spans[k]):
        lo, hi = spans[k]
        used = {c for m, c in out.items() if spans[m][0] <= hi and lo <= spans[m][1]}
        free = [c for c in palette if c not in used]
        if not free:
            raise ValueError(f"stream colors: palette {palette} too small for {streams}")
        out[k] = free[0]
    return [out[k] for k in range(len(streams))]


def stream_routes(a: int, b: int) -> dict[int, tuple[str, str]]:
    """(rx, tx) per router position of a stream from ``a`` to ``b`` along a line (low index =
    WEST / NORTH side, given here as 'lo' / 'hi')."""
    step = 1 if b > a else -1
    fwd, back = ("hi", "lo") if step == 1 else ("lo", "hi")
    out = {a: ("RAMP", fwd)}
    for k in range(a + step, b, step):
        out[k] = (back, fwd)
    out[b] = (back, "RAMP")
    return out


# -- broadcast from a moving root along a line ---------------------------------------------------


def line_role(pos: int, owner: int, n: int, axis: str) -> tuple[list[str], list[str]]:
    """(rx, tx) of the router at ``pos`` of a line of ``n`` routers (``axis`` 'row': west to
    east; 'col': north to south) while the PE at ``owner`` floods it: the owner sends both ways,
    every other router hands a copy to its CE and passes it on away from the owner."""
    lo, hi = ("WEST", "EAST") if axis == "row" else ("NORTH", "SOUTH")
    if pos == owner:
        tx = ([hi] if pos < n - 1 else []) + ([lo] if pos > 0 else [])
        return ["RAMP"], tx
    if pos > owner:
        return [lo], ["RAMP"] + ([hi] if pos < n - 1 else [])
    return [hi], ["RAMP"] + ([lo] if pos > 0 else [])
