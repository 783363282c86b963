"""Write the mapping pictures of docs/kernels.md to docs/figures/ (kernels_<name>.png).

Run: ``PYTHONPATH=src python docs/make_kernel_figures.py [NAME ...]`` (default: every figure;
a NAME is a kernel of the library or a figure's stem, e.g. ``krylov``).

Every picture is drawn from the kernel itself at a small size: the layout it compiles (its
routes, by :func:`waferscale.viz.mapping.draw_mapping`) and the link counters of a simulated run
of it (checked against numpy like any run). What each PE holds, the roles and what each color
carries are written here, per kernel (``SPECS``); ``check_colors`` refuses a spec whose legend
misses a color the layout routes, so a kernel whose colors change fails loudly here rather than
leaving a stale legend in the docs.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from waferscale.kernels import REGISTRY
from waferscale.kernels._gemm import ring_order
from waferscale.tools.targets import run_target, target_layouts
from waferscale.viz.mapping import draw_mapping

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
DPI = 100

PEFn = Callable[[int, int, int, int], str]
"""(x, y, W, H) -> text."""


@dataclass(frozen=True)
class Spec:
    """One figure: the kernel run to draw it (``kernel`` at ``grid`` and ``size``), the kernels
    whose section shows it (``covers``), what each routed color carries (``colors``; ``hidden``:
    routed colors deliberately left out, named in a note), the role and the contents of each PE,
    and footnotes."""

    stem: str
    kernel: str
    grid: tuple[int, int]
    size: tuple[int, ...]
    colors: dict[int, str]
    roles: PEFn
    labels: PEFn
    covers: tuple[str, ...] = ()
    hidden: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    cell: float = 1.0
    label_size: float = 6.5
    title: str = ""
    result_note: Callable[[Any], str] | None = None  # a footnote from the run's KernelResult

    @property
    def kernels(self) -> tuple[str, ...]:
        return self.covers or (self.kernel,)

    @property
    def path(self) -> Path:
        return OUT / f"kernels_{self.stem}.png"


def _cdiv(a: int, b: int) -> int:
    return ceil(a / b)


# -- the specs, in the order of docs/kernels.md -----------------------------------------------


def _gemv_role(x: int, y: int, W: int, H: int) -> str:
    if y == 0:
        return "row 0: gets x from the host, floods it down"
    if x == W - 1:
        return "last column: ends the row chain, keeps y"
    return "multiplies, adds its partial y into the chain"


def _gemv_label(M: int, N: int) -> PEFn:
    def label(x: int, y: int, W: int, H: int) -> str:
        mb, nb = _cdiv(M, H), _cdiv(N, W)
        return f"A{y}{x} ({mb}x{nb})\nx{x} ({nb})\ny{y} ({mb})" + ("\n+ b" if x == 0 else "")

    return label


def _cb_role(x: int, y: int, W: int, H: int) -> str:
    return "last column: keeps y" if x == W - 1 else "fmach per streamed x, chain y east"


def _cb_label(x: int, y: int, W: int, H: int) -> str:
    return f"A{y}{x} f16\nx{x} streamed in\ny{y}" + (" (= b)" if x == 0 else "")


def _res_role(x: int, y: int, W: int, H: int) -> str:
    if x == W - 1 and y == 0:
        return "root: |r|_inf lands in nrm"
    if x == W - 1:
        return "last column: b - y, local max, max chain north"
    return "gemv part: x flood, fmacs, row chain"


def _res_label(x: int, y: int, W: int, H: int) -> str:
    t = f"A{y}{x}\nx{x}\ny{y}"
    return t + ("\nb, r, nrm" if x == W - 1 else "")


def _stm_label(x: int, y: int, W: int, H: int) -> str:
    return "its own A (NxN)\nx (N)\ny = A x (N)"


def _stencil_role(x: int, y: int, W: int, H: int) -> str:
    inner = (0 < x < W - 1) + (0 < y < H - 1)
    return ["corner: 2 neighbours", "edge: 3 neighbours", "inside: 4 neighbours"][inner]


def _stencil_label(x: int, y: int, W: int, H: int) -> str:
    halos = [d for d, ok in (("E", x < W - 1), ("W", x > 0), ("S", y < H - 1), ("N", y > 0))
             if ok]
    return f"x[{x},{y},:], y\ncoef (7 nz)\nhalos {''.join(halos)}"


EXCHANGE = {8: "east, even sender x", 9: "east, odd sender x", 10: "west, even x",
            11: "west, odd x", 12: "south, even sender y", 13: "south, odd y",
            14: "north, even y", 15: "north, odd y"}


def _life_label(x: int, y: int, W: int, H: int) -> str:
    return "state (1 cell)\nleft, right\nrow3, up3, down3"


def _mandel_role(x: int, y: int, W: int, H: int) -> str:
    return "last stage: stores the counts" if x == W - 1 else "pipeline stage"


def _mandel_label(rows: int, iters: int) -> PEFn:
    def label(x: int, y: int, W: int, H: int) -> str:
        its = iters // W + (x < iters % W)
        img = ", ".join(str(r) for r in range(y, rows, H))
        t = f"stage {x}: {its} its\nS = [zr|zi|count]\ncr, ci (rows {img})"
        return t + ("\nout" if x == W - 1 else "")

    return label


def _hist_label(bpp: int) -> PEFn:
    def label(x: int, y: int, W: int, H: int) -> str:
        p = x + W * y
        return f"vals (its data)\ncounts of\n{p * bpp}..{p * bpp + bpp - 1}\nout queues, inbox"

    return label


def _krylov_role(x: int, y: int, W: int, H: int) -> str:
    if (x, y) == (W - 1, 0):
        return "allreduce root: sum lands here, flood starts"
    if x == W - 1:
        return "last column: column chain north"
    return "stencil + BLAS-1; row chain east"


def _krylov_label(x: int, y: int, W: int, H: int) -> str:
    return "x = p, y = A p\ncoef, halos\nb, sol, r\ndots[0]"


def _s25_label(x: int, y: int, W: int, H: int) -> str:
    return f"u, u_prev (nz+8)\nvsq, lap\nhalos: {min(x, 4)} W, {min(W - 1 - x, 4)} E"


def _hyper_role(x: int, y: int, W: int, H: int) -> str:
    if x == 0:
        return "column 0: holds row block's x, floods it east"
    if x == W - 1:
        return "owner of the row block's y"
    return "its nonzeros; partial y into the chain"


def _hyper_label(x: int, y: int, W: int, H: int) -> str:
    t = f"nonzeros of\nrow block {y},\ncolumn range {x}\nx slice, y partial"
    return t.replace("x slice", "x_j (all)") if x == 0 else t


def _summa_label(x: int, y: int, W: int, H: int) -> str:
    return f"C{y}{x}\nA{y}, panel {x}\nB panel {y}, col {x}\n+ receive buffers"


def _summa_role(x: int, y: int, W: int, H: int) -> str:
    if x == 0 and y == 0:
        return "step 0: owns both panels"
    if x == 0:
        return "step 0: owner column (A panels)"
    if y == 0:
        return "step 0: owner row (B panels)"
    return "receives both panels"


def _cannon_label(x: int, y: int, W: int, H: int) -> str:
    order = ring_order(W)
    r, q = order.index(x), order.index(y)
    k = (q + r) % W
    return f"logical ({r},{q})\nC{q}{r}\nA{q}{k}, B{k}{r}\n+ next buffers"


def _cannon_role(x: int, y: int, W: int, H: int) -> str:
    return "every PE: shift A west, B north (logically), multiply"


def _coll_role(x: int, y: int, W: int, H: int) -> str:
    if (x, y) == (0, 0):
        return "(0, 0): x in, scatter root; y out, gather root"
    if y == 0:
        return "row 0: gets its x segment, broadcasts it down"
    if x == 0:
        return "column 0: b, row reduce root"
    return "local product"


def _coll_label(x: int, y: int, W: int, H: int) -> str:
    t = f"A{y}{x}\nx{x}, y{y}"
    if x == 0:
        t += " + b"
    if (x, y) == (0, 0):
        t += "\nx, y whole"
    return t


def _best_role(x: int, y: int, W: int, H: int) -> str:
    if x == 0:
        return "column 0: reduce root (y, b)"
    return "row 0: floods x down" if y == 0 else "local product"


def _best_label(x: int, y: int, W: int, H: int) -> str:
    return f"A{y}{x}\nx{x}\ny{y}" + (" + b" if x == 0 else "")


def _fft_role(x: int, y: int, W: int, H: int) -> str:
    return "FFTs along z, y, x; all-to-alls along its column and row"


def _fft_label(x: int, y: int, W: int, H: int) -> str:
    return f"pencils: x-blk {x},\ny-blk {y} (start)\nD0, D1 ping-pong\ntwiddles"


def _chol_role(x: int, y: int, W: int, H: int) -> str:
    if x > y:
        return "above the diagonal: idle"
    if x == y:
        return "diagonal: POTRF, SYRK; forwards L down"
    return "below: TRSM (column k), GEMM updates"


def _chol_label(x: int, y: int, W: int, H: int) -> str:
    if x > y:
        return ""
    return f"tile A{y}{x}\n(b x b)" + ("\nL column in" if x < y and x == 0 else "")


SPECS: list[Spec] = [
    Spec("gemv", "gemv", (4, 3), (24, 32),
         {2: "x flood, down every column", 0: "row chain, even sender column",
          1: "row chain, odd sender column"}, _gemv_role, _gemv_label(24, 32),
         notes=("host: x into row 0, b into column 0, A everywhere (memcpy); y read from the "
                "last column",)),
    Spec("gemv-checkerboard", "gemv-checkerboard", (3, 3), (24, 24),
         {4: "x streamed by the host into column i as (f16 value, index k)",
          0: "row chain, even sender column", 1: "row chain, odd sender column"},
         _cb_role, _cb_label),
    Spec("residual", "residual", (3, 3), (24, 24),
         {2: "x flood, down every column", 0: "row chain (even)", 1: "row chain (odd)",
          3: "fmaxs chain up the last column (even)", 4: "fmaxs chain (odd)"},
         _res_role, _res_label),
    Spec("single-tile-matvec", "single-tile-matvec", (2, 2), (8, 1), {},
         lambda x, y, W, H: "every PE: its own matvec", _stm_label,
         notes=("no wavelet crosses the fabric: the host copies A and x into every PE and "
                "reads y back",)),
    Spec("stencil-7pt-spmv", "stencil-7pt-spmv", (3, 3), (8,), EXCHANGE, _stencil_role,
         _stencil_label, notes=("one color per direction and sender parity: no router sees a "
                                "color from two sides",)),
    Spec("game-of-life", "game-of-life", (4, 4), (2,), EXCHANGE, _stencil_role, _life_label,
         notes=("per generation: state east and west, then row3 = left + state + right north "
                "and south",)),
    Spec("mandelbrot", "mandelbrot", (4, 2), (4, 8, 8),
         {0: "pixel row state S, even stage -> next", 1: "S, odd stage -> next"},
         _mandel_role, _mandel_label(4, 8),
         notes=("each row of PEs is an independent pipeline over image rows y, y + H, ...",)),
    Spec("histogram", "histogram", (4, 4), (8, 2),
         {2: "E1: row bus east", 3: "W1: row bus west", 4: "S2: column bus south",
          5: "N2: column bus north"},
         lambda x, y, W, H: "buckets its values, tallies its own", _hist_label(2),
         notes=("F[x] / F[y]: a range filter lets a wavelet into the CE only at its owner "
                "column / row",)),
    Spec("wide-multiplication", "wide-multiplication", (1, 1), (128,),
         {2: "host streams a, b in (16-bit words)", 3: "product streamed out"},
         lambda x, y, W, H: "bit-serial carry-save multiplier",
         lambda x, y, W, H: "ab: a, b (2 nw words)\nA, S, C, T, M, X\nmasks m[j] (16 nw)\nprod",
         cell=2.0, label_size=7),
    Spec("bandwidth-test", "bandwidth-test", (3, 3), (16,),
         {2: "host -> PE stream (n words)", 3: "PE -> host stream"},
         lambda x, y, W, H: "receives n words, streams them back",
         lambda x, y, W, H: "buf (n)\nsbuf (n)",
         notes=("then copy-mode memcpy in and out, a row and a column broadcast (host model)",)),
    Spec("krylov", "cg", (4, 4), (8, 3),
         {0: "allreduce: row chain east (even)", 1: "row chain (odd)",
          2: "column chain north (even)", 3: "column chain (odd)",
          4: "flood of the sum from the root"},
         _krylov_role, _krylov_label,
         covers=("power-method", "cg", "jacobi-pcg", "bicgstab"),
         hidden=tuple(range(8, 16)),
         notes=("colors 8-15 are the stencil-7pt-spmv exchange, unchanged (see its figure); "
                "the traffic is that of 3 iterations of cg",
                "jacobi-pcg adds z, dinv; bicgstab p, v, rh; power-method only x, y")),
    Spec("stencil-25pt", "stencil-25pt", (7, 1), (8, 2),
         {0: "east-going localized broadcasts", 1: "west-going"},
         lambda x, y, W, H: "roots its broadcast, receives 4 each way", _s25_label,
         notes=("positions (line styles) rotate send, last, fwd, fwd, fwd; a control wavelet "
                "behind each broadcast advances them",
                "a line of 7 PEs; on a 2D grid the same along the columns on colors 2 "
                "(south-going) and 3 (north-going)")),
    Spec("hypersparse-spmv", "hypersparse-spmv", (4, 4), (512, 512, 128),
         {2: "x_j flood east along the row", 0: "partial y chain (even)",
          1: "partial y chain (odd)"}, _hyper_role, _hyper_label,
         notes=("Fp/n: a counter filter passes the router's CE its slice of x_j",)),
    Spec("gemm-summa", "gemm-summa", (4, 4), (16, 16, 16),
         {0: "A panels along the rows, even steps", 1: "A panels, odd steps",
          2: "B panels down/up the columns, even steps", 3: "B panels, odd steps"},
         _summa_role, _summa_label,
         notes=("routes of steps 0 and 1; at step s >= 2 each PE re-routes its router for the "
                "new owners (pe.set_route)",)),
    Spec("gemm-cannon", "gemm-cannon", (4, 4), (16, 16, 16),
         {0: "A shift along the rows (stream set 0)", 1: "A shift (set 1)",
          2: "A shift (set 2)", 3: "B shift along the columns (set 0)", 4: "B shift (set 1)",
          5: "B shift (set 2)"},
         _cannon_role, _cannon_label,
         notes=("ring order along a line: 0, 2, 3, 1 (logical neighbours at most 2 hops "
                "apart); interval coloring: 3 colors per direction",)),
    Spec("gemv-2d-collectives", "gemv-2d-collectives", (4, 4), (32, 32),
         {0: "scatter x along row 0", 1: "broadcast down every column",
          2: "reduce along every row (chain)", 3: "reduce (chain, second color)",
          4: "gather y up column 0"},
         _coll_role, _coll_label),
    Spec("gemv-best-collective", "gemv-best-collective", (8, 2), (8, 64),
         {2: "x flood down the columns", 3: "row reduce (the algorithm best() picked)",
          4: "row reduce (second color)"},
         _best_role, _best_label,
         result_note=lambda r: f"best() picked {r.extras['reduce']}; model cycles of the "
         "candidates: " + ", ".join(f"{k} {v:g}" for k, v in r.extras["candidates"].items())),
    Spec("fft", "fft-3d", (4, 4), (4, 4, 4),
         {0: "x-line all-to-all east (even sender)", 1: "east (odd sender)",
          2: "west (even)", 3: "west (odd)", 4: "y-line all-to-all south (even)",
          5: "south (odd)", 6: "north (even)", 7: "north (odd)"},
         _fft_role, _fft_label, covers=("fft-1d", "fft-2d", "fft-3d"),
         notes=("fft-3d on 4x4 PEs, 4^3 points; fft-2d (W x H PEs) runs the same column, then "
                "row all-to-alls, without the middle FFT; fft-1d: every PE its own vector, "
                "no route",)),
    Spec("cholesky", "cholesky", (4, 4), (16,),
         {0: "R: L_ik east along row i (switches: receive, then send)",
          1: "C: L_kk / L_jk down column k"},
         _chol_role, _chol_label,
         notes=("row routers flip from receiving to sending position by a control wavelet of "
                "the previous step's sender",)),
]


def spec_for(name: str) -> Spec:
    """The spec of a figure stem or of a kernel (a kernel of a family: the family's spec)."""
    for s in SPECS:
        if name == s.stem or name in s.kernels:
            return s
    raise KeyError(f"no kernel figure for {name!r}: known {', '.join(s.stem for s in SPECS)}")


def _routed(layout: Any) -> set[int]:
    return {int(c) for c in np.nonzero((layout.rx | layout.tx).any(axis=(0, 1, 3)))[0]}


def check_colors(spec: Spec, compiled: Any) -> None:
    """Refuse a spec whose legend misses a routed color or names a routed color it hides
    (colors without a route, e.g. the host's streams, may be named)."""
    routed = _routed(compiled.layout)
    missing = sorted(routed - set(spec.colors) - set(spec.hidden))
    if missing:
        raise ValueError(f"{spec.stem}: the layout routes colors {missing} that the figure's "
                         "legend does not name: update SPECS in docs/make_kernel_figures.py")
    both = sorted(set(spec.colors) & set(spec.hidden))
    if both:
        raise ValueError(f"{spec.stem}: colors {both} are both named and hidden")


def spec_layout(spec: Spec) -> Any:
    """The compiled layout of a spec's kernel at its size, without simulating it."""
    with contextlib.redirect_stdout(io.StringIO()):
        return target_layouts(spec.kernel, grid=spec.grid, size=spec.size)[0]


def _on(fn: PEFn, W: int, H: int) -> Callable[[int, int], str]:
    return lambda x, y: fn(x, y, W, H)


def kernel_figure(name: str) -> Figure:
    """Run the kernel of figure ``name`` (a stem or a kernel name) at its small size, check its
    result, and draw its mapping (routes of the compiled layout; link traffic of the run)."""
    spec = spec_for(name)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_target(spec.kernel, trace=False, grid=spec.grid, size=spec.size)
    if run.error is not None:
        raise RuntimeError(f"{spec.kernel} failed at {spec.grid}, {spec.size}") from run.error
    if not run.result.ok:
        raise RuntimeError(f"{spec.kernel} at {spec.grid}, {spec.size}: wrong result")
    eng = run.pick().engine
    check_colors(spec, eng.compiled)
    W, H = spec.grid
    k = REGISTRY[spec.kernel]
    size = ", ".join(f"{n}={v}" for n, v in run.result.size.items())
    title = spec.title or f"{spec.kernel} on {W}x{H} PEs ({size}): {k.summary}"
    traffic = eng if eng.traffic()["E"] else None
    notes = spec.notes + ((spec.result_note(run.result),) if spec.result_note else ())
    return draw_mapping(
        eng.compiled, colors=spec.colors, roles=_on(spec.roles, W, H),
        labels=_on(spec.labels, W, H), traffic=traffic, notes=notes, title=title,
        cell=spec.cell, label_size=spec.label_size, dpi=DPI,
    )


def save_png(fig: Figure, path: Path) -> None:
    """Save as a 256-color palette PNG (the figures are flat colors: a third of the RGBA
    size, no visible loss)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    image = Image.open(buf).convert("RGB")
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)


def main(names: list[str] | None = None) -> list[Path]:
    """Write the figures (all, or those of ``names``); print each file's size and time."""
    OUT.mkdir(parents=True, exist_ok=True)
    specs = SPECS if not names else [s for s in SPECS
                                     if s.stem in {spec_for(n).stem for n in names}]
    written = []
    t_all = time.perf_counter()
    for spec in specs:
        t0 = time.perf_counter()
        fig = kernel_figure(spec.stem)
        path = OUT / spec.path.name
        save_png(fig, path)
        plt.close(fig)
        written.append(path)
        print(f"{path.name}: {path.stat().st_size // 1024} KB, {time.perf_counter() - t0:.1f} s")
    print(f"{len(written)} figures in {time.perf_counter() - t_all:.1f} s")
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
