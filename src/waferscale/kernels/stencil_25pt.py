"""``stencil-25pt``: the 3D acoustic wave equation with an 8th-order (25-point) Laplacian,
leapfrog in time, a point source (the SDK's 25-point stencil example, 10x10 PEs; the algorithm
of Jacquelin, Araya-Polo and Meng, "Massively scalable stencil algorithm", SC22,
arXiv 2204.03775: a z-column per PE, neighbour columns moved by localized broadcasts whose
switch positions are advanced by control wavelets).

The scheme (float32, Dirichlet u = 0 beyond the grid, ``vsq = (v dt / h)^2`` per point):

    lap  = 3 c0 u + sum_{k=1..4} c_k (u[z+k] + u[z-k] + u[x+k] + u[x-k] + u[y+k] + u[y-k])
    u'   = 2 u - u_prev + vsq lap  (+ src[n] at the source point)

with the 8th-order central-difference weights c0..c4 = -205/72, 8/5, -1/5, 8/315, -1/560.

Mapping. PE (i, j) holds the z-column of (x = i, y = j) in a padded array (4 zeros each side,
so the z terms are plain offset DSDs), ``u_prev``, ``vsq``, and a halo buffer per direction.
A time step: every PE sends its column to the 4 PEs on each side and receives the 16 columns it
needs; meanwhile it computes the centre and the 8 z terms; when the 16 halos are in, it adds
them (``fmacs`` each), applies the update and starts the next step.

Localized broadcasts (one color per direction: east-going, west-going, south-going,
north-going). Along a line (a row for east/west, a column for south/north), the PE at position
``i`` (counted in the direction of travel) is the *root* of a broadcast to positions i+1..i+4
in phase ``i mod 5``: its router sends RAMP -> next, the next three routers take the color from
the previous PE to their CE *and* on (``fwd``), the fourth only to its CE (``last``). Roots five
apart use disjoint segments, so one color carries a fifth of the line's broadcasts at once.
A router therefore cycles through the roles send, last, fwd, fwd, fwd (3 distinct routes, 3
switch positions, ring mode). The root sends its column then one **control wavelet** carrying a
command slot per router of its segment (``always_pop``: each router consumes one): ADVANCE for
its own router (send -> last), for the next one (fwd -> send: it is the next root), and for the
fourth (last -> fwd); NOP for the two in the middle. The wavelet is CE-filtered (no CE receives
it) and travels behind the data, so every switch moves exactly when the data of its phase has
passed. The next root's column was waiting at its router (its CE sent it at once): it flows as
soon as the switch moves. At the ends of a line the roles are clipped (no route off the grid, no
phase without a root); every router of a line is in pop mode so that the slots line up. The
receiver knows the order of its halos (by the phase of their roots) and posts one receive per
direction and step.

Every send and receive is asynchronous (microthreads 0-3 send, 4-7 receive); the control
wavelet is sent by the data send's completion task on the same microthread, and a step ends
when the 4 receives, the 4 control sends and the local part are done. The local part runs one
op per task at the lowest priority, so that a root's control wavelet (which its successor is
waiting for) never waits behind a long task.

Cost model (cycles) per step, ``v(n) = op_startup + ceil(n / simd_f32)``, ``ts`` the task
start-up, for the busiest PE (s broadcasts rooted, r directions received, h halo columns: 4, 4,
16 inside a grid of 9 x 9 or more):

    local   = (s + r) + 9 v(nz) + 8 ts + s (2 ts + 1) + r ts    (issues; centre + 8 z terms, one
                                                                 task each; completion tasks)
    comm    = S nz        S = sum over the 5 phases of the most streams a PE receives at once,
                          were the four chains in lock-step (18 on 10 x 10, 20 on large grids)
    finish  = (h + 3) v(nz) + v(1)                               (16 fmacs, the update, source)
    T       = steps (local + finish)               if local >= comm
            = steps (comm + ts + finish)           otherwise

Exact while the local part hides the communication (grids up to about 5 x 5); when the
communication dominates, the lock-step estimate is within 7 % (the self-timed chains drift
into each other's gaps: the simulator is up to 7 % faster, or up to 3 % slower).

FLOPs per point per step: 25 multiplies and 24 adds (Laplacian), 4 for the update (53); bytes:
the f32 words of u, u_prev and vsq once, 12 nx ny nz.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ..program.control import ADVANCE, NOP, command_slots_payload
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

R = 4  # stencil radius
PHASES = R + 1  # roots R + 1 apart use disjoint segments
PAD = R  # zeros each side of the z-column
COEF = (-205.0 / 72.0, 8.0 / 5.0, -1.0 / 5.0, 8.0 / 315.0, -1.0 / 560.0)
C0X3 = float(np.float32(3.0 * COEF[0]))
CK = tuple(float(np.float32(c)) for c in COEF[1:])

# direction -> (color, ports (prev, next), axis, sign): "east" = the east-going broadcasts
DIRS = ("east", "west", "south", "north")
COLOR = {"east": 0, "west": 1, "south": 2, "north": 3}
PORTS = {
    "east": ("WEST", "EAST"),
    "west": ("EAST", "WEST"),
    "south": ("NORTH", "SOUTH"),
    "north": ("SOUTH", "NORTH"),
}
SEND_THREAD = {"east": 0, "west": 1, "south": 2, "north": 3}
RECV_THREAD = {"east": 4, "west": 5, "south": 6, "north": 7}
CTRL_TASK = {"east": 10, "west": 11, "south": 12, "north": 13}
CTRL_DONE = {"east": 14, "west": 15, "south": 16, "north": 17}
RECV_DONE = {"east": 18, "west": 19, "south": 20, "north": 21}
LOCAL_TASK = 22  # the lowest priority: the picker runs the lowest ready id first


# -- the localized broadcast along a line --------------------------------------------------------


def _has(i: int, n: int, d: int) -> bool:
    """Does the router at position ``i`` of a line of ``n`` carry traffic when the root is ``d``
    positions behind it (d = 0: it is the root)?"""
    if d == 0:
        return i < n - 1
    return i - d >= 0


def _route(i: int, n: int, d: int) -> tuple[str, tuple[str, ...]]:
    if d == 0:
        return ("RAMP", ("next",))
    return ("prev", ("RAMP",) + (("next",) if d < R and i < n - 1 else ()))


def line_plan(i: int, n: int) -> dict:
    """The router of position ``i`` of a line of ``n``: its switch positions (symbolic ports
    'prev'/'next'), the starting one, and the command it needs after each phase it carries
    (by the root's distance d)."""
    order = [0] + list(range(R, 0, -1))  # as the phase advances, d runs 0, 4, 3, 2, 1, 0, ...
    L = [d for d in order if _has(i, n, d)]
    positions: list = []
    pos_of: dict[int, int] = {}
    for d in L:
        r = _route(i, n, d)
        if not positions or positions[-1] != r:
            positions.append(r)
        pos_of[d] = len(positions) - 1
    if len(positions) > 1 and positions[-1] == positions[0]:  # the cycle closes on one route
        last = len(positions) - 1
        pos_of = {d: (0 if p == last else p) for d, p in pos_of.items()}
        positions.pop()
    cmd_after = {}
    for t, d in enumerate(L):
        nxt = L[(t + 1) % len(L)]
        cmd_after[d] = ADVANCE if pos_of[nxt] != pos_of[d] else NOP
    current = 0
    for k in range(PHASES):  # the first phase (from phase 0) in which it carries traffic
        d = (i - k) % PHASES
        if _has(i, n, d):
            current = pos_of[d]
            break
    return {"positions": positions, "current": current, "cmd_after": cmd_after}


def root_payload(i: int, n: int) -> int:
    """The control wavelet the root at position ``i`` sends after its column: one command slot
    per router of its segment, its own first."""
    cmds = [line_plan(j, n)["cmd_after"][j - i] for j in range(i, min(i + R, n - 1) + 1)]
    return command_slots_payload(cmds, ce_filter=True)


def halo_order(i: int) -> list[int]:
    """Distances d of the roots whose columns the PE at position ``i`` receives, in arrival
    order (by the roots' phase within a step)."""
    return sorted((d for d in range(1, R + 1) if i - d >= 0), key=lambda d: (i - d) % PHASES)


def _line_pos(direction: str, x: int, y: int, W: int, H: int) -> tuple[int, int]:
    return {
        "east": (x, W),
        "west": (W - 1 - x, W),
        "south": (y, H),
        "north": (H - 1 - y, H),
    }[direction]


def broadcast_routes(lay: Layout, W: int, H: int) -> None:
    """Switches of the four broadcast colors on every router (pop mode, ring)."""
    for direction in DIRS:
        prev, nxt = PORTS[direction]
        ports = {"prev": prev, "next": nxt, "RAMP": "RAMP"}
        for y in range(H):
            for x in range(W):
                i, n = _line_pos(direction, x, y, W, H)
                if n == 1:
                    continue
                plan = line_plan(i, n)
                positions = [(ports[rx], [ports[t] for t in tx]) for rx, tx in plan["positions"]]
                lay.set_switches(
                    x,
                    y,
                    COLOR[direction],
                    positions,
                    ring=True,
                    pop_mode="always_pop",
                    current=plan["current"],
                )


def pe_plan(x: int, y: int, W: int, H: int) -> dict:
    """What PE (x, y) sends and receives per direction: ``send`` (does it root a broadcast),
    its control payload, and the halo distances it receives in arrival order."""
    out = {}
    for direction in DIRS:
        i, n = _line_pos(direction, x, y, W, H)
        send = i < n - 1
        out[direction] = {
            "send": send,
            "payload": root_payload(i, n) if send else 0,
            "halos": tuple(halo_order(i)),
        }
    return out


# where the halo received on a direction's color comes from: the column of the PE d away
SOURCE_SIDE = {"east": "west", "west": "east", "south": "north", "north": "south"}


def wave_program(
    c, *, nz: int, steps: int, plan: dict, source: int | None, trace: bool = False
) -> None:
    """One PE. ``source``: the z index of the point source if it is on this PE. ``trace``:
    record (step start, last halo in, step end) cycles per step in ``trace`` (diagnostics)."""
    ua = c.array("u", "f32", nz + 2 * PAD, export=True, init=0.0)
    ub = c.array("u_prev", "f32", nz + 2 * PAD, export=True, init=0.0)
    vsq = c.array("vsq", "f32", nz, export=True)
    lap = c.array("lap", "f32", nz)
    state = c.array("state", "u32", 3, init=0)  # (step, pending, local op)
    ts = declare_timer(c)
    src = c.array("src", "f32", steps, export=True) if source is not None else None
    tr = c.array("trace", "u32", 3 * steps, export=True, init=0) if trace else None
    halos = {}
    for direction in DIRS:
        if plan[direction]["halos"]:
            halos[direction] = c.array(
                f"halo_{direction}", "f32", nz * len(plan[direction]["halos"])
            )
    sending = [d for d in DIRS if plan[d]["send"]]
    receiving = [d for d in DIRS if plan[d]["halos"]]
    n_pending = len(sending) + len(receiving)  # control sends and receives of a step
    arrays = (ua, ub)
    lapd = mem1d_dsd(lap)

    def cur(pe):  # (u, u_prev) of this step
        s = int(pe[state][0])
        return arrays[s % 2], arrays[(s + 1) % 2]

    def inner(sym, offset=0):
        return mem1d_dsd(sym, nz, offset=PAD + offset)

    def mark(pe, what):
        if tr is not None:
            pe[tr][3 * int(pe[state][0]) + what] = pe.timestamp()

    def begin_step(pe):
        u, _ = cur(pe)
        mark(pe, 0)
        pe[state][1] = n_pending + 1  # + the local part
        for d in sending:
            pe.fmovs(
                fabout_dsd(COLOR[d], nz),
                inner(u),
                async_=True,
                microthread=SEND_THREAD[d],
                activate=CTRL_TASK[d],
            )
        for d in receiving:
            pe.fmovs(
                mem1d_dsd(halos[d]),
                fabin_dsd(COLOR[d], nz * len(plan[d]["halos"])),
                async_=True,
                microthread=RECV_THREAD[d],
                activate=RECV_DONE[d],
            )
        pe[state][2] = 0
        local(pe)

    def local(pe):
        """One op of the local part (the centre, then the z terms), one op per task so that the
        control and completion tasks (higher priority) are never kept waiting long."""
        u, _ = cur(pe)
        k = int(pe[state][2])
        if k == 0:
            pe.fmuls(lapd, inner(u), C0X3)
        else:
            j = (k + 1) // 2
            pe.fmacs(lapd, lapd, inner(u, j if k % 2 else -j), CK[j - 1])
        pe[state][2] = k + 1
        if k + 1 < 2 * R + 1:
            pe.activate(LOCAL_TASK)
        else:
            one_done(pe)

    def finish_step(pe):
        u, up = cur(pe)
        mark(pe, 1)
        for k in range(1, R + 1):  # halo terms by distance, then direction (the reference order)
            for d in DIRS:
                if d in halos and k in plan[d]["halos"]:
                    slot = plan[d]["halos"].index(k)
                    pe.fmacs(lapd, lapd, mem1d_dsd(halos[d], nz, offset=slot * nz), CK[k - 1])
        pe.fmuls(lapd, lapd, mem1d_dsd(vsq))
        pe.fsubs(inner(up), lapd, inner(up))  # vsq lap - u_prev
        pe.fmacs(inner(up), inner(up), inner(u), 2.0)  # + 2 u: u_prev now holds u'
        mark(pe, 2)
        s = int(pe[state][0])
        if source is not None:
            at = mem1d_dsd(up, 1, offset=PAD + source)
            pe.fadds(at, at, mem1d_dsd(src, 1, offset=s))
        pe[state][0] = s + 1
        if s + 1 < steps:
            begin_step(pe)
        else:
            stamp(pe, ts, 1)
            pe.unblock_cmd_stream()

    def one_done(pe):
        left = int(pe[state][1]) - 1
        pe[state][1] = left
        if left == 0:
            finish_step(pe)

    for d in sending:
        payload = plan[d]["payload"]

        def send_control(pe, d=d, payload=payload):
            pe.mov32(
                fabout_dsd(COLOR[d], 1, "u32", control=True),
                payload,
                async_=True,
                microthread=SEND_THREAD[d],
                activate=CTRL_DONE[d],
            )

        send_control.__name__ = f"control_{d}"
        c.bind_local_task(send_control, CTRL_TASK[d])
        c.bind_local_task(_named(one_done, f"control_sent_{d}"), CTRL_DONE[d])
    for d in receiving:
        c.bind_local_task(_named(one_done, f"received_{d}"), RECV_DONE[d])
    c.bind_local_task(local, LOCAL_TASK)

    def start(pe):
        stamp(pe, ts, 0)
        begin_step(pe)

    c.export(start)


def _named(fn, name):
    def task(pe):
        fn(pe)

    task.__name__ = name
    return task


def build_layout(
    arch, W: int, H: int, nz: int, steps: int, src_at: tuple, trace: bool = False
) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"stencil_25pt_{W}x{H}x{nz}")
    sx, sy, sz = src_at
    for y in range(H):
        for x in range(W):
            lay.set_tile_code(
                x,
                y,
                wave_program,
                nz=nz,
                steps=steps,
                plan=pe_plan(x, y, W, H),
                source=sz if (x, y) == (sx, sy) else None,
                trace=trace,
            )
    broadcast_routes(lay, W, H)
    return lay


