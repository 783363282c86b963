"""Krylov solvers on the 7-point stencil matrix: ``power-method``, ``cg``, ``jacobi-pcg`` and
``bicgstab`` (the SDK's solver examples, 5x5 PEs, a z-column per PE).

Mapping. Every PE runs the ``stencil-7pt-spmv`` program unchanged (``stencil_program``: its
arrays ``x``, ``y``, ``coef``, its neighbour exchange and its ``compute`` = y = A x), plus the
solver's own z-columns (``b``, ``sol``, ``r``, ...; f32, ``nz`` each) and a handful of BLAS-1
device functions that take *array ids* as launch arguments, so one program serves all four
solvers:

    spmv()                    y = A x             (the stencil's compute; x, y fixed arrays)
    copy(dst, src)            dst = src           (fmovs)
    axpy(dst, a, b, alpha)    dst = a + b * alpha (fmacs)
    mul(dst, a, b)            dst = a * b         (fmuls; the Jacobi preconditioner)
    scale(dst, a, s)          dst = a * s         (fmuls by a scalar; the power method)
    dot(a, b)                 dots[0] = a . b on every PE: fmuls into the stencil's tmp,
                              a sequential sum into dots[0] (fadds with a stride-0 destination),
                              then the one-word allreduce of ``_allreduce`` (row chains east,
                              a column chain north to (W-1, 0), a flood back)

As in the vendor's examples, the host drives the iterations: it launches the functions one by
one, reads each dot product from the root PE (copy-mode memcpy_d2h of one word), computes the
scalars (alpha, beta, omega, 1/||y||) in float32 and passes them back as launch arguments, and
tests convergence (``r.r <= tol^2 r0.r0``; the power method runs a fixed number of
iterations). The vectors the SpMV reads and writes are the stencil's ``x`` and ``y``: CG and
Jacobi-PCG keep p in ``x``; BiCGSTAB needs two SpMVs per iteration (A p and A s) and copies p in
and A p out (two ``copy`` launches per iteration, the price of reusing the stencil program as
is).

Timing. Every launched function stamps the end of its work into ``ts``; the first one also
stamps the solve's start into ``t0``, and ``timer_stop`` (launched last) moves it into ``ts``,
so ``cycles = max end - min start`` covers the whole solve, host round trips included (they
cost no device cycles: copy-mode memcpy is free and a launch starts when the previous one is
done).

Check. The same solver code runs against :class:`NumpyDevice`, a numpy float32 emulation of the
PEs' operation order (the stencil's term order, the sequential local sum, the allreduce's chain
order); the device's vectors and scalars must be allclose (rtol 1e-5, the vendor's f32 solver
tolerance) and the iteration counts equal. Without a fused multiply-add the two are bit-exact
(``extras['bit_exact_pe_order']``). A float64 direct solve (or eigen-solve) of the assembled
matrix is reported alongside (``extras['rel_err_vs_f64']``) where the matrix is small.

Cost model (cycles). Each launch costs ``task_startup`` + its body:

    vector op  v(nz)                                  v(n) = op_startup + ceil(n / simd_f32)
    dot        v(1) + 2 v(nz) + allreduce(W, H)       (clear, multiply, sum; _allreduce)
    spmv       T_7pt(W, H, nz)                        (stencil-7pt-spmv's model)

A solver is a fixed sequence of launches: ``setup``, then per iteration ``body``, then
``tail`` (skipped after the last iteration: the update for the next one), so with k iterations

    T = cost(setup) + k cost(body) + (k - 1) cost(tail) - task_startup

(the first launch's start-up precedes the first stamp), minus ``early_start_credit`` per SpMV:
the runtime lets a PE start the next launch as soon as it is free, so the edge PEs, which have
fewer halo terms to add, begin the dot product that follows an SpMV early and the first stage of
each chain of its allreduce is already done - one CE-to-CE trip ``2 ramp + hop + 1`` per axis of
3 PEs or more. Exact at every size tested with nz >= 3 for power method, CG and Jacobi-PCG;
BiCGSTAB and nz <= 2 within 4 %. ``Kernel.model`` assumes k = ``iters`` (the cap);
``Kernel.run`` reports the model at the iteration count the solver took.

FLOPs (per point): 13 per SpMV (the stencil's count), 2 per dot and per axpy, 1 per mul and
scale, 0 per copy, at ``iters`` iterations; bytes: the f32 words of the 7 coefficient vectors
and of the solver's vectors, 4 nz W H (7 + vectors).

Host time. Every launch and every memcpy also costs the host a transaction
(``arch.system.host_transaction_overhead_s``, ~200 us): ``extras['host_time_model_s']`` sums the
runtime's model of it. It dwarfs the device time - the price of a host-driven loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..program import Layout, mem1d_dsd
from ._allreduce import (
    allreduce_cycles,
    allreduce_reference,
    allreduce_roles,
    allreduce_routes,
    allreduce_step,
)
from ._base import (
    Kernel,
    KernelError,
    Outcome,
    allclose_check,
    d2h,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._patterns import exchange_plan, exchange_routes
from .stencil_spmv import Stencil7pt, stencil_program

# ids of the z-columns every solver program may hold; "x" and "y" are the stencil's
VECTORS = ("x", "y", "b", "sol", "r", "z", "dinv", "p", "v", "rh")
VID = {name: k for k, name in enumerate(VECTORS)}


def krylov_program(c, *, nz: int, plan: tuple, roles: dict, vectors: tuple[str, ...]) -> None:
    """The 7-point SpMV program plus the solver's vectors and BLAS-1 functions."""
    stencil_program(c, nz=nz, plan=plan)
    sym = {"x": c.symbols["x"], "y": c.symbols["y"]}
    for name in vectors:
        if name not in sym:
            sym[name] = c.array(name, "f32", nz, export=True, init=0.0)
    tmp = c.symbols["tmp"]
    ts = c.symbols["ts"]
    t0 = c.array("t0", "u32", 2)
    first = c.array("first", "u32", 1, init=1)
    dots = c.array("dots", "f32", 1, export=True)
    vec = {VID[n]: mem1d_dsd(s) for n, s in sym.items()}
    acc = mem1d_dsd(dots, 1)
    acc_nz = mem1d_dsd(dots, nz, stride=0)  # a stride-0 destination: a sequential sum
    spmv_body = c.functions["compute"]

    def begin(pe):
        if pe[first][0]:
            pe[first][0] = 0
            t = int(pe.timestamp())
            pe[t0][0], pe[t0][1] = t & 0xFFFFFFFF, t >> 32

    def end(pe):
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    def spmv(pe):
        begin(pe)
        spmv_body(pe)  # stamps ts and unblocks the command stream when its halos are in

    def copy(pe, dst: int, src: int):
        begin(pe)
        pe.fmovs(vec[dst], vec[src])
        end(pe)

    def axpy(pe, dst: int, a: int, b: int, alpha: float):
        begin(pe)
        pe.fmacs(vec[dst], vec[a], vec[b], alpha)
        end(pe)

    def mul(pe, dst: int, a: int, b: int):
        begin(pe)
        pe.fmuls(vec[dst], vec[a], vec[b])
        end(pe)

    def scale(pe, dst: int, a: int, s: float):
        begin(pe)
        pe.fmuls(vec[dst], vec[a], s)
        end(pe)

    def dot(pe, a: int, b: int):
        begin(pe)
        pe.fmovs(acc, 0.0)
        pe.fmuls(mem1d_dsd(tmp), vec[a], vec[b])
        pe.fadds(acc_nz, acc_nz, mem1d_dsd(tmp))
        allreduce_step(pe, acc, roles)
        end(pe)

    def timer_stop(pe):
        buf = pe[ts]
        buf[0], buf[1] = pe[t0][0], pe[t0][1]
        pe.unblock_cmd_stream()

    for fn in (spmv, copy, axpy, mul, scale, dot, timer_stop):
        c.export(fn)


