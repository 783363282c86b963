"""GEMV from collectives: ``gemv-2d-collectives`` (scatter, broadcast, reduce and gather building
blocks, the SDK's GEMV with 2D collectives) and ``gemv-best-collective`` (the ``gemv`` mapping
whose row reduction is the best algorithm for its shape). Both use
:mod:`waferscale.collectives`: each collective is installed on the layout
(``Collective.install``: its routes, on colors free in its region) and declared in the PE
programs of its region (``Installed.declare``); a PE runs its part inside its own task
(``Handle.run``: synchronous ops over the PE's buffer).

``gemv-2d-collectives`` (default 4x4). A (M x N) is cut into H x W blocks of ``mb = ceil(M/H)``
x ``nb = ceil(N/W)`` (zero padded), PE (i, j) holds block (j, i) column-major. The host copies
the whole x into PE (0, 0) and b into column 0. Then, in every PE's one task:

1. *scatter* (row 0, root (0, 0), ``stream``): PE (i, 0) receives x segment i;
2. *broadcast* (every column, root in row 0, ``flood``): the segment reaches the whole column;
3. the local product ``y_ji = A_ji x_i`` (+ b in column 0): nb fmacs of mb;
4. *reduce* (every row, root in column 0, ``chain``): y_j = sum over i of y_ji lands in column 0;
5. *gather* (column 0, root (0, 0), ``stream``): PE (0, 0) holds y, which the host reads.

Cost model: the phases follow each other on the critical path (the bottom-right PE's operands
arrive last, its partial sum leaves last):

    T = scatter(W, nb) + broadcast(H, nb) + v(mb) + nb v(mb) + reduce(W, mb) + gather(H, mb)

with each collective's own cost model (``Collective.model_cycles``: the schedule of its
algorithm as it runs on the fabric, docs/collectives.md; e.g. the chain ``B + (2 ramp + hop +
1)(P - 1)``, the flood ``B + hop (P - 1) + 2 ramp + 1``, a stream scatter or gather a Star of its
block size). FLOPs ``2 M N + M``; bytes ``4 (M N + N + 2 M)``.

``gemv-best-collective`` (default 8x2). The ``gemv`` kernel's mapping - x copied into row 0 and
flooded down the columns (``_patterns.column_flood_routes``), nb fmacs per PE - with the row
reduction chosen by ``waferscale.collectives.best("reduce", (W, 1), mb)``: the algorithm
(star, chain, tree, two-phase, Auto-Gen or the paper's Auto-Gen tree) with the least
``model_cycles`` (its schedule) for W PEs and mb words (ties within 5 % go to the simplest; the
tree for the default 8 PEs and 4 words). The result lands in column 0.

    T = x_in + v(mb) + nb v(mb) + reduce_best(W, mb)

with ``x_in`` the flood's arrival at the bottom row (as in ``gemv``). The chosen algorithm and
every candidate's model time are reported in the result's extras.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    KernelError,
    Outcome,
    allclose_check,
    ceil_div,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._patterns import column_flood_routes

X_COLOR = 2  # gemv-best-collective's column flood
X_THREAD = 1


def _collectives():
    try:
        from .. import collectives
    except ImportError as exc:  # pragma: no cover - the package is part of the library
        raise KernelError(f"waferscale.collectives is not usable: {exc}") from exc
    return collectives


def blocks(M, N, W, H):
    return ceil_div(M, H), ceil_div(N, W)


def _local_product(pe, ydsd, A, mb, nb, xsym, xoff, bsym):
    pe.fmovs(ydsd, mem1d_dsd(bsym) if bsym is not None else 0.0)
    xv = pe[xsym][xoff : xoff + nb].tolist()
    for k in range(nb):
        pe.fmacs(ydsd, ydsd, mem1d_dsd(A, mb, offset=k * mb), xv[k])


# -- gemv-2d-collectives ------------------------------------------------------------------------


def collectives_program(c, *, i, j, W, H, mb, nb, scatter=None, bcast=None, reduce=None,
                        gather=None):
    A = c.array("A", "f32", mb * nb, export=True)
    ts = declare_timer(c)
    # x: row 0 holds the scatter buffer (W segments), the other rows one segment
    if j == 0:
        x = c.array("x", "f32", W * nb, export=True)
        xoff = i * nb
    else:
        x = c.array("x", "f32", nb, export=True)
        xoff = 0
    # y: column 0 holds the gather buffer (H blocks), the others one block
    if i == 0:
        y = c.array("y", "f32", H * mb, export=True)
        yoff = j * mb
        b = c.array("b", "f32", mb, export=True)
    else:
        y = c.array("y", "f32", mb, export=True)
        yoff = 0
        b = None
    h_scatter = scatter.declare(c, x, 0) if scatter is not None else None
    h_bcast = bcast.declare(c, x, xoff) if bcast is not None else None
    h_reduce = reduce.declare(c, y, yoff) if reduce is not None else None
    h_gather = gather.declare(c, y, 0) if gather is not None else None
    ydsd = mem1d_dsd(y, mb, offset=yoff)

    def compute(pe):
        stamp(pe, ts, 0)
        if h_scatter is not None:
            h_scatter.run(pe)
        if h_bcast is not None:
            h_bcast.run(pe)
        _local_product(pe, ydsd, A, mb, nb, x, xoff, b)
        if h_reduce is not None:
            h_reduce.run(pe)
        if h_gather is not None:
            h_gather.run(pe)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def plan_2d(arch, W, H, mb, nb):
    """The four collectives of gemv-2d-collectives (None where a dimension is 1)."""
    wc = _collectives()
    return {
        "scatter": wc.Collective("scatter", (W, 1), nb, "stream", root="west", arch=arch)
        if W > 1 else None,
        "broadcast": wc.Collective("broadcast", (1, H), nb, "flood", root="north", arch=arch)
        if H > 1 else None,
        "reduce": wc.Collective("reduce", (W, 1), mb, "chain", root="west", arch=arch)
        if W > 1 else None,
        "gather": wc.Collective("gather", (1, H), mb, "stream", root="north", arch=arch)
        if H > 1 else None,
    }


def _palette(plan: dict, first: int = 0) -> dict:
    """Colors per collective, consecutive from ``first``: the same colors serve every row (every
    column) since those regions are disjoint; the phases get distinct ones because they run at
    the same time in different parts of the grid. Passed explicitly to ``install`` so that the
    layout does not depend on the order of the installs."""
    out, nxt = {}, first
    for key, coll in plan.items():
        if coll is None:
            continue
        n = coll.colors_needed
        out[key] = list(range(nxt, nxt + n))
        nxt += n
    return out


def build_layout_2d(arch, W, H, mb, nb):
    lay = Layout(W, H, arch=arch, name=f"gemv_2d_collectives_{W}x{H}_{mb}x{nb}")
    plan = plan_2d(arch, W, H, mb, nb)
    col = _palette(plan)

    def inst(key, at, name):
        c = plan[key]
        return c.install(lay, at, colors=col[key], name=name) if c is not None else None

    sc = inst("scatter", (0, 0), "scatter")
    bc = [inst("broadcast", (i, 0), f"bcast{i}") for i in range(W)]
    rd = [inst("reduce", (0, j), f"reduce{j}") for j in range(H)]
    ga = inst("gather", (0, 0), "gather")
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(
                i, j, collectives_program, i=i, j=j, W=W, H=H, mb=mb, nb=nb,
                scatter=sc if j == 0 else None, bcast=bc[i], reduce=rd[j],
                gather=ga if i == 0 else None,
            )
    return lay, plan


def _gemv_inputs(M, N, seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (M, N)).astype(np.float32)
    x = rng.uniform(-1, 1, N).astype(np.float32)
    b = rng.uniform(-1, 1, M).astype(np.float32)
    return A, x, b


def _padded(A, x, b, W, H, mb, nb):
    M, N = A.shape
    Ap = np.zeros((H * mb, W * nb), np.float32)
    Ap[:M, :N] = A
    xp = np.zeros(W * nb, np.float32)
    xp[:N] = x
    bp = np.zeros(H * mb, np.float32)
    bp[:M] = b
    return Ap, xp, bp


def _check(got, A, x, b):
    ref = A.astype(np.float64) @ x.astype(np.float64) + b
    scale = float(np.abs(ref).max()) if ref.size else 1.0
    return allclose_check(got, ref, rtol=1e-5, atol=1e-5 * scale)


class _GemvBase(Kernel):
    size_names = ("M", "N")
    square_sizes = True
    check = "allclose(y, A x + b [f64], rtol=1e-5, atol=1e-5*max|y|)"

    def flops(self, grid, size):
        return 2.0 * size["M"] * size["N"] + size["M"]

    def bytes(self, grid, size):
        M, N = size["M"], size["N"]
        return 4.0 * (M * N + N + 2 * M)


@register
class Gemv2dCollectives(_GemvBase):
    name = "gemv-2d-collectives"
    summary = (
        "y = A x + b (f32) from collectives: x scattered along row 0, broadcast down the "
        "columns, local fmacs, partial sums reduced along the rows, y gathered into PE (0, 0)"
    )
    default_grid = (4, 4)
    default_size = {"M": 32, "N": 32}

    def pe_memory_bytes(self, grid, size):
        W, H = grid
        mb, nb = blocks(size["M"], size["N"], W, H)
        return 4 * (mb * nb + W * nb + H * mb + mb) + 16

    def model_cycles(self, arch, grid, size):
        W, H = grid
        mb, nb = blocks(size["M"], size["N"], W, H)
        plan = plan_2d(arch, W, H, mb, nb)
        comm = sum(c.model_cycles() for c in plan.values() if c is not None)
        return int(round(comm)) + (1 + nb) * vector_cycles(arch, mb)

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, N = size["M"], size["N"]
        mb, nb = blocks(M, N, W, H)
        A, x, b = _gemv_inputs(M, N, seed)
        Ap, xp, bp = _padded(A, x, b, W, H, mb, nb)
        lay, plan = build_layout_2d(arch, W, H, mb, nb)
        runner = open_runtime(lay.compile())
        h2d(runner, "A", Ap.reshape(H, mb, W, nb).transpose(0, 2, 3, 1), 0, 0, W, H)
        h2d(runner, "x", xp.reshape(1, 1, W * nb), 0, 0, 1, 1)
        h2d(runner, "b", bp.reshape(H, 1, mb), 0, 0, 1, H)
        runner.launch("compute", nonblock=False)
        y = d2h(runner, "y", 0, 0, 1, 1, H * mb).reshape(-1)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ok, err = _check(y[:M], A, x, b)
        extras = {"mb": mb, "nb": nb,
                  "collectives": {k: (v.name, round(v.model_cycles(), 1))
                                  for k, v in plan.items() if v is not None}}
        return Outcome(ok, err, timing["cycles"], extras)


# -- gemv-best-collective -----------------------------------------------------------------------


def best_reduce(arch, W, mb):
    """The collectives package's choice for the row reduction: (Collective, Choice)."""
    wc = _collectives()
    choice = wc.best("reduce", (W, 1), mb, arch, root="west")
    return wc.Collective("reduce", (W, 1), mb, choice.algorithm, root="west", arch=arch), choice