# -- the reference --------------------------------------------------------------------------------


def wave_reference(u0, u_prev0, vsq, src, src_at, steps):
    """The same scheme in numpy float32, in the PEs' operation order. Arrays (H, W, nz)."""
    H, W, nz = u0.shape
    P = R
    u = np.zeros((H + 2 * P, W + 2 * P, nz + 2 * P), np.float32)
    up = np.zeros_like(u)
    core = (slice(P, P + H), slice(P, P + W), slice(P, P + nz))
    u[core] = u0
    up[core] = u_prev0
    c0, ck = np.float32(C0X3), [np.float32(c) for c in CK]
    sx, sy, sz = src_at

    def sh(a, dy=0, dx=0, dz=0):
        return a[P + dy : P + dy + H, P + dx : P + dx + W, P + dz : P + dz + nz]

    for s in range(steps):
        lap = sh(u) * c0
        for k in range(1, R + 1):
            lap = lap + sh(u, dz=k) * ck[k - 1]
            lap = lap + sh(u, dz=-k) * ck[k - 1]
        for k in range(1, R + 1):  # the device's order: east-, west-, south-, north-going colors
            lap = lap + sh(u, dx=-k) * ck[k - 1]  # from the west (east-going color)
            lap = lap + sh(u, dx=k) * ck[k - 1]  # from the east
            lap = lap + sh(u, dy=-k) * ck[k - 1]  # from the north (south-going color)
            lap = lap + sh(u, dy=k) * ck[k - 1]  # from the south
        lap = lap * vsq
        new = lap - sh(up)
        new = new + sh(u) * np.float32(2.0)
        new[sy, sx, sz] = new[sy, sx, sz] + src[s]
        up[core] = new
        u, up = up, u
    return u[core].copy(), up[core].copy()


