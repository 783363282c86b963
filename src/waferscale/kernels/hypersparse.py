"""``hypersparse-spmv``: y = A x for a very sparse matrix (fewer nonzeros than rows), with a
load-balanced 2D partition (the SDK's hypersparse SpMV example, 4x4 PEs).

The matrix. ``M`` x ``N`` with ``nnz`` nonzeros (f32) whose rows follow a power law (density
~ (r + 1)^-0.8: a few heavy rows at the top, most rows empty) and whose columns are
uniform; the structure is a deterministic function of the sizes, the values and x depend on the
seed.

Partition (host side, from the structure only). The rows are cut into H contiguous *row blocks*
of about nnz / H nonzeros each (cuts on the cumulative row counts); inside row block j the
nonzeros, sorted by column, are cut into W contiguous *column ranges* of about nnz / (W H)
nonzeros each (cuts between columns): PE (i, j) gets rows block j x column range (i, j), so
every PE holds about the same number of nonzeros whatever the skew (a plain block partition of
the same matrix is reported for comparison in ``extras``). Hypersparse storage: a row block
keeps only its ``nr_j`` non-empty rows and ``nc_j`` non-empty columns (compressed, like DCSR /
DCSC); PE (i, j)'s columns are the slice ``[k0, k1)`` of its row block's compressed columns.

x broadcast. The host copies ``x_j = x[cols_j]`` (the row block's compressed x) into PE (0, j),
which floods it east along row j on ``X_COLOR``: the routers of the row multicast it to their
CE and on, and a **counter filter** on each router (period nc_j, started at -k0, passing k1 - k0)
lets exactly the PE's slice down its ramp, so a PE receives only the x it needs with one
fabric-input op while the stream runs at one wavelet per cycle past it.

Local product. Per nonzero (sorted by row, then column) one ``fmacs`` of one element,
``y[ry] += a * x[kx]``, plus ``NNZ_OVERHEAD_CYCLES`` of scalar work (loading the two indices,
moving the DSD offsets: an assumption, as in the histogram kernel). ``y`` is the row block's
compressed partial result (nr_j words, cleared first).

Reduction to the owners. The partial y of row block j is chain-reduced west to east along row j
(``_patterns`` chain, colors 0/1): the owner of row block j's rows is PE (W - 1, j); the host
reads its nr_j words and scatters them into y (empty rows are 0).

Cost model: the formula below evaluated on the partition of the matrix's structure (no
simulation; the structure is known from the sizes), max over the rows j of PEs:

    x_i   = max(v(nr_j) + [i = 0] 1, [i > 0] (k1_ij + 2 ramp + i hop + 1 + ts))
                                                 (y cleared; the x slice in, its task started)
    c_i   = x_i + nnz_ij (v(1) + NNZ_OVERHEAD_CYCLES)              (local products)
    T_j   = max_i (c_i + trip (W - 1 - i)) + nr_j + 1               (the row chain; trip = 2 ramp
                                                                     + hop + 1)

FLOPs: 2 nnz; bytes: 12 nnz (value, row and column index) + 4 (N + M) (x and y once).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    ASYNC_ISSUE_CYCLES,
    Kernel,
    KernelError,
    Outcome,
    allclose_check,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._patterns import chain_colors, chain_step, row_chain_routes

X_COLOR = 2
ROW_COLORS = (0, 1)
X_THREAD = 1
PRODUCTS_TASK = 10
NNZ_OVERHEAD_CYCLES = 2
"""Scalar cycles per nonzero besides its one-element fmacs (load the row and column index, set
the two DSD offsets): an assumption, the vendor's timing of this loop is not public."""
ROW_SKEW = 0.8


# -- the matrix and its partition -------------------------------------------------------------