def build_layout(arch, W: int, H: int, nz: int, vectors: tuple[str, ...], name: str) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"{name}_{W}x{H}x{nz}")
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(
                i,
                j,
                krylov_program,
                nz=nz,
                plan=exchange_plan(i, j, W, H),
                roles=allreduce_roles(i, j, W, H),
                vectors=vectors,
            )
    exchange_routes(lay, W, H)
    allreduce_routes(lay, W, H)
    return lay


# -- the two devices: the simulator (through SdkRuntime) and its numpy emulation ---------------


class SimDevice:
    """The solver's view of the simulated machine: each call is one launch (host-driven)."""

    def __init__(self, runner, W: int, H: int):
        self.runner, self.W, self.H = runner, W, H
        self.launches: list[str] = []

    def _launch(self, name, *args):
        self.launches.append(name)
        self.runner.launch(name, *args, nonblock=False)

    def spmv(self):
        self._launch("spmv")

    def copy(self, dst, src):
        self._launch("copy", VID[dst], VID[src])

    def axpy(self, dst, a, b, alpha):
        self._launch("axpy", VID[dst], VID[a], VID[b], np.float32(alpha))

    def mul(self, dst, a, b):
        self._launch("mul", VID[dst], VID[a], VID[b])

    def scale(self, dst, a, s):
        self._launch("scale", VID[dst], VID[a], np.float32(s))

    def dot(self, a, b) -> np.float32:
        self._launch("dot", VID[a], VID[b])
        return np.float32(d2h(self.runner, "dots", self.W - 1, 0, 1, 1, 1)[0, 0, 0])

    def read(self, name, nz):
        return d2h(self.runner, name, 0, 0, self.W, self.H, nz)


