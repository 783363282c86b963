"""Stall reports: why a simulation stopped making progress, where, and the likely cause.

Built from the engine's state after the watchdog fired (work pending, nothing moved for
``timing.watchdog_cycles``) or after the fabric went quiet while the host still waited for a
command to finish. Every finding names the PE (x, y), the color or task, and what it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._layout_consts import (
    F_AA,
    F_AK,
    F_BA,
    F_BK,
    F_CODE,
    F_DA,
    F_DK,
    F_DONE,
    F_ISSUED,
    F_LEN,
    K_FABIN,
    K_FABOUT,
    K_FIFO,
    OPPOSITE,
    PORT_NAMES,
    RAMP,
)
from ._numerics import ELEM_INFO

MAX_LISTED = 12


@dataclass
class Finding:
    """One stuck thing: ``kind`` is a short tag, ``pe`` its (x, y), ``detail`` a sentence."""

    kind: str
    pe: tuple[int, int]
    detail: str
    color: int | None = None

    def __str__(self) -> str:
        return f"PE {self.pe}: {self.detail}"


@dataclass
class StallReport:
    """What the engine found when it stopped making progress."""

    reason: str  # "watchdog" or "quiet"
    cycle: int
    last_progress: int
    waiting_for: str | None
    findings: list[Finding] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def __str__(self) -> str:
        if self.reason == "watchdog":
            head = f"stall at cycle {self.cycle}: no progress since cycle {self.last_progress}"
        elif self.reason == "limit":
            head = (
                f"the host command did not finish within the cycle limit (cycle {self.cycle}, "
                f"last progress at cycle {self.last_progress})"
            )
        else:
            head = f"the fabric went quiet at cycle {self.cycle} but the host is still waiting"
        if self.waiting_for:
            head += f" (host waits for: {self.waiting_for})"
        lines = [head]
        if self.causes:
            lines.append("likely cause:")
            lines += [f"  - {c}" for c in self.causes]
        kinds: dict[str, list[Finding]] = {}
        for f in self.findings:
            kinds.setdefault(f.kind, []).append(f)
        for kind, items in kinds.items():
            lines.append(f"{kind} ({len(items)}):")
            lines += [f"  {f}" for f in items[:MAX_LISTED]]
            if len(items) > MAX_LISTED:
                lines.append(f"  ... and {len(items) - MAX_LISTED} more")
        return "\n".join(lines)


class StallError(RuntimeError):
    """The simulation cannot make progress; ``.report`` holds the details."""

    def __init__(self, report: StallReport):
        super().__init__(str(report))
        self.report = report


def _xy(engine, p: int) -> tuple[int, int]:
    return (int(p) % engine.width, int(p) // engine.width)


def _op_summary(engine, o: int) -> str:
    ops = engine.state.ops
    name = ELEM_INFO[int(ops[o, F_CODE])].op.name.lower()
    return (
        f"{name} issued at cycle {int(ops[o, F_ISSUED])}, {int(ops[o, F_DONE])}/"
        f"{int(ops[o, F_LEN])} elements done"
    )


def _reader_op(s, p: int, c: int) -> int | None:
    """The op of PE ``p`` that reads color ``c`` from the fabric, if any."""
    for o in s.slot_op[p].tolist():
        if o >= 0 and (
            (s.ops[o, F_AK] == K_FABIN and s.ops[o, F_AA] == c)
            or (s.ops[o, F_BK] == K_FABIN and s.ops[o, F_BA] == c)
        ):
            return o
    return None


def _full_input_queue(engine, p: int, c: int) -> Finding:
    """A router holds color ``c`` for its CE, whose input queue is full: say who should drain
    it. Only a queue that nothing can drain is a ``full-queue``; one whose reader is itself
    waiting passes the back-pressure on."""
    s = engine.state
    o = _reader_op(s, p, c)
    if o is not None:
        return Finding("back-pressure", _xy(engine, p),
                       f"input queue of color {c} is full: the op reading it "
                       f"({_op_summary(engine, o)}) is itself waiting", c)
    tid = int(s.t_color_task[p, c])
    if tid >= 0:
        why = ("is blocked" if (int(s.t_blocked[p]) >> tid) & 1 else
               "cannot run while the CE is busy (a task is suspended in an op or never ends)")
        return Finding("full-queue", _xy(engine, p),
                       f"input queue of color {c} is full: its data task {tid} {why}", c)
    return Finding("full-queue", _xy(engine, p),
                   f"input queue of color {c} is full and nothing consumes it "
                   "(no data task, no fabric-input op)", c)


def stall_report(engine, reason: str) -> StallReport:
    s = engine.state
    report = StallReport(reason, engine.now, int(s.clock[1]), engine.host_waiting_for)
    f = report.findings

    # Host command stream: launched functions that never signalled completion.
    blocked = np.nonzero(engine.cmd_blocked)[0]
    for p in blocked[: MAX_LISTED * 4]:
        name = engine._rpc_name.get(int(p), "?")
        f.append(Finding("cmd-stream-blocked", _xy(engine, p),
                         f"launched function {name!r} has not called unblock_cmd_stream()"))

    # Ops waiting (suspended tasks and async microthreads).
    eaten = []
    for p in np.nonzero((s.slot_op >= 0).any(axis=1))[0]:
        for slot in range(s.slots):
            o = int(s.slot_op[p, slot])
            if o < 0:
                continue
            who = "the task (synchronous op)" if slot == s.slots - 1 else f"microthread {slot}"
            waits = []
            for kind_f, arg_f in ((F_AK, F_AA), (F_BK, F_BA)):
                if s.ops[o, kind_f] == K_FABIN:
                    c = int(s.ops[o, arg_f])
                    if s.i_count[p, c] == 0:
                        waits.append(f"input on color {c} (its queue is empty)")
                        if s.t_color_task[p, c] >= 0:
                            eaten.append((p, c))
                elif s.ops[o, kind_f] == K_FIFO:
                    waits.append("a FIFO that is empty")
            if s.ops[o, F_DK] == K_FABOUT:
                c = int(s.ops[o, F_DA])
                if s.o_count[p, c] >= s.caps.output_queue:
                    waits.append(f"room in the output queue of color {c} (full)")
            elif s.ops[o, F_DK] == K_FIFO:
                waits.append("room in a full FIFO")
            detail = f"{who} runs {_op_summary(engine, o)}"
            if waits:
                detail += "; waiting for " + " and ".join(waits)
            f.append(Finding("op-waiting", _xy(engine, p), detail))

    # Router buffers holding wavelets that cannot move.
    pes, cols = np.nonzero(s.r_count > 0)
    for p, c in zip(pes.tolist(), cols.tolist(), strict=True):
        pos = int(s.route_pos[p, c])
        tx = int(s.route_tx[p, c, pos])
        n = int(s.r_count[p, c])
        if tx == 0:
            f.append(Finding("no-route", _xy(engine, p),
                             f"{n} wavelet(s) of color {c} arrived but the router has no tx route "
                             f"for color {c}: add a route or stop sending it", c))
            continue
        for port in range(5):
            if not (tx >> port) & 1:
                continue
            if port == RAMP:
                if s.i_count[p, c] >= s.caps.input_queue:
                    f.append(_full_input_queue(engine, p, c))
                continue
            q = int(s.nbr[p, port])
            if q < 0:
                f.append(Finding("off-rectangle", _xy(engine, p),
                                 f"color {c} is routed {PORT_NAMES[port]}, off the rectangle", c))
                continue
            qpos = int(s.route_pos[q, c])
            rx = int(s.route_rx[q, c, qpos])
            if not (rx >> OPPOSITE[port]) & 1:
                f.append(Finding("not-accepted", _xy(engine, p),
                                 f"color {c} is sent {PORT_NAMES[port]} to PE {_xy(engine, q)}, "
                                 f"whose route for color {c} does not accept from "
                                 f"{PORT_NAMES[OPPOSITE[port]]} (rx = "
                                 f"{[PORT_NAMES[i] for i in range(5) if (rx >> i) & 1]})", c))
            elif s.r_count[q, c] >= s.caps.router:
                f.append(Finding("back-pressure", _xy(engine, p),
                                 f"color {c} waits for room at PE {_xy(engine, q)}", c))

    # Input queues with wavelets nobody will take.
    pes, cols = np.nonzero(s.i_count > 0)
    for p, c in zip(pes.tolist(), cols.tolist(), strict=True):
        reading = _reader_op(s, p, c) is not None
        if s.t_color_task[p, c] < 0 and not reading:
            f.append(Finding("no-consumer", _xy(engine, p),
                             f"{int(s.i_count[p, c])} wavelet(s) of color {c} wait in the input "
                             "queue: no data task is bound to it and no op reads it", c))
        elif s.t_color_task[p, c] >= 0:
            tid = int(s.t_color_task[p, c])
            if (int(s.t_blocked[p]) >> tid) & 1:
                f.append(Finding("task-blocked", _xy(engine, p),
                                 f"data task {tid} of color {c} is blocked with "
                                 f"{int(s.i_count[p, c])} wavelet(s) waiting", c))

    # Output queues that cannot ramp up.
    pes, cols = np.nonzero(s.o_count > 0)
    for p, c in zip(pes.tolist(), cols.tolist(), strict=True):
        if (int(s.o_host[p]) >> c) & 1:
            continue
        rx = int(s.route_rx[p, c, int(s.route_pos[p, c])])
        if not (rx >> RAMP) & 1:
            f.append(Finding("no-route", _xy(engine, p),
                             f"the CE sends on color {c} but the router does not accept color {c} "
                             "from RAMP: add RAMP to its rx", c))

    # Host streams.
    for k in range(s.inj.shape[0]):
        if s.inj[k, 4]:
            p, c = int(s.inj[k, 0]), int(s.inj[k, 1])
            left = int(s.inj[k, 3] - s.inj[k, 2])
            f.append(Finding("host-stream-in", _xy(engine, p),
                             f"memcpy_h2d streaming still has {left} wavelet(s) for color {c}", c))
    for k in range(s.drn.shape[0]):
        if s.drn[k, 4]:
            p, c = int(s.drn[k, 0]), int(s.drn[k, 1])
            left = int(s.drn[k, 3] - s.drn[k, 2])
            f.append(Finding("host-stream-out", _xy(engine, p),
                             f"memcpy_d2h streaming still expects {left} wavelet(s) on color {c}",
                             c))

    report.causes = _likely_causes(engine, report, eaten)
    return report


def _likely_causes(engine, report: StallReport, eaten) -> list[str]:
    causes = []
    kinds = {f.kind for f in report.findings}
    if "cmd-stream-blocked" in kinds:
        first = report.by_kind("cmd-stream-blocked")[0]
        n = int(engine.cmd_blocked.sum())
        more = f" (and {n - 1} more PE(s))" if n > 1 else ""
        if len(kinds) == 1:
            causes.append(
                f"missing completion signal: {first.detail} on PE {first.pe}{more}; end the "
                "function (or the task it starts last) with pe.unblock_cmd_stream()"
            )
        else:
            causes.append(
                f"missing completion signal: {first.detail} on PE {first.pe}{more}; the host "
                "command stream waits for it. The function may still be stuck on one of the "
                "findings below, or it never calls pe.unblock_cmd_stream()"
            )
    if eaten:
        p, c = eaten[0]
        causes.append(
            f"wavelets eaten by an unintended data task: on PE {_xy(engine, p)} an op waits for "
            f"color {c}, but a data task is bound to color {c} and consumes its wavelets; use "
            "another color for one of them or block the data task"
        )
    if "host-stream-in" in kinds and "host-stream-out" in kinds:
        causes.append(
            "stream order: the host streams data in while the device waits to stream results "
            "out (or the reverse); issue the two memcpy calls non-blocking or in the order the "
            "device program consumes them"
        )
    elif "host-stream-in" in kinds:
        full_out = [f for f in report.by_kind("op-waiting") if "room in the output queue" in
                    f.detail]
        if full_out:
            first = full_out[0]
            causes.append(
                "stream order: the host streams data in while the device waits to send results "
                f"that nobody receives yet ({first.detail} on PE {first.pe}); issue the "
                "memcpy_h2d with nonblock=True, then the memcpy_d2h that collects the results "
                "(or route that color somewhere)"
            )
    if "full-queue" in kinds or "no-consumer" in kinds:
        first = (report.by_kind("full-queue") or report.by_kind("no-consumer"))[0]
        causes.append(
            f"full queue: {first.detail} on PE {first.pe}; back-pressure then stops the senders"
        )
    for kind, text in (
        ("no-route", "a wavelet with no route"),
        ("not-accepted", "a route that the next router does not accept"),
        ("off-rectangle", "a route off the rectangle"),
        ("task-blocked", "a blocked data task"),
    ):
        if kind in kinds:
            first = report.by_kind(kind)[0]
            causes.append(f"{text}: {first.detail} (PE {first.pe})")
    if "host-stream-out" in kinds and not causes and kinds <= {"host-stream-out", "op-waiting"}:
        first = report.by_kind("host-stream-out")[0]
        causes.append(
            f"the device sends fewer wavelets than the host expects: {first.detail} from PE "
            f"{first.pe}, and nothing on the device will send them; check elem_per_pe against "
            "what the program sends, and the color"
        )
    if not causes and "op-waiting" in kinds:
        first = report.by_kind("op-waiting")[0]
        causes.append(f"an op waits for data that never comes: {first.detail} (PE {first.pe})")
    return causes
