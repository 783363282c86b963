"""A collective's plan: per-router color routes (with switch positions) and per-PE steps.

A plan is written with *color slots* 0, 1, 2, ...; installing it on a layout maps the slots to
real colors. Each PE runs its steps in order, each one vector builtin over the collective's
buffer (synchronous: the calling task waits while the op streams):

========  ==================================================================================
kind      what the PE does
========  ==================================================================================
recv      ``buf[off:off+n] = buf[off:off+n] (+) in`` (``combine="op"``), or ``= in``
          (``combine="store"``), ``in`` = n wavelets of color slot ``cin``
send      ``out = buf[off:off+n]``, n wavelets on color slot ``cout``
fwd       ``out = in (+) buf[off:off+n]`` (``combine="op"``) or ``out = in`` (``"pass"``):
          receive, combine and send element by element (one pipeline stage)
ctrl      one control wavelet on ``cout`` that advances the switch of every router it passes
          (including the first one that delivers it to a CE)
========  ==================================================================================

``send`` and ``fwd`` may end with ``tail="filtered"``: one CE-filtered ADVANCE control wavelet
after the data (``fabout_dsd(..., advance_switch=True)``), which moves the switches of the
routers it passes and dies at the first router that would deliver it to a CE.

``(+)`` is the collective's reduction (``sum`` or ``max``) in its element type (f32 or f16).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..program.control import ADVANCE, control_payload
from ..program.dsd import fabin_dsd, fabout_dsd, mem1d_dsd

__all__ = ["Plan", "Step"]

# (rx, tx) of one switch position; ports by name, tx a tuple
Position = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Step:
    kind: str  # "recv", "send", "fwd", "ctrl"
    n: int = 0
    off: int = 0
    cin: int = -1
    cout: int = -1
    combine: str = "op"  # recv: "op" | "store"; fwd: "op" | "pass"
    tail: str | None = None  # send/fwd: None | "filtered"


@dataclass(eq=False)
class Plan:
    """Routes and steps of one collective (or of several run back to back)."""

    slots: int = 0
    routes: dict[tuple[int, int, int], list[Position]] = field(
        default_factory=lambda: defaultdict(list)
    )
    steps: dict[tuple[int, int], list[Step]] = field(default_factory=lambda: defaultdict(list))

    def add_position(self, pe: tuple[int, int], slot: int, rx: str, tx) -> None:
        tx = (tx,) if isinstance(tx, str) else tuple(tx)
        self.routes[(pe[0], pe[1], slot)].append((rx, tx))
        self.slots = max(self.slots, slot + 1)

    def add_step(self, pe: tuple[int, int], step: Step) -> None:
        self.steps[pe].append(step)
        for s in (step.cin, step.cout):
            if s >= 0:
                self.slots = max(self.slots, s + 1)

    def then(self, other: Plan) -> Plan:
        """This plan, then ``other`` on fresh color slots (their steps run back to back)."""
        out = Plan(self.slots + other.slots)
        for k, v in self.routes.items():
            out.routes[k] = list(v)
        for k, v in self.steps.items():
            out.steps[k] = list(v)
        off = self.slots
        for (x, y, s), v in other.routes.items():
            out.routes[(x, y, s + off)] = list(v)
        for pe, steps in other.steps.items():
            out.steps[pe].extend(
                Step(st.kind, st.n, st.off, st.cin + off if st.cin >= 0 else -1,
                     st.cout + off if st.cout >= 0 else -1, st.combine, st.tail)
                for st in steps
            )
        return out

    def max_positions(self) -> int:
        return max((len(v) for v in self.routes.values()), default=0)



# -------------------------------------------------------------------------------------------
# running a plan on a PE


_OPS = {
    ("f32", "sum"): "fadds",
    ("f32", "max"): "fmaxs",
    ("f16", "sum"): "faddh",
    ("f16", "max"): "fmaxh",
}
_MOV = {"f32": "fmovs", "f16": "fmovh"}
_CTRL = control_payload(ADVANCE)


def run_steps(pe: Any, steps: list[Step], buf: Any, base: int, colors: tuple[int, ...],
              dtype: str, op: str) -> None:
    """Execute ``steps`` on ``pe`` over array ``buf`` (from element ``base``)."""
    combine = getattr(pe, _OPS[(dtype, op)])
    move = getattr(pe, _MOV[dtype])
    for st in steps:
        k = st.kind
        if k == "recv":
            mem = mem1d_dsd(buf, st.n, base + st.off)
            src = fabin_dsd(colors[st.cin], st.n, dtype)
            if st.combine == "store":
                move(mem, src)
            else:
                combine(mem, src, mem)
        elif k == "send":
            out = fabout_dsd(colors[st.cout], st.n, dtype, advance_switch=st.tail == "filtered")
            move(out, mem1d_dsd(buf, st.n, base + st.off))
        elif k == "fwd":
            out = fabout_dsd(colors[st.cout], st.n, dtype, advance_switch=st.tail == "filtered")
            src = fabin_dsd(colors[st.cin], st.n, dtype)
            if st.combine == "pass":
                move(out, src)
            else:
                combine(out, src, mem1d_dsd(buf, st.n, base + st.off))
        elif k == "ctrl":
            pe.mov32(fabout_dsd(colors[st.cout], 1, "u32", control=True), _CTRL)
        else:  # pragma: no cover - plans are built by this package
            raise ValueError(f"unknown step kind {k!r}")