def best_program(c, *, mb, nb, x_role, first, reduce=None):
    A = c.array("A", "f32", mb * nb, export=True)
    x = c.array("x", "f32", nb, export=True)
    y = c.array("y", "f32", mb, export=True)
    b = c.array("b", "f32", mb, export=True) if first else None
    ts = declare_timer(c)
    h_reduce = reduce.declare(c, y, 0) if reduce is not None else None
    ydsd = mem1d_dsd(y)

    def compute(pe):
        stamp(pe, ts, 0)
        if x_role == "src":
            pe.fmovs(fabout_dsd(X_COLOR, nb), mem1d_dsd(x), async_=True, microthread=X_THREAD)
        elif x_role == "dst":
            pe.fmovs(mem1d_dsd(x), fabin_dsd(X_COLOR, nb))
        _local_product(pe, ydsd, A, mb, nb, x, 0, b)
        if h_reduce is not None:
            h_reduce.run(pe)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


@register
class GemvBestCollective(_GemvBase):
    name = "gemv-best-collective"
    summary = (
        "y = A x + b (f32): the gemv mapping with its row reduction chosen by the model "
        "(waferscale.collectives.best: star, chain, tree, two-phase or Auto-Gen)"
    )
    default_grid = (8, 2)
    default_size = {"M": 8, "N": 64}

    def pe_memory_bytes(self, grid, size):
        W, H = grid
        mb, nb = blocks(size["M"], size["N"], W, H)
        return 4 * (mb * nb + nb + 2 * mb) + 16

    def model_cycles(self, arch, grid, size):
        W, H = grid
        mb, nb = blocks(size["M"], size["N"], W, H)
        t = arch.timing
        x_in = 0 if H == 1 else nb + 1 + 2 * t.ramp_latency_cycles + (H - 1) * t.hop_latency_cycles
        red = best_reduce(arch, W, mb)[0].model_cycles() if W > 1 else 0.0
        return int(round(x_in + (1 + nb) * vector_cycles(arch, mb) + red))

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, N = size["M"], size["N"]
        mb, nb = blocks(M, N, W, H)
        A, x, b = _gemv_inputs(M, N, seed)
        Ap, xp, bp = _padded(A, x, b, W, H, mb, nb)
        lay = Layout(W, H, arch=arch, name=f"gemv_best_collective_{W}x{H}_{mb}x{nb}")
        if H > 1:
            column_flood_routes(lay, W, H, X_COLOR)
        extras = {"mb": mb, "nb": nb}
        installed = [None] * H
        if W > 1:
            coll, choice = best_reduce(arch, W, mb)
            colors = list(range(X_COLOR + 1, X_COLOR + 1 + coll.colors_needed))
            installed = [coll.install(lay, (0, j), colors=colors, name=f"reduce{j}")
                         for j in range(H)]
            extras["reduce"] = coll.name
            extras["candidates"] = {k: round(v, 1) for k, v in choice.candidates.items()}
        for j in range(H):
            for i in range(W):
                role = None if H == 1 else ("src" if j == 0 else "dst")
                lay.set_tile_code(i, j, best_program, mb=mb, nb=nb, x_role=role, first=i == 0,
                                  reduce=installed[j])
        runner = open_runtime(lay.compile())
        h2d(runner, "A", Ap.reshape(H, mb, W, nb).transpose(0, 2, 3, 1), 0, 0, W, H)
        h2d(runner, "x", xp.reshape(1, W, nb), 0, 0, W, 1)
        h2d(runner, "b", bp.reshape(H, 1, mb), 0, 0, 1, H)
        runner.launch("compute", nonblock=False)
        y = d2h(runner, "y", 0, 0, 1, H, mb).reshape(-1)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ok, err = _check(y[:M], A, x, b)
        return Outcome(ok, err, timing["cycles"], extras)
