#!/usr/bin/env python
"""Collectives: model, simulation and lower bound over the sweep of issue #5.

    python benchmarks/collectives.py --json            # one JSON object per line
    python benchmarks/collectives.py --quick --json    # smaller simulations (about a minute)
    python benchmarks/collectives.py --out results.jsonl --figure docs/figures/x.png

Sweep: 1D rows P in {4, 16, 64, 256, 512} x B in {1, 4, 16, 64, 256, 1024, 4096} for reduce
(every algorithm), broadcast and allreduce (every algorithm); 2D squares 4x4 .. 512x512 at
B in {1, 256, 4096} for reduce (X-Y, snake), broadcast and allreduce (X-Y, snake). Every row
is modelled; it is simulated when its wavelet-hop count (the model's E, a good proxy for the
simulator's work) is under the budget (``--max-hops``, default 4e7: under 10 minutes in all
on a shared 2-core machine; ``--quick``: 4e6, about a minute, rings up to P = 64 and squares
up to 64x64; the full run: rings up to P = 256, squares up to 256x256). The rows of the
selector's choice have ``"selected": true``.

JSON keys: ``op, algorithm, shape, words, model_cycles`` (the algorithm's own cost model:
the schedule of a tree, a ring's schedule, the flood's closed form), ``generic_model_cycles``
(the paper's generic ``max(C, E/N + L) + s D`` of its patterns), ``sim_cycles`` (null where
not simulated), ``lower_bound_cycles`` (null where there is none), ``wall_s`` (simulator time,
``Engine.run`` only; for a modelled row the time the model took), and ``ratio_model`` /
``ratio_sim`` (to the lower bound), ``model_error`` ((sim - model) / model),
``generic_error`` ((sim - generic) / generic), ``ok`` (the result equals numpy's),
``selected``.

It also writes the regime map (``--figure``): the selected algorithm and its ratio to the
lower bound over P x B, in the model and, where simulated, in the simulator.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from waferscale import arch as arch_mod  # noqa: E402
from waferscale import collectives as wc  # noqa: E402

P_1D = (4, 16, 64, 256, 512)
B_1D = (1, 4, 16, 64, 256, 1024, 4096)
SQUARES = (4, 16, 64, 256, 512)
B_2D = (1, 256, 4096)
OPS_1D = ("reduce", "broadcast", "allreduce")
OPS_2D = ("reduce", "broadcast", "allreduce")


def _emit(row: dict[str, Any], args: argparse.Namespace, out) -> None:
    line = json.dumps(row)
    if args.json:
        print(line, flush=True)
    elif not args.quiet:
        sim = row["sim_cycles"]
        print(
            f"{row['op']:10s} {row['algorithm']:22s} {row['shape']:>8s} B={row['words']:<5d}"
            f" model={row['model_cycles']:10.1f} sim={'-' if sim is None else sim:>8}"
            f" lb={row['lower_bound_cycles'] or 0:10.1f} wall={row['wall_s']:.2f}",
            flush=True,
        )
    if out is not None:
        out.write(line + "\n")
        out.flush()


def _row(coll: wc.Collective, algorithm: str, simulate: bool, selected: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = coll.model_cycles()
    generic = coll.generic_model_cycles()
    lb = coll.lower_bound_cycles()
    wall = time.perf_counter() - t0
    w, h = coll.shape
    row: dict[str, Any] = {
        "op": coll.op,
        "algorithm": algorithm,
        "shape": f"{w}x{h}",
        "words": coll.words,
        "model_cycles": model,
        "generic_model_cycles": generic,
        "sim_cycles": None,
        "lower_bound_cycles": lb,
        "wall_s": wall,
        "resolved": coll.name.split("/", 1)[1],
        "selected": selected,
        "ratio_model": model / lb if lb else None,
        "ratio_sim": None,
        "model_error": None,
        "generic_error": None,
        "ok": None,
    }
    if simulate:
        row["colors"] = coll.colors_needed  # builds the plan: only where it is simulated
        r = coll.simulate(seed=1)
        row.update(
            sim_cycles=r.cycles,
            wall_s=r.wall_s,
            ok=r.ok,
            bit_exact=r.bit_exact,
            model_error=r.model_error,
            generic_error=r.generic_error,
            ratio_sim=r.cycles / lb if lb else None,
            measured={k: r.measured[k] for k in ("E", "E_data", "N", "C", "max_link_load")},
        )
    return row


def _hops(coll: wc.Collective) -> float:
    return sum(q["E"] for q in coll.model_quantities())


def _fits(coll: wc.Collective) -> bool:
    spec = coll.arch.pe
    width = 4 if coll.dtype == "f32" else 2
    return coll.buffer_words * width + 64 <= spec.sram_bytes - spec.runtime_reserved_bytes


def sweep(args: argparse.Namespace, out) -> list[dict[str, Any]]:
    spec = arch_mod.preset(args.arch)
    rows: list[dict[str, Any]] = []
    budget = args.max_hops if args.max_hops is not None else (4e6 if args.quick else 4e7)
    max_side = 64 if args.quick else 256
    ring_cap = 64 if args.quick else 256  # a ring runs ~4 P^2 Python tasks

    def run(coll: wc.Collective, name: str, selected: bool, allowed: bool) -> None:
        if name.startswith("ring") and coll.shape[0] * coll.shape[1] > ring_cap:
            allowed = False
        sim = (not args.no_sim) and allowed and _fits(coll) and _hops(coll) <= budget
        row = _row(coll, name, sim, selected)
        rows.append(row)
        _emit(row, args, out)

    if not args.only_2d:
        for op in OPS_1D:
            for P in P_1D:
                for B in B_1D:
                    choice = wc.best(op, P, B, spec)
                    for a in wc.algorithms(op, (P, 1)):
                        run(wc.Collective(op, P, B, a, arch=spec), a, a == choice.algorithm, True)
    if not args.only_1d:
        for op in OPS_2D:
            for n in SQUARES:
                for B in B_2D:
                    choice = wc.best(op, (n, n), B, spec)
                    for a in wc.algorithms(op, (n, n)):
                        allowed = n <= max_side
                        if a == "snake" and n > 64 and B > 1:
                            allowed = False  # a chain of n*n stages: hours of simulation
                        run(
                            wc.Collective(op, (n, n), B, a, arch=spec),
                            a,
                            a == choice.algorithm,
                            allowed,
                        )
    return rows


def regime_map(path: Path, rows: list[dict[str, Any]], spec_name: str) -> None:
    """Two panels over P x B for reduce on a row: the selector's algorithm with its ratio to
    the lower bound in the model (fine grid), and the ratio in the simulator where simulated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    spec = arch_mod.preset(spec_name)
    Ps = [4, 8, 16, 32, 64, 128, 256, 512]
    Bs = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    algs = list(wc.algorithms("reduce", (2, 1)))
    palette = {
        "star": "#e41a1c",
        "chain": "#377eb8",
        "tree": "#4daf4a",
        "two_phase": "#984ea3",
        "autogen": "#ff7f00",
        "autogen_paper": "#a65628",
    }
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    ax = axes[0]
    for i, P in enumerate(Ps):
        for j, B in enumerate(Bs):
            c = wc.best("reduce", P, B, spec)
            lb = wc.lower_bound("reduce", P, B, spec)
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=palette[c.algorithm], alpha=0.75))
            ax.text(j + 0.5, i + 0.5, f"{c.cycles / lb:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"best reduce by the model ({spec.name}); number: model / lower bound", fontsize=9)
    sim = {
        (int(r["shape"].split("x")[0]), r["words"]): r
        for r in rows
        if r["op"] == "reduce"
        and r["selected"]
        and r["shape"].endswith("x1")
        and r["sim_cycles"] is not None
    }
    ax2 = axes[1]
    for i, P in enumerate(Ps):
        for j, B in enumerate(Bs):
            r = sim.get((P, B))
            if r is None:
                ax2.add_patch(plt.Rectangle((j, i), 1, 1, color="0.93"))
                continue
            ax2.add_patch(plt.Rectangle((j, i), 1, 1, color=palette[r["algorithm"]], alpha=0.75))
            ax2.text(
                j + 0.5, i + 0.5, f"{r['ratio_sim']:.2f}", ha="center", va="center", fontsize=7
            )
    ax2.set_title(
        "the same choice simulated; number: simulated cycles / lower bound "
        "(grey: not in the sweep)",
        fontsize=9,
    )
    for a in axes:
        a.set_xlim(0, len(Bs))
        a.set_ylim(0, len(Ps))
        a.set_xticks([j + 0.5 for j in range(len(Bs))], [str(b) for b in Bs], fontsize=7)
        a.set_yticks([i + 0.5 for i in range(len(Ps))], [str(p) for p in Ps], fontsize=7)
        a.set_xlabel("B (words per PE)")
        a.set_ylabel("P (PEs in the row)")
    fig.legend(
        handles=[Patch(color=palette[a], alpha=0.75, label=a) for a in algs],
        loc="lower center",
        ncol=len(algs),
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cell(r: dict[str, Any] | None) -> str:
    """``gap (paper gap)``: (sim - model) / model in %, the algorithm's model and then the
    paper's generic one (only where it differs); '-' where not simulated."""
    if r is None or r["model_error"] is None:
        return "-"
    own = f"{100 * r['model_error']:+.1f}"
    generic = r.get("generic_error")
    if generic is None or abs(generic - r["model_error"]) < 5e-4:
        return own
    return f"{own} ({100 * generic:+.1f})"


def markdown(rows: list[dict[str, Any]]) -> str:
    """Model against simulator, per algorithm: (sim - model) / model in % over P x B (1D rows)
    and over the squares (2D), with the paper's generic model's gap in parentheses where it
    differs; '-' where not simulated."""
    out = []
    by_key: dict[tuple, dict[str, Any]] = {}
    for r in rows:  # the first row of a key, as the table always showed
        by_key.setdefault((r["op"], r["algorithm"], r["shape"], r["words"]), r)
    one = [r for r in rows if r["shape"].endswith("x1")]
    two = [r for r in rows if not r["shape"].endswith("x1")]
    if one:
        out.append("| op | algorithm | P | " + " | ".join(f"B={b}" for b in B_1D) + " |")
        out.append("|---|---|---:|" + "---:|" * len(B_1D))
        keys = dict.fromkeys((r["op"], r["algorithm"]) for r in one)
        for op, a in keys:
            for P in P_1D:
                cells = [_cell(by_key.get((op, a, f"{P}x1", B))) for B in B_1D]
                out.append(f"| {op} | {a} | {P} | " + " | ".join(cells) + " |")
    if two:
        out.append("")
        out.append("| op | algorithm | B | " + " | ".join(f"{n}x{n}" for n in SQUARES) + " |")
        out.append("|---|---|---:|" + "---:|" * len(SQUARES))
        keys = dict.fromkeys((r["op"], r["algorithm"]) for r in two)
        for op, a in keys:
            for B in B_2D:
                cells = []
                for n in SQUARES:
                    r = by_key.get((op, a, f"{n}x{n}", B))
                    axes = ""
                    if r is not None and r["resolved"].startswith("xy("):
                        axes = " " + r["resolved"][2:].replace("two_phase", "2ph").replace(
                            "autogen", "ag"
                        )
                    if r is None:
                        cells.append("")
                    elif r["model_error"] is None:
                        cells.append(f"[{r['model_cycles']:,.0f}]{axes}")
                    else:
                        cells.append(f"{_cell(r)}{axes}")
                out.append(f"| {op} | {a} | {B} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--quick", action="store_true", help="small simulations only")
    p.add_argument("--no-sim", action="store_true", help="model only")
    p.add_argument("--only-1d", action="store_true")
    p.add_argument("--only-2d", action="store_true")
    p.add_argument(
        "--max-hops",
        type=float,
        default=None,
        help="simulate rows whose model E is at most this (default 4e7, quick 4e6)",
    )
    p.add_argument("--arch", default="wse2")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON lines here")
    p.add_argument(
        "--figure",
        type=Path,
        default=ROOT / "docs/figures/collectives_regime_map.png",
        help="the regime map PNG (default docs/figures/collectives_regime_map.png)",
    )
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="read the rows of an earlier run (JSON lines) instead of running",
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="print the model-vs-simulator tables (docs/collectives.md)",
    )
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.source is not None:
        rows = [json.loads(line) for line in args.source.read_text().splitlines() if line]
    else:
        out = args.out.open("w") if args.out else None
        try:
            rows = sweep(args, out)
        finally:
            if out is not None:
                out.close()
    if args.markdown:
        print(markdown(rows))
    if not args.no_figure:
        regime_map(args.figure, rows, args.arch)
    bad = [r for r in rows if r["ok"] is False]
    if not args.json and not args.quiet:
        print(
            f"{len(rows)} rows, {sum(r['sim_cycles'] is not None for r in rows)} simulated, "
            f"{len(bad)} wrong, {time.perf_counter() - t0:.0f} s; figure {args.figure}",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