class NumpyDevice:
    """The same functions in numpy float32, in the PEs' operation order (the reference)."""

    def __init__(self, coef: np.ndarray, vectors: dict[str, np.ndarray]):
        self.coef = coef.astype(np.float32)
        H, W, _, nz = coef.shape
        self.v = {n: np.zeros((H, W, nz), np.float32) for n in VECTORS}
        for n, a in vectors.items():
            self.v[n] = a.astype(np.float32).copy()
        self.launches: list[str] = []

    def spmv(self):
        self.launches.append("spmv")
        self.v["y"] = stencil_pe_order(self.v["x"], self.coef)

    def copy(self, dst, src):
        self.launches.append("copy")
        self.v[dst] = self.v[src].copy()

    def axpy(self, dst, a, b, alpha):
        self.launches.append("axpy")
        self.v[dst] = self.v[a] + self.v[b] * np.float32(alpha)

    def mul(self, dst, a, b):
        self.launches.append("mul")
        self.v[dst] = self.v[a] * self.v[b]

    def scale(self, dst, a, s):
        self.launches.append("scale")
        self.v[dst] = self.v[a] * np.float32(s)

    def dot(self, a, b) -> np.float32:
        self.launches.append("dot")
        t = self.v[a] * self.v[b]
        acc = np.zeros(t.shape[:2], np.float32)
        for k in range(t.shape[2]):  # the stride-0 fadds: a sequential sum
            acc = acc + t[:, :, k]
        return allreduce_reference(acc)

    def read(self, name, nz):
        return self.v[name]


