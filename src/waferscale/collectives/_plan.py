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
ctrl      one CE-filtered control wavelet on ``cout`` carrying command slot 0 = ADVANCE
          (read by routers in pop mode) and the command ``ADVANCE`` (``combine="advance"``)
          or ``NOP`` (``combine="nop"``) for routers not in pop mode
========  ==================================================================================

``send`` and ``fwd`` may end with ``tail="filtered"``: one CE-filtered ADVANCE control wavelet
after the data (``fabout_dsd(..., advance_switch=True)``).

Rings use two more kinds, run asynchronously (:class:`AsyncSteps`): ``arecv`` (a ``recv``) and
``asend`` (a ``send`` that waits until the ``dep``-th ``arecv`` of the PE has completed). The
PE's receives run one after the other on one microthread and its sends on another, so a PE
takes in the next block while the previous one is still leaving: every PE of a ring sends
before it receives, which would deadlock with synchronous ops once a block outgrows the
buffers between two PEs.

``(+)`` is the collective's reduction (``sum`` or ``max``) in its element type (f32 or f16).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from ..program.control import ADVANCE, NOP, control_payload
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
    dep: int = -1  # asend: index of the arecv it waits for


@dataclass(eq=False)
class Plan:
    """Routes and steps of one collective (or of several run back to back)."""

    slots: int = 0
    routes: dict[tuple[int, int, int], list[Position]] = field(
        default_factory=lambda: defaultdict(list)
    )
    steps: dict[tuple[int, int], list[Step]] = field(default_factory=lambda: defaultdict(list))
    pop: set[tuple[int, int, int]] = field(default_factory=set)
    """(x, y, slot) whose switch runs in ``pop_on_advance`` mode"""

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
        out.pop = set(self.pop) | {(x, y, s + self.slots) for x, y, s in other.pop}
        off = self.slots
        for (x, y, s), v in other.routes.items():
            out.routes[(x, y, s + off)] = list(v)
        for pe, steps in other.steps.items():
            out.steps[pe].extend(
                replace(
                    st,
                    cin=st.cin + off if st.cin >= 0 else -1,
                    cout=st.cout + off if st.cout >= 0 else -1,
                )
                for st in steps
            )
        return out

    def compact(self) -> Plan:
        """The same plan with its used color slots renumbered 0, 1, ... (in order)."""
        used = sorted(
            {s for (_x, _y, s) in self.routes}
            | {s for st in self.steps.values() for t in st for s in (t.cin, t.cout) if s >= 0}
        )
        new = {s: k for k, s in enumerate(used)}
        out = Plan(len(used))
        for (x, y, s), v in self.routes.items():
            out.routes[(x, y, new[s])] = list(v)
        out.pop = {(x, y, new[s]) for x, y, s in self.pop}
        for pe, steps in self.steps.items():
            out.steps[pe] = [
                replace(
                    t, cin=new[t.cin] if t.cin >= 0 else -1, cout=new[t.cout] if t.cout >= 0 else -1
                )
                for t in steps
            ]
        return out

    def max_positions(self) -> int:
        return max((len(v) for v in self.routes.values()), default=0)

    @property
    def is_async(self) -> bool:
        return any(st.kind in ("arecv", "asend") for steps in self.steps.values() for st in steps)


# -------------------------------------------------------------------------------------------
# running a plan on a PE


_OPS = {
    ("f32", "sum"): "fadds",
    ("f32", "max"): "fmaxs",
    ("f16", "sum"): "faddh",
    ("f16", "max"): "fmaxh",
}
_MOV = {"f32": "fmovs", "f16": "fmovh"}
# Slot 0 = ADVANCE for routers in pop mode; bits 22..23 for the others.
_CTRL = {
    "advance": control_payload(ADVANCE, data=ADVANCE, ce_filter=True),
    "nop": control_payload(NOP, data=ADVANCE, ce_filter=True),
}


def run_steps(
    pe: Any, steps: list[Step], buf: Any, base: int, colors: tuple[int, ...], dtype: str, op: str
) -> None:
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
            pe.mov32(fabout_dsd(colors[st.cout], 1, "u32", control=True), _CTRL[st.combine])
        else:  # pragma: no cover - plans are built by this package
            raise ValueError(f"unknown step kind {k!r}")


RECV_THREAD, SEND_THREAD = 0, 1


class AsyncSteps:
    """The event-driven executor of ``arecv``/``asend`` steps on one PE. Its two local tasks
    (``recv_task``, ``send_task``) run when an op of that side completes and issue the next one;
    when both sides are done it activates ``then``."""

    __slots__ = (
        "recvs",
        "sends",
        "ri",
        "si",
        "rbusy",
        "sbusy",
        "buf",
        "base",
        "colors",
        "dtype",
        "op",
        "then",
        "recv_task",
        "send_task",
    )

    def __init__(
        self,
        steps: list[Step],
        buf: Any,
        base: int,
        colors: tuple[int, ...],
        dtype: str,
        op: str,
        then: Any,
        recv_task: int,
        send_task: int,
    ) -> None:
        self.recvs = [s for s in steps if s.kind == "arecv"]
        self.sends = [s for s in steps if s.kind == "asend"]
        self.ri = self.si = 0
        self.rbusy = self.sbusy = False
        self.buf, self.base, self.colors = buf, base, colors
        self.dtype, self.op, self.then = dtype, op, then
        self.recv_task, self.send_task = recv_task, send_task

    def start(self, pe: Any) -> None:
        self._recv(pe)
        self._send(pe)
        self._done(pe)

    def on_recv(self, pe: Any) -> None:
        self.rbusy = False
        self.ri += 1
        self._recv(pe)
        self._send(pe)
        self._done(pe)

    def on_send(self, pe: Any) -> None:
        self.sbusy = False
        self.si += 1
        self._send(pe)
        self._done(pe)

    def _recv(self, pe: Any) -> None:
        if self.rbusy or self.ri >= len(self.recvs):
            return
        st = self.recvs[self.ri]
        mem = mem1d_dsd(self.buf, st.n, self.base + st.off)
        src = fabin_dsd(self.colors[st.cin], st.n, self.dtype)
        opts = {"async_": True, "activate": self.recv_task, "microthread": RECV_THREAD}
        if st.combine == "store":
            getattr(pe, _MOV[self.dtype])(mem, src, **opts)
        else:
            getattr(pe, _OPS[(self.dtype, self.op)])(mem, src, mem, **opts)
        self.rbusy = True

    def _send(self, pe: Any) -> None:
        if self.sbusy or self.si >= len(self.sends):
            return
        st = self.sends[self.si]
        if st.dep >= self.ri:  # its block has not arrived yet
            return
        out = fabout_dsd(self.colors[st.cout], st.n, self.dtype)
        getattr(pe, _MOV[self.dtype])(
            out,
            mem1d_dsd(self.buf, st.n, self.base + st.off),
            async_=True,
            activate=self.send_task,
            microthread=SEND_THREAD,
        )
        self.sbusy = True

    def _done(self, pe: Any) -> None:
        if (
            self.ri == len(self.recvs)
            and self.si == len(self.sends)
            and self.then is not None
            and not self.rbusy
            and not self.sbusy
        ):
            then, self.then = self.then, None
            pe.activate(then)