def ricker(steps: int, f: float = 0.08, delay: float = 12.0, amp: float = 1.0) -> np.ndarray:
    """A Ricker wavelet sampled at the time steps (frequency in cycles per step)."""
    t = np.arange(steps, dtype=np.float64) - delay
    a = (np.pi * f * t) ** 2
    return (amp * (1 - 2 * a) * np.exp(-a)).astype(np.float32)


def velocity_model(H: int, W: int, nz: int) -> np.ndarray:
    """vsq = (v dt / h)^2: two layers (a slower top), within the scheme's stability limit."""
    v = np.where(np.arange(nz) < nz // 2, 0.35, 0.45)
    return np.broadcast_to((v * v).astype(np.float32), (H, W, nz)).copy()


# -- the kernel ------------------------------------------------------------------------------------


def _line_counts(n: int) -> list[tuple[int, int, int]]:
    """Per position x of a line of n: (broadcasts it roots, directions it receives from, halo
    columns it receives) over the two directions of the line."""
    if n == 1:
        return [(0, 0, 0)]
    out = []
    for x in range(n):
        sends = int(x < n - 1) + int(x > 0)
        recvs = int(x > 0) + int(x < n - 1)
        halos = min(x, R) + min(n - 1 - x, R)
        out.append((sends, recvs, halos))
    return out


def busiest_pe(W: int, H: int) -> tuple[int, int, int]:
    """(sends, receive directions, halo columns) maximised over the PEs (each separately: the
    interior PEs reach all three maxima)."""
    cx, cy = _line_counts(W), _line_counts(H)
    return tuple(max(a[k] for a in cx) + max(b[k] for b in cy) for k in range(3))


def lockstep_streams(W: int, H: int) -> int:
    """Sum over the 5 phases of the most broadcast streams any PE receives at once, were the
    four chains in lock-step: in phase p the PE at line position i receives from the root d = (i
    - p) mod 5 behind it if 1 <= d <= i. O(W + H)."""

    def per_phase(n):
        if n == 1:
            return [0] * PHASES
        out = []
        for p in range(PHASES):
            best = 0
            for x in range(n):
                k = 0
                for i in (x, n - 1 - x):
                    d = (i - p) % PHASES
                    k += int(1 <= d <= i)
                best = max(best, k)
            out.append(best)
        return out

    return sum(per_phase(W)) + sum(per_phase(H))


@register
class Stencil25pt(Kernel):
    name = "stencil-25pt"
    summary = (
        "3D acoustic wave, 8th-order 25-point Laplacian, leapfrog; a z-column per PE, "
        "localized broadcasts with switches moved by control wavelets"
    )
    size_names = ("nz", "steps")
    default_grid = (10, 10)
    default_size = {"nz": 16, "steps": 10}
    check = (
        "allclose(u, numpy f32 same scheme and order, rtol=1e-5, atol=1e-5*max|u|); "
        "max error reported"
    )

    def validate(self, arch, grid, size):
        if arch.router.switch_positions < 3:
            raise KernelError(
                f"{self.name}: needs 3 switch positions, {arch.name} has "
                f"{arch.router.switch_positions}"
            )
        if arch.pe.microthreads < 8:
            raise KernelError(f"{self.name}: needs 8 microthreads")

    def pe_memory_bytes(self, grid, size):
        nz, steps = size["nz"], size["steps"]
        return 4 * (2 * (nz + 2 * PAD) + 2 * nz + 16 * nz + steps + 2) + 16

    def flops(self, grid, size):
        return 53.0 * grid[0] * grid[1] * size["nz"] * size["steps"]

    def bytes(self, grid, size):
        return 12.0 * grid[0] * grid[1] * size["nz"]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        nz, steps = size["nz"], size["steps"]
        t = arch.timing
        ts = t.task_startup_cycles
        a = ASYNC_ISSUE_CYCLES
        v = vector_cycles(arch, nz, "f32")
        sends, recvs, halos = busiest_pe(W, H)
        # the local part: the async issues, 9 ops in 9 tasks, and the completion tasks that
        # run in between (a control task issues one op; the others only count)
        local = (sends + recvs) * a + (2 * R + 1) * v + 2 * R * ts
        local += sends * (2 * ts + a) + recvs * ts
        # the halos: the four broadcast chains as if in lock-step phases, each phase as long as
        # the busiest ramp needs for the streams it receives then
        comm = lockstep_streams(W, H) * nz
        finish = (halos + 3) * v + vector_cycles(arch, 1, "f32")
        if comm > local:
            return steps * (comm + ts + finish)
        return steps * (local + finish)

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        nz, steps = size["nz"], size["steps"]
        src_at = (W // 2, H // 2, nz // 2)
        rng = np.random.default_rng(seed)
        vsq = velocity_model(H, W, nz)
        vsq *= rng.uniform(0.95, 1.05, vsq.shape).astype(np.float32)  # a rough medium
        src = ricker(steps, delay=min(12.0, steps / 3))
        runner = open_runtime(build_layout(arch, W, H, nz, steps, src_at).compile())
        h2d(runner, "vsq", vsq, 0, 0, W, H)
        h2d(runner, "src", src, src_at[0], src_at[1], 1, 1)
        runner.launch("start", nonblock=False)
        ua = d2h(runner, "u", 0, 0, W, H, nz + 2 * PAD)[:, :, PAD : PAD + nz]
        ub = d2h(runner, "u_prev", 0, 0, W, H, nz + 2 * PAD)[:, :, PAD : PAD + nz]
        timing = read_cycles(runner, W, H)
        runner.stop()
        got, got_prev = (ua, ub) if steps % 2 == 0 else (ub, ua)
        zero = np.zeros((H, W, nz), np.float32)
        ref, ref_prev = wave_reference(zero, zero, vsq, src, src_at, steps)
        scale = float(np.abs(ref).max()) or 1.0
        ok, err = allclose_check(got, ref, rtol=1e-5, atol=1e-5 * scale)
        ok2, err2 = allclose_check(got_prev, ref_prev, rtol=1e-5, atol=1e-5 * scale)
        extras = {
            "max_abs_u": scale,
            "max_err_u_prev": err2,
            "bit_exact_pe_order": bool(
                np.array_equal(got, ref) and np.array_equal(got_prev, ref_prev)
            ),
            "source": list(src_at),
        }
        return Outcome(ok and ok2, err, timing["cycles"], extras)