@lru_cache(maxsize=8)
def structure(M: int, N: int, nnz: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the nonzeros, unique, sorted by (row, col); deterministic in the sizes."""
    rng = np.random.default_rng([M, N, nnz, 6])
    a = 1.0 - ROW_SKEW  # rows: inverse CDF of the density ~ (r + 1)^-skew on [0, M)
    top = (M + 1.0) ** a - 1.0
    keys = np.zeros(0, np.int64)
    while keys.size < nnz:
        u = rng.random(2 * nnz)
        r = np.minimum(np.floor((1.0 + u * top) ** (1.0 / a)) - 1.0, M - 1).astype(np.int64)
        c = rng.integers(0, N, 2 * nnz)
        new = r.astype(np.int64) * N + c
        keys = np.concatenate([keys, new])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]
    keys = np.sort(keys[:nnz])
    out = (keys // N, keys % N)
    for a in out:
        a.setflags(write=False)
    return out


@dataclass
class Partition:
    """The load-balanced 2D partition: per row block j, its row range, compressed rows and
    columns; per PE (i, j) its column slice [k0, k1) of cols_j and its nonzeros."""

    W: int
    H: int
    row_cut: np.ndarray  # H + 1 row boundaries
    rows: list  # per j: the non-empty rows of the block (sorted)
    cols: list  # per j: the non-empty columns of the block (sorted)
    k: np.ndarray  # (H, W + 1): column-slice boundaries in cols_j
    loads: np.ndarray  # (H, W): nonzeros per PE
    span: np.ndarray  # (H, 2): the block's slice of the (row, col)-sorted nonzero list
    kx: list  # per j: each of the block's nonzeros' position in cols_j

    def nnz(self) -> np.ndarray:
        return self.loads

    def pe_nonzeros(self, j: int, i: int) -> np.ndarray:
        """Indices (into the sorted nonzero list) of PE (i, j)'s nonzeros, in (row, col) order."""
        kx = self.kx[j]
        inside = (kx >= self.k[j, i]) & (kx < self.k[j, i + 1])
        return self.span[j, 0] + np.nonzero(inside)[0]


def _cuts(cum: np.ndarray, parts: int) -> np.ndarray:
    """Positions cutting a sequence with cumulative counts ``cum`` (cum[0] = 0) into ``parts``
    pieces of about equal count (cuts only between items)."""
    total = cum[-1]
    targets = total * np.arange(1, parts) / parts
    inner = np.searchsorted(cum, targets, side="left")
    # take the nearer of the two item boundaries around each target
    lo = np.clip(inner - 1, 0, len(cum) - 1)
    pick = np.where(
        np.abs(cum[lo] - targets) <= np.abs(cum[np.minimum(inner, len(cum) - 1)] - targets),
        lo,
        inner,
    )
    pick = np.maximum.accumulate(np.clip(pick, 0, len(cum) - 1))
    return np.concatenate([[0], pick, [len(cum) - 1]])


def partition(M: int, N: int, nnz: int, W: int, H: int) -> Partition:
    rows, cols = structure(M, N, nnz)
    counts = np.bincount(rows, minlength=M)
    row_cut = _cuts(np.concatenate([[0], np.cumsum(counts)]), H)
    span = np.stack(
        [np.searchsorted(rows, row_cut[:-1]), np.searchsorted(rows, row_cut[1:])], axis=1
    )
    R, C, KX = [], [], []
    K = np.zeros((H, W + 1), np.int64)
    loads = np.zeros((H, W), np.int64)
    for j in range(H):
        r, c = rows[span[j, 0] : span[j, 1]], cols[span[j, 0] : span[j, 1]]
        ucols, kx = np.unique(c, return_inverse=True)
        R.append(np.unique(r))
        C.append(ucols)
        KX.append(kx)
        if len(ucols):
            cum = np.concatenate([[0], np.cumsum(np.bincount(kx, minlength=len(ucols)))])
            K[j] = _cuts(cum, W)
            loads[j] = np.diff(cum[K[j]])
    return Partition(W, H, row_cut, R, C, K, loads, span, KX)


def block_partition_loads(M: int, N: int, nnz: int, W: int, H: int) -> np.ndarray:
    """Nonzeros per PE of the plain 2D block partition (M/H rows x N/W columns), to compare."""
    rows, cols = structure(M, N, nnz)
    bj = np.minimum(rows * H // M, H - 1)
    bi = np.minimum(cols * W // N, W - 1)
    return np.bincount(bj * W + bi, minlength=W * H).reshape(H, W)


# -- the device program --------------------------------------------------------------------------


def spmv_program(
    c, *, cap_nnz: int, cap_x: int, cap_r: int, x_role: str | None, row_in, row_out
) -> None:
    """``x_role``: 'src' (column 0 of a row with more PEs: floods x_j east), 'dst' (receives its
    x slice), None (one column). ``meta`` = (nonzeros, x slice length, nr_j, nc_j)."""
    vals = c.array("vals", "f32", max(cap_nnz, 1), export=True)
    idx = c.array("idx", "u32", max(2 * cap_nnz, 1), export=True)  # (row, x) per nonzero
    xs = c.array("x", "f32", max(cap_x, 1), export=True)
    y = c.array("y", "f32", max(cap_r, 1), export=True)
    meta = c.array("meta", "u32", 4, export=True)
    ts = declare_timer(c)

    def compute(pe):
        stamp(pe, ts, 0)
        n, nx, nr, nc = (int(v) for v in pe[meta])
        if x_role == "src" and nc:
            pe.fmovs(fabout_dsd(X_COLOR, nc), mem1d_dsd(xs, nc), async_=True, microthread=X_THREAD)
        receiving = x_role == "dst" and nx > 0
        if receiving:  # take the x slice off the flood at once, so the flood never waits
            pe.fmovs(
                mem1d_dsd(xs, nx),
                fabin_dsd(X_COLOR, nx),
                async_=True,
                microthread=X_THREAD,
                activate=PRODUCTS_TASK,
            )
        if nr:
            pe.fmovs(mem1d_dsd(y, nr), 0.0)
        if not receiving:
            products(pe)

    def products(pe):
        n, nx, nr, nc = (int(v) for v in pe[meta])
        xv = pe[xs]
        ix = pe[idx]
        for e in range(n):
            r, k = int(ix[2 * e]), int(ix[2 * e + 1])
            at = mem1d_dsd(y, 1, offset=r)
            pe.fmacs(at, at, mem1d_dsd(vals, 1, offset=e), float(xv[k]))
            pe.spend(NNZ_OVERHEAD_CYCLES)
        if nr:
            chain_step(pe, "fadds", mem1d_dsd(y, nr), nr, row_in, row_out)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.bind_local_task(products, PRODUCTS_TASK)
    c.export(compute)


def build_layout(arch, part: Partition, caps: tuple[int, int, int]) -> Layout:
    W, H = part.W, part.H
    lay = Layout(W, H, arch=arch, name=f"hypersparse_{W}x{H}")
    cap_nnz, cap_x, cap_r = caps
    for i in range(W):
        row_in, row_out = chain_colors(i, W, ROW_COLORS)
        role = None if W == 1 else ("src" if i == 0 else "dst")
        lay.set_region_code(
            i,
            0,
            1,
            H,
            spmv_program,
            cap_nnz=cap_nnz,
            cap_x=cap_x,
            cap_r=cap_r,
            x_role=role,
            row_in=row_in,
            row_out=row_out,
        )
    row_chain_routes(lay, W, H, ROW_COLORS)
    if W > 1:
        lay.set_region_route(0, 0, 1, H, X_COLOR, rx="RAMP", tx="EAST")
        if W > 2:
            lay.set_region_route(1, 0, W - 2, H, X_COLOR, rx="WEST", tx=["RAMP", "EAST"])
        lay.set_region_route(W - 1, 0, 1, H, X_COLOR, rx="WEST", tx="RAMP")
        for j in range(H):
            nc = len(part.cols[j])
            for i in range(1, W):
                k0, k1 = int(part.k[j, i]), int(part.k[j, i + 1])
                # pass wavelets k0 .. k1 - 1 of every nc: the counter runs (k - k0) mod nc
                lay.set_filter(
                    i,
                    j,
                    X_COLOR,
                    kind="counter",
                    pass_count=k1 - k0,
                    max_counter=max(nc - 1, 0),
                    init_counter=(nc - k0) % nc if nc else 0,
                )
    return lay


def pe_order_reference(
    part: Partition, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, x: np.ndarray
) -> list:
    """Per row block j, the owner's compressed y in float32 in the PEs' order: each PE
    accumulates its nonzeros in (row, col) order from 0, then the row chain adds the PEs'
    partial vectors west to east."""
    out = []
    for j in range(part.H):
        rj = part.rows[j]
        acc = None
        for i in range(part.W):
            yp = np.zeros(len(rj), np.float32)
            for e in part.pe_nonzeros(j, i):
                r = np.searchsorted(rj, rows[e])
                yp[r] = np.float32(yp[r] + vals[e] * x[cols[e]])
            acc = yp if acc is None else (acc + yp).astype(np.float32)
        out.append(acc)
    return out


# -- the kernel ------------------------------------------------------------------------------------


@register
class HypersparseSpmv(Kernel):
    name = "hypersparse-spmv"
    summary = (
        "y = A x, A hypersparse (power-law rows): load-balanced 2D partition, x flooded along "
        "the rows through counter filters, partial y chain-reduced to the owners"
    )
    size_names = ("M", "N", "nnz")
    default_grid = (4, 4)
    default_size = {"M": 4096, "N": 4096, "nnz": 1024}
    check = "allclose(y, A x [f64], rtol=1e-5, atol=1e-5*max|y|); bit-exact in the PEs' order"

    def validate(self, arch, grid, size):
        M, N, nnz = size["M"], size["N"], size["nnz"]
        if nnz > M * N // 2:
            raise KernelError(f"{self.name}: nnz={nnz} is not sparse for {M} x {N}")
        if nnz > 4_000_000:
            raise KernelError(f"{self.name}: nnz={nnz}: at most 4,000,000")

    def _part(self, grid, size) -> Partition:
        return _cached_partition(size["M"], size["N"], size["nnz"], grid[0], grid[1])

    def pe_memory_bytes(self, grid, size):
        part = self._part(grid, size)
        caps = _caps(part)
        return 4 * (3 * caps[0] + caps[1] + caps[2] + 4) + 16

    def flops(self, grid, size):
        return 2.0 * size["nnz"]

    def bytes(self, grid, size):
        return 12.0 * size["nnz"] + 4.0 * (size["N"] + size["M"])

    def model_cycles(self, arch, grid, size):
        W, H = grid
        part = self._part(grid, size)
        t = arch.timing
        ramp, hop = t.ramp_latency_cycles, t.hop_latency_cycles
        trip = 2 * ramp + hop + 1
        per_nnz = vector_cycles(arch, 1, "f32") + NNZ_OVERHEAD_CYCLES
        loads = part.nnz()
        ts = t.task_startup_cycles
        i = np.arange(W)
        worst = 0
        for j in range(H):
            nr = len(part.rows[j])
            nc = len(part.cols[j])
            clear = vector_cycles(arch, nr, "f32") if nr else 0
            k0, k1 = part.k[j, :-1], part.k[j, 1:]
            go = np.full(W, clear)
            if W > 1 and nc:
                go[0] += ASYNC_ISSUE_CYCLES
            # the products task starts when the x slice is in
            x_in = k1 + 2 * ramp + i * hop + 1 + ts
            rx = (i > 0) & (k1 > k0)
            go = np.where(rx, np.maximum(go, x_in), go)
            ready = go + loads[j] * per_nnz
            if nr == 0 or W == 1:
                end = int(ready.max())
            else:
                end = int((ready + trip * (W - 1 - i)).max()) + nr + 1
            worst = max(worst, end)
        return worst

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, N, nnz = size["M"], size["N"], size["nnz"]
        part = self._part(grid, size)
        rows, cols = structure(M, N, nnz)
        rng = np.random.default_rng(seed)
        vals = rng.uniform(-1, 1, nnz).astype(np.float32)
        x = rng.uniform(-1, 1, N).astype(np.float32)
        caps = _caps(part)
        cap_nnz, cap_x, cap_r = (max(c, 1) for c in caps)

        V = np.zeros((H, W, cap_nnz), np.float32)
        IX = np.zeros((H, W, 2 * cap_nnz), np.uint32)
        X = np.zeros((H, W, cap_x), np.float32)
        META = np.zeros((H, W, 4), np.uint32)
        for j in range(H):
            rj, cj = part.rows[j], part.cols[j]
            for i in range(W):
                e = part.pe_nonzeros(j, i)
                k0, k1 = int(part.k[j, i]), int(part.k[j, i + 1])
                V[j, i, : len(e)] = vals[e]
                IX[j, i, 0 : 2 * len(e) : 2] = np.searchsorted(rj, rows[e])
                IX[j, i, 1 : 2 * len(e) : 2] = np.searchsorted(cj, cols[e]) - (0 if i == 0 else k0)
                if i == 0:
                    X[j, i, : len(cj)] = x[cj]  # the row block's compressed x, flooded east
                META[j, i] = (len(e), k1 - k0, len(rj), len(cj))
        runner = open_runtime(build_layout(arch, part, (cap_nnz, cap_x, cap_r)).compile())
        h2d(runner, "vals", V, 0, 0, W, H)
        h2d(runner, "idx", IX, 0, 0, W, H)
        h2d(runner, "x", X, 0, 0, W, H)
        h2d(runner, "meta", META, 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        y = np.zeros(M, np.float32)
        owners = []
        for j in range(H):
            nr = len(part.rows[j])
            if nr:
                yj = d2h(runner, "y", W - 1, j, 1, 1, cap_r)[0, 0, :nr]
                y[part.rows[j]] = yj
                owners.append(yj)
            else:
                owners.append(np.zeros(0, np.float32))
        timing = read_cycles(runner, W, H)
        runner.stop()

        ref = np.zeros(M)
        np.add.at(ref, rows, vals.astype(np.float64) * x[cols].astype(np.float64))
        scale = float(np.abs(ref).max()) or 1.0
        ok, err = allclose_check(y, ref, rtol=1e-5, atol=1e-5 * scale)
        emu = pe_order_reference(part, rows, cols, vals, x)
        exact = all(np.array_equal(a, b) for a, b in zip(owners, emu, strict=True))
        loads = part.nnz()
        naive = block_partition_loads(M, N, nnz, W, H)
        extras = {
            "bit_exact_pe_order": bool(exact),
            "nnz_per_pe_max": int(loads.max()),
            "nnz_per_pe_mean": float(loads.mean()),
            "imbalance": float(loads.max() / max(loads.mean(), 1e-9)),
            "block_partition_imbalance": float(naive.max() / max(naive.mean(), 1e-9)),
            "nonempty_rows": int(sum(len(r) for r in part.rows)),
            "x_words_flooded": int(sum(len(cj) for cj in part.cols)),
        }
        return Outcome(ok, err, timing["cycles"], extras)


def _caps(part: Partition) -> tuple[int, int, int]:
    loads = part.nnz()
    cap_x = 0
    for j in range(part.H):
        nc = len(part.cols[j])
        sl = [int(part.k[j, i + 1] - part.k[j, i]) for i in range(1, part.W)]
        cap_x = max(cap_x, nc, *sl) if sl else max(cap_x, nc)
    cap_r = max((len(r) for r in part.rows), default=0)
    return int(loads.max()), int(cap_x), int(cap_r)


@lru_cache(maxsize=16)
def _cached_partition(M, N, nnz, W, H) -> Partition:
    return partition(M, N, nnz, W, H)