def stencil_pe_order(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """y = A x in float32 in the order of ``stencil_program``: center, up, down, then the
    halos east, west, south, north (``exchange_plan`` order). ``x``: (H, W, nz)."""
    c = coef
    y = c[:, :, 0] * x
    nz = x.shape[2]
    if nz > 1:
        y[:, :, :-1] = y[:, :, :-1] + c[:, :, 5, :-1] * x[:, :, 1:]
        y[:, :, 1:] = y[:, :, 1:] + c[:, :, 6, 1:] * x[:, :, :-1]
    y[:, :-1] = y[:, :-1] + c[:, :-1, 1] * x[:, 1:]  # east (x + 1)
    y[:, 1:] = y[:, 1:] + c[:, 1:, 2] * x[:, :-1]  # west
    y[:-1] = y[:-1] + c[:-1, :, 3] * x[1:]  # south (y + 1)
    y[1:] = y[1:] + c[1:, :, 4] * x[:-1]  # north
    return y


def assemble(coef: np.ndarray) -> np.ndarray:
    """The dense matrix of the stencil (float64), unknowns in (y, x, z) C order."""
    H, W, _, nz = coef.shape
    n = H * W * nz
    A = np.zeros((n, n))
    idx = np.arange(n).reshape(H, W, nz)
    c = coef.astype(np.float64)
    A[idx, idx] = c[:, :, 0]
    A[idx[:, :-1], idx[:, 1:]] = c[:, :-1, 1]
    A[idx[:, 1:], idx[:, :-1]] = c[:, 1:, 2]
    A[idx[:-1], idx[1:]] = c[:-1, :, 3]
    A[idx[1:], idx[:-1]] = c[1:, :, 4]
    A[idx[:, :, :-1], idx[:, :, 1:]] = c[:, :, 5, :-1]
    A[idx[:, :, 1:], idx[:, :, :-1]] = c[:, :, 6, 1:]
    return A


def stencil_matrix(H: int, W: int, nz: int, rng, *, symmetric: bool, shift: float) -> np.ndarray:
    """Coefficients (H, W, 7, nz) of a diagonally dominant 7-point matrix with zero (Dirichlet)
    terms beyond the grid: off-diagonals in [-1, -0.25], symmetric or not; the center is the sum
    of the magnitudes of the row's off-diagonals times (1 + shift)."""
    coef = np.zeros((H, W, 7, nz), np.float64)
    if symmetric:
        wx = rng.uniform(0.25, 1.0, (H, max(W - 1, 0), nz))
        wy = rng.uniform(0.25, 1.0, (max(H - 1, 0), W, nz))
        wz = rng.uniform(0.25, 1.0, (H, W, max(nz - 1, 0)))
        coef[:, :-1, 1] = -wx  # east of (j, i) = west of (j, i + 1)
        coef[:, 1:, 2] = -wx
        coef[:-1, :, 3] = -wy
        coef[1:, :, 4] = -wy
        coef[:, :, 5, :-1] = -wz
        coef[:, :, 6, 1:] = -wz
    else:
        off = -rng.uniform(0.25, 1.0, (H, W, 6, nz))
        coef[:, :, 1:] = off
        coef[:, -1, 1] = 0.0
        coef[:, 0, 2] = 0.0
        coef[-1, :, 3] = 0.0
        coef[0, :, 4] = 0.0
        coef[:, :, 5, -1] = 0.0
        coef[:, :, 6, 0] = 0.0
    coef[:, :, 0] = np.abs(coef[:, :, 1:]).sum(axis=2) * (1.0 + shift) + 1e-3
    return coef.astype(np.float32)


# -- the solvers (host side; the same code drives the simulator and the numpy reference) --------

F = np.float32


def power_method(dev, iters: int, tol: float) -> dict:
    """x <- A x / ||A x||; lambda = x . A x (x normalised). ``iters`` iterations."""
    lam = F(0)
    for _ in range(iters):
        dev.spmv()  # y = A x
        yy = dev.dot("y", "y")
        lam = dev.dot("x", "y")
        dev.scale("x", "y", F(1) / np.sqrt(yy))
    return {"iterations": iters, "converged": True, "lambda": float(lam), "out": "x"}


def cg(dev, iters: int, tol: float) -> dict:
    """Conjugate gradients from x = 0; p lives in the stencil's x, A p in its y."""
    tol2 = F(tol) * F(tol)
    dev.copy("r", "b")
    dev.copy("x", "b")  # p = r
    rho = dev.dot("r", "r")
    rr0 = rho
    k = 0
    converged = False
    while True:
        dev.spmv()  # y = A p
        alpha = rho / dev.dot("x", "y")
        dev.axpy("sol", "sol", "x", alpha)
        dev.axpy("r", "r", "y", -alpha)
        rho_new = dev.dot("r", "r")
        k += 1
        converged = bool(rho_new <= tol2 * rr0)
        if converged or k >= iters:
            break
        dev.axpy("x", "r", "x", rho_new / rho)  # p = r + beta p
        rho = rho_new
    return {"iterations": k, "converged": converged, "rr": float(rho_new), "out": "sol"}


def jacobi_pcg(dev, iters: int, tol: float) -> dict:
    """CG preconditioned by the diagonal (z = D^-1 r; dinv loaded by the host)."""
    tol2 = F(tol) * F(tol)
    dev.copy("r", "b")
    dev.mul("z", "dinv", "r")
    dev.copy("x", "z")  # p = z
    rho = dev.dot("r", "z")
    rr0 = dev.dot("r", "r")
    k = 0
    converged = False
    while True:
        dev.spmv()
        alpha = rho / dev.dot("x", "y")
        dev.axpy("sol", "sol", "x", alpha)
        dev.axpy("r", "r", "y", -alpha)
        rr = dev.dot("r", "r")
        k += 1
        converged = bool(rr <= tol2 * rr0)
        if converged or k >= iters:
            break
        dev.mul("z", "dinv", "r")
        rho_new = dev.dot("r", "z")
        dev.axpy("x", "z", "x", rho_new / rho)
        rho = rho_new
    return {"iterations": k, "converged": converged, "rr": float(rr), "out": "sol"}


def bicgstab(dev, iters: int, tol: float) -> dict:
    """BiCGSTAB from x = 0, shadow residual r^ = b. The SpMV input is the stencil's x: p is
    copied in, A p copied out to v; s is computed straight into x for the second SpMV."""
    tol2 = F(tol) * F(tol)
    dev.copy("r", "b")
    dev.copy("rh", "b")
    dev.copy("p", "b")
    rho = dev.dot("rh", "r")
    rr0 = rho  # r^ = r
    k = 0
    converged = False
    while True:
        dev.copy("x", "p")
        dev.spmv()  # y = v = A p
        dev.copy("v", "y")
        alpha = rho / dev.dot("rh", "v")
        dev.axpy("x", "r", "v", -alpha)  # s = r - alpha v, in x
        dev.spmv()  # y = t = A s
        ts, tt = dev.dot("y", "x"), dev.dot("y", "y")
        omega = ts / tt if tt != 0 else F(0)  # t = 0: s = 0, r = 0, converged below
        dev.axpy("sol", "sol", "p", alpha)
        dev.axpy("sol", "sol", "x", omega)
        dev.axpy("r", "x", "y", -omega)  # r = s - omega t
        rr = dev.dot("r", "r")
        k += 1
        converged = bool(rr <= tol2 * rr0)
        if converged or k >= iters:
            break
        rho_new = dev.dot("rh", "r")
        beta = (rho_new / rho) * (alpha / omega)
        dev.axpy("p", "p", "v", -omega)
        dev.axpy("p", "r", "p", beta)  # p = r + beta (p - omega v)
        rho = rho_new
    return {"iterations": k, "converged": converged, "rr": float(rr), "out": "sol"}


LAUNCHES_ARE_BARRIERS = True
"""Whether the runtime starts a launch on every PE only when the previous launch has ended on
every PE (docs/runtime.md). It does not yet: a PE whose last task of a launch was memory-only
starts the next launch as soon as it is free (``tests/test_kernels_solvers.py::
test_runtime_launch_is_a_barrier``, a strict xfail). Set to True when that is fixed."""


def early_start_credit(arch, grid) -> int:
    """Cycles a dot product following an SpMV gains because the edge PEs of the grid, which have
    fewer halo terms to add, start it early: the first stage of the row chain and of the column
    chain of its allreduce is then already done when the interior PEs arrive, one CE-to-CE trip
    per axis of 3 PEs or more (measured exact for nz >= 2; nz = 1 gains less)."""
    if LAUNCHES_ARE_BARRIERS:
        return 0
    t = arch.timing
    trip = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
    return trip * (int(grid[0] >= 3) + int(grid[1] >= 3))


# -- the kernels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launches:
    """How many launches of each kind a solver makes: before the loop, per iteration, and the
    part of an iteration skipped after the last one."""

    setup: dict
    body: dict
    tail: dict


VEC_OPS = ("copy", "axpy", "mul", "scale")


def _count(seq: str) -> dict:
    out = {}
    for name in seq.split():
        out[name] = out.get(name, 0) + 1
    return out


class _Krylov(Kernel):
    """Shared driver and model of the four solvers."""

    size_names = ("nz", "iters")
    default_grid = (5, 5)
    vectors: tuple[str, ...] = ()
    symmetric = True
    shift = 0.1
    tol = 1e-5
    launches: Launches
    solver = staticmethod(cg)
    check = (
        "allclose(device, numpy f32 same algorithm and order, rtol=1e-5, atol=1e-5*max|ref|); "
        "iteration count exact"
    )

    def validate(self, arch, grid, size):
        if size["iters"] > 100_000:
            raise KernelError(f"{self.name}: iters={size['iters']} is too many (at most 100000)")

    def pe_memory_bytes(self, grid, size):
        nz = size["nz"]
        stencil = Stencil7pt().pe_memory_bytes(grid, size)
        extra = sum(1 for v in self.vectors if v not in ("x", "y"))
        return stencil + 4 * extra * nz + 4 * 4

    # -- model

    def launch_cycles(self, arch, grid, size) -> dict:
        W, H = grid
        nz = size["nz"]
        ts = arch.timing.task_startup_cycles
        v = vector_cycles(arch, nz, "f32")
        cost = {op: ts + v for op in VEC_OPS}
        cost["dot"] = ts + vector_cycles(arch, 1, "f32") + 2 * v + allreduce_cycles(arch, W, H)
        cost["spmv"] = ts + Stencil7pt().model_cycles(arch, grid, {"nz": nz})
        return cost

    def model_cycles_for(self, arch, grid, size, iterations: int) -> int:
        cost = self.launch_cycles(arch, grid, size)
        L = self.launches

        def total(d):
            return sum(cost[k] * n for k, n in d.items())

        k = int(iterations)
        spmvs = L.setup.get("spmv", 0) + k * L.body.get("spmv", 0)
        spmvs += max(k - 1, 0) * L.tail.get("spmv", 0)
        return (
            total(L.setup)
            + k * total(L.body)
            + max(k - 1, 0) * total(L.tail)
            - arch.timing.task_startup_cycles
            - spmvs * early_start_credit(arch, grid)
        )

    def model_cycles(self, arch, grid, size):
        return self.model_cycles_for(arch, grid, size, size["iters"])

    def launch_count(self, iterations: int) -> int:
        L = self.launches
        n = sum(L.setup.values()) + iterations * sum(L.body.values())
        return n + max(iterations - 1, 0) * sum(L.tail.values())

    # -- counts

    def flops(self, grid, size):
        W, H = grid
        n = W * H * size["nz"]
        per = {"spmv": 13, "dot": 2, "axpy": 2, "mul": 1, "scale": 1, "copy": 0}
        L = self.launches
        k = size["iters"]

        def f(d):
            return sum(per[op] * c for op, c in d.items())

        return float(n * (f(L.setup) + k * f(L.body) + max(k - 1, 0) * f(L.tail)))

    def bytes(self, grid, size):
        W, H = grid
        return 4.0 * W * H * size["nz"] * (7 + len(self.vectors))

    # -- the problem

    def problem(self, W, H, nz, seed):
        rng = np.random.default_rng(seed)
        coef = stencil_matrix(H, W, nz, rng, symmetric=self.symmetric, shift=self.shift)
        vecs = {}
        if self.name == "power-method":
            x = rng.uniform(0.5, 1.5, (H, W, nz)).astype(np.float32)
            x = (x / np.sqrt(np.sum(x.astype(np.float64) ** 2))).astype(np.float32)
            vecs["x"] = x
        else:
            vecs["b"] = rng.uniform(-1, 1, (H, W, nz)).astype(np.float32)
        if "dinv" in self.vectors:
            vecs["dinv"] = (np.float32(1) / coef[:, :, 0]).astype(np.float32)
        return coef, vecs

    # -- the run

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        nz, iters = size["nz"], size["iters"]
        coef, vecs = self.problem(W, H, nz, seed)
        runner = open_runtime(build_layout(arch, W, H, nz, self.vectors, self.name).compile())
        h2d(runner, "coef", coef, 0, 0, W, H)
        for name, a in vecs.items():
            h2d(runner, name, a, 0, 0, W, H)
        dev = SimDevice(runner, W, H)
        info = self.solver(dev, iters, self.tol)
        runner.launch("timer_stop", nonblock=False)
        got = dev.read(info["out"], nz)
        dots_all = d2h(runner, "dots", 0, 0, W, H, 1)
        timing = read_cycles(runner, W, H)
        host_s = float(sum(h.host_time_s or 0.0 for h in runner.commands))
        runner.stop()

        ref_dev = NumpyDevice(coef, vecs)
        ref = self.solver(ref_dev, iters, self.tol)
        want = ref_dev.read(ref["out"], nz)
        scale = float(np.abs(want).max()) or 1.0
        ok, err = allclose_check(got, want, rtol=1e-5, atol=1e-5 * scale)
        same_iters = info["iterations"] == ref["iterations"]
        extras = {
            "iterations": info["iterations"],
            "iterations_ref": ref["iterations"],
            "converged": info["converged"],
            "launches": len(dev.launches),
            "launches_model": self.launch_count(info["iterations"]),
            "host_time_model_s": host_s,
            "allreduce_consistent": bool(np.all(dots_all == dots_all.reshape(-1)[0])),
            "bit_exact_pe_order": bool(np.array_equal(got, want)),
        }
        for key in ("lambda", "rr"):
            if key in info:
                extras[key] = info[key]
                extras[key + "_ref"] = ref[key]
                sok, _ = allclose_check(
                    np.array([info[key]]), np.array([ref[key]]), rtol=1e-5, atol=0.0
                )
                ok = ok and (sok or key == "rr")
        n = W * H * nz
        if n <= 1024:
            A = assemble(coef)
            if self.name == "power-method":
                ev = np.linalg.eigvalsh(A)  # the power method's matrix is symmetric
                lam64 = float(ev[np.argmax(np.abs(ev))])
                extras["lambda_f64"] = lam64
                extras["rel_err_vs_f64"] = abs(info["lambda"] - lam64) / abs(lam64)
            else:
                x64 = np.linalg.solve(A, vecs["b"].astype(np.float64).reshape(-1))
                extras["rel_err_vs_f64"] = float(
                    np.linalg.norm(got.reshape(-1) - x64) / np.linalg.norm(x64)
                )
        ok = bool(ok and same_iters and extras["allreduce_consistent"])
        return Outcome(ok, err, timing["cycles"], extras)

    def run(self, arch="wse2", grid=None, size=None, seed=0):
        """As :meth:`Kernel.run`; ``model_cycles`` is the model at the iteration count the
        solver took (``extras['model_cycles_at_cap']``: at ``iters``)."""
        r = super().run(arch, grid, size, seed)
        spec, g, s = self._args(arch, grid, size)
        r.extras["model_cycles_at_cap"] = r.model_cycles
        r.model_cycles = int(self.model_cycles_for(spec, g, s, r.extras["iterations"]))
        return r


@register
class PowerMethod(_Krylov):
    name = "power-method"
    summary = "dominant eigenvalue of a 7-point matrix: x <- A x / ||A x||, dots by allreduce"
    default_size = {"nz": 16, "iters": 10}
    vectors = ("x", "y")
    solver = staticmethod(power_method)
    launches = Launches(setup={}, body=_count("spmv dot dot scale"), tail={})
    check = (
        "allclose(x and lambda, numpy f32 same algorithm and order, rtol=1e-5, "
        "atol=1e-5*max|x|); iteration count exact"
    )


@register
class CG(_Krylov):
    name = "cg"
    summary = "conjugate gradients on a symmetric 7-point matrix, host-driven, dots by allreduce"
    default_size = {"nz": 16, "iters": 40}
    vectors = ("x", "y", "b", "sol", "r")
    solver = staticmethod(cg)
    launches = Launches(
        setup=_count("copy copy dot"),
        body=_count("spmv dot axpy axpy dot"),
        tail=_count("axpy"),
    )


@register
class JacobiPCG(_Krylov):
    name = "jacobi-pcg"
    summary = "CG with a Jacobi (diagonal) preconditioner on a symmetric 7-point matrix"
    default_size = {"nz": 16, "iters": 40}
    vectors = ("x", "y", "b", "sol", "r", "z", "dinv")
    solver = staticmethod(jacobi_pcg)
    launches = Launches(
        setup=_count("copy mul copy dot dot"),
        body=_count("spmv dot axpy axpy dot"),
        tail=_count("mul dot axpy"),
    )


@register
class BiCGStab(_Krylov):
    name = "bicgstab"
    summary = "BiCGSTAB on a non-symmetric 7-point matrix, host-driven, dots by allreduce"
    default_size = {"nz": 16, "iters": 40}
    vectors = ("x", "y", "b", "sol", "r", "p", "v", "rh")
    symmetric = False
    solver = staticmethod(bicgstab)
    launches = Launches(
        setup=_count("copy copy copy dot"),
        body=_count("copy spmv copy dot axpy spmv dot dot axpy axpy axpy dot"),
        tail=_count("dot axpy axpy"),
    )
