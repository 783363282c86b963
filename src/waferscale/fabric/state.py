"""Structure-of-arrays state of a simulated fabric: routers, CE queues, tasks, ops, memory.

Dense per-(PE, color) arrays are allocated with ``np.zeros``, whose pages the operating system
maps lazily: a region of the wafer that never sees a wavelet never touches its pages, so idle
regions cost address space but no memory. PE memory is one arena sized to what the programs
allocate, not 48 KB x every PE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernel import (
    A_ACTIVATE,
    A_BLOCK,
    A_ISSUE,
    A_MEM,
    A_MEM_RUN,
    A_SPEND,
    A_STAMP16X3,
    A_STAMP32,
    A_UNBLOCK,
    ACTION_WORDS,
    N_HOST_FIELDS,
    N_PARAMS,
    P_AUTO_SLOTS,
    P_COLORS,
    P_HOP,
    P_ICAP,
    P_OCAP,
    P_OP_STARTUP,
    P_RAMP,
    P_RCAP,
    P_REPLAY,
    P_STREAM,
    P_STREAM_WINDOW,
    P_TASK_STARTUP,
    P_TS_BITS,
    P_TURN,
    P_WATCHDOG,
    P_WORK_MAX,
)
from ._layout_consts import (
    N_FIFO_FIELDS,
    N_FILT_FIELDS,
    N_OP_FIELDS,
    N_PROF,
    N_STATS,
    N_TRACE_CFG,
    N_TRACE_FIELDS,
    PORT_DX,
    PORT_DY,
)
from ._memops import N_MP, accumulates, joins_run
from ._stream import N_SR as N_STREAM_RESULT

TASK_IDS = 64  # task-id space per PE (WSE-2/3: control ids reach 63)


@dataclass(frozen=True)
class Capacities:
    """Slots per FIFO in the engine: the spec's buffer depth plus the pipeline stages of the
    stage feeding it (an item in flight toward a buffer occupies a slot there)."""

    router: int
    input_queue: int
    output_queue: int


def capacities(arch) -> Capacities:
    t = arch.timing
    hop = max(1, t.hop_latency_cycles)
    ramp = max(1, t.ramp_latency_cycles)
    return Capacities(
        router=arch.router.buffer_depth + max(hop + t.turn_penalty_cycles, ramp),
        input_queue=arch.pe.input_queue_depth + ramp,
        output_queue=arch.pe.output_queue_depth + 1,
    )


class FabricState:
    """All mutable state of one simulated rectangle of ``width`` x ``height`` PEs."""

    def __init__(self, arch, width: int, height: int, memory_words: int, work_max: int):
        self.arch = arch
        self.width = width
        self.height = height
        n = width * height
        self.pe_count = n
        nc = arch.router.colors
        self.colors = nc
        npos = arch.router.switch_positions
        caps = capacities(arch)
        self.caps = caps
        self.slots = arch.pe.microthreads + 1  # the last slot is the CE's main thread

        xs = np.arange(n, dtype=np.int64) % width
        ys = np.arange(n, dtype=np.int64) // width
        self.nbr = np.full((n, 4), -1, dtype=np.int64)
        for port in range(4):
            nx = xs + PORT_DX[port]
            ny = ys + PORT_DY[port]
            inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
            self.nbr[inside, port] = (ny * width + nx)[inside]

        z = np.zeros
        self._color_major: list[np.ndarray] = []
        # id(Python view) -> (that view, kept alive so its id is never reused; kernel's view)
        self._kernel_views: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        # What one router visit or one transfer touches sits together (see _records): a
        # color's route at a PE, a router buffer, a CE queue, the per-PE flags.
        routes = self._records(
            [("rx", np.uint8, (npos,)), ("tx", np.uint8, (npos,)), ("pos", np.uint8, ()),
             ("npos", np.uint8, ()), ("ring", np.uint8, ()), ("pop", np.uint8, ())],
            per_color=True,
        )  # fmt: skip
        self.route_rx = routes["rx"]
        self.route_tx = routes["tx"]
        self.route_pos = routes["pos"]
        self.sw_npos = routes["npos"]  # positions configured per color
        self.sw_npos[:] = 1
        self.sw_ring = routes["ring"]
        self.sw_pop = routes["pop"]
        flags = self._records(
            [(name, np.int64, ()) for name in (
                "r_mask", "rr", "torn", "swap", "filt_mask", "o_mask", "o_host", "i_mask",
                "i_nctrl", "t_active", "t_blocked", "t_local", "t_dmask", "ce_state", "ce_busy",
            )],
            per_color=False,
        )  # fmt: skip
        self.torn = flags["torn"]  # colors in teardown mode
        self.swap = flags["swap"]  # colors whose E/W hops flip the lowest color bit
        self.filt_mask = flags["filt_mask"]  # colors with a filter on the ramp to the CE
        self.filt = self._per_color('zeros', (N_FILT_FIELDS,), np.int64)

        queues = self._queue_records(caps)
        router = queues["r"]
        self.r_data = router["data"]
        self.r_ctrl = router["ctrl"]
        self.r_ready = router["ready"]
        self.r_from = router["from"]  # arrival port
        self.r_head = router["head"]
        self.r_count = router["count"]
        self.r_popt = router["wait"]  # low 31 bits of the cycle of the last pop, + 1
        self.r_mask = flags["r_mask"]
        self.rr = flags["rr"]

        iq = queues["i"]
        self.i_data = iq["data"]
        self.i_ctrl = iq["ctrl"]
        self.i_ready = iq["ready"]
        self.i_head = iq["head"]
        self.i_count = iq["count"]
        self.i_mask = flags["i_mask"]
        self.i_wait = iq["wait"]  # 1 + the op waiting on the queue; 0: none
        self.i_nctrl = flags["i_nctrl"]  # control wavelets waiting in a PE's input queues
        self.ctrl_data = z((n, TASK_IDS), np.int64)  # 16-bit data for control tasks

        oq = queues["o"]
        self.o_data = oq["data"]
        self.o_ctrl = oq["ctrl"]
        self.o_ready = oq["ready"]
        self.o_head = oq["head"]
        self.o_count = oq["count"]
        self.o_mask = flags["o_mask"]
        self.o_wait = oq["wait"]  # 1 + the op waiting on the queue; 0: none
        self.o_host = flags["o_host"]

        self.t_active = flags["t_active"]
        self.t_blocked = flags["t_blocked"]
        self.t_local = flags["t_local"]
        self.t_color_task = self._per_color('full', (), -1, np.int64)
        self.t_dmask = flags["t_dmask"]
        self.ce_state = flags["ce_state"]
        self.ce_busy = flags["ce_busy"]

        self.ops = self._allocate(np.dtype(np.int64), (1024, N_OP_FIELDS))
        self.slot_op = np.full((n, self.slots), -1, np.int64)
        self.op_free = np.arange(1023, -1, -1, dtype=np.int64)
        self.op_free_n = np.array([1024], np.int64)
        self.fifos = z((1, N_FIFO_FIELDS), np.int64)

        self.mem32 = z(max(1, memory_words), np.uint32)
        self.mem16 = self.mem32.view(np.uint16)

        # Active lists: capacity 2x (see _kernel._compact_tail).
        self.act_r = z(2 * n, np.int64)
        self.act_r_n = z(1, np.int64)
        self.in_r = z(n, np.uint8)
        self.act_o = z(2 * 1024, np.int64)
        self.act_o_n = z(1, np.int64)
        self.in_o = z(1024, np.uint8)
        self.act_c = z(2 * n, np.int64)
        self.act_c_n = z(1, np.int64)
        self.in_c = z(n, np.uint8)

        self.inj = z((0, N_HOST_FIELDS), np.int64)
        self.inj_data = z(1, np.uint32)
        self.drn = z((0, N_HOST_FIELDS), np.int64)
        self.drn_data = z(1, np.uint32)

        self.work = z((work_max, 5), np.int64)
        self.work_n = z(1, np.int64)
        # Wavelets each router sent out of each port (N, S, E, W, RAMP = down to its CE), and
        # (column 5) took in from its CE: what actually flowed, for the model and the pictures.
        self.link_out = z((n, 6), np.int64)
        self.prof = z((n, N_PROF), np.int64)
        # Event trace (off unless trace_cfg[TC_ON]); see waferscale.fabric.trace.
        self.trace = z((1, N_TRACE_FIELDS), np.int64)
        self.trace_n = z(2, np.int64)  # events held, events dropped
        self.trace_cfg = z(N_TRACE_CFG, np.int64)
        self.stats = z(N_STATS, np.int64)
        self.params = z(N_PARAMS, np.int64)
        t = arch.timing
        self.params[P_HOP] = max(1, t.hop_latency_cycles)
        self.params[P_RAMP] = max(1, t.ramp_latency_cycles)
        self.params[P_RCAP] = caps.router
        self.params[P_ICAP] = caps.input_queue
        self.params[P_OCAP] = caps.output_queue
        self.params[P_WATCHDOG] = t.watchdog_cycles
        self.params[P_COLORS] = nc
        self.params[P_WORK_MAX] = work_max
        self.params[P_TURN] = t.turn_penalty_cycles
        self.params[P_REPLAY] = 1
        self.params[P_TASK_STARTUP] = t.task_startup_cycles
        self.params[P_OP_STARTUP] = t.op_startup_cycles
        self.params[P_AUTO_SLOTS] = arch.pe.microthreads
        self.params[P_TS_BITS] = t.cycle_counter_bits
        self.params[P_STREAM] = 0  # Engine.stream_fast_path sets it per run
        self.params[P_STREAM_WINDOW] = 1 << 20  # a window's cycles at most
        # the stream fast path's (buffer kind, color, PE) -> buffer map; zero between windows,
        # so its pages stay untouched where no stream runs
        self.stream_map = z((3, nc, n), np.int32)
        self.stream_res = z(N_STREAM_RESULT, np.int64)
        self.clock = z(3, np.int64)
        # Static tasks replayed by the cycle loop (see add_script); the engine sets the
        # program of each PE and where its memory and FIFOs start (set_programs).
        self.code_of = z(n, np.int64)
        self.mem_base = z(n, np.int64)
        self.fifo_first = z(n, np.int64)
        self.prog_script = np.full((1, TASK_IDS), -1, np.int64)
        self.script = z(1, np.int64)
        self.tpl = z((1, N_OP_FIELDS), np.int64)
        self.mprm = z((1, N_MP), np.int64)

    def _per_color(self, kind: str, extra: tuple, *args) -> np.ndarray:
        """Allocate a per-(PE, color) array stored color-major - each color a plane, so colors a
        program never uses are never touched and neighbours on a plane share cache lines - and
        return its (PE, color, ...) view for Python."""
        shape = (self.colors, self.pe_count, *extra)
        storage = getattr(np, kind)(shape, *args)
        self._color_major.append(storage)
        order = (1, 0, *range(2, 2 + len(extra)))
        return storage.transpose(order)

    def _allocate(self, dt: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """Zeroed records of ``dt`` in a 64-byte-aligned buffer (its pages stay unmapped until
        touched)."""
        nbytes = int(np.prod(shape)) * dt.itemsize
        raw = np.zeros(nbytes + 64, np.uint8)
        off = (-raw.ctypes.data) % 64
        return raw[off : off + nbytes].view(dt).reshape(shape)

    def _python_view(self, kernel_view: np.ndarray) -> np.ndarray:
        """The (PE, color, ...) view of a color-major field, remembered for ``kernel_args``."""
        view = kernel_view.transpose((1, 0, *range(2, kernel_view.ndim)))
        self._kernel_views[id(view)] = (view, kernel_view)
        return view

    def _records(self, fields: list, *, per_color: bool) -> dict[str, np.ndarray]:
        """Records of ``fields`` - one per (color, PE), color-major, or one per PE - and a
        view per field: (PE, color, ...) for Python, color-major for the kernel
        (``kernel_args``). Fields used together share a cache line: on large grids the cycle
        loop is bound by cache misses, one per array touched when each lived apart."""
        dt = np.dtype(fields, align=True)
        shape = (self.colors, self.pe_count) if per_color else (self.pe_count,)
        storage = self._allocate(dt, shape)
        return {
            name: self._python_view(storage[name]) if per_color else storage[name]
            for name in dt.names
        }

    def _queue_records(self, caps: Capacities) -> dict[str, dict[str, np.ndarray]]:
        """The three FIFOs of each (color, PE) in one record, in the order wavelets move
        through them: the CE's output queue ("o"), the router buffer ("r"), the CE's input
        queue ("i"). Each: head, count, waiting op, then per slot its ready time, payload,
        control bit (and, in the router, arrival port) side by side."""

        def fifo(cap: int, with_from: bool) -> np.dtype:
            slot = [("ready", np.int64), ("data", np.uint32), ("ctrl", np.uint8)]
            if with_from:
                slot.append(("from", np.uint8))
            return np.dtype(
                [("head", np.int16), ("count", np.int16), ("wait", np.int32),
                 ("slots", np.dtype(slot, align=True), (cap,))],
                align=True,
            )  # fmt: skip

        dt = np.dtype(
            [("o", fifo(caps.output_queue, False)), ("r", fifo(caps.router, True)),
             ("i", fifo(caps.input_queue, False))],
            align=True,
        )  # fmt: skip
        storage = self._allocate(dt, (self.colors, self.pe_count))
        views: dict[str, dict[str, np.ndarray]] = {}
        for q in dt.names:
            part = storage[q]
            fields = {f: self._python_view(part[f]) for f in ("head", "count", "wait")}
            slot_names = part.dtype["slots"].base.names
            fields.update({f: self._python_view(part["slots"][f]) for f in slot_names})
            views[q] = fields
        return views

    # -- helpers used by the driver ---------------------------------------------------------

    def __setattr__(self, name: str, value) -> None:
        # Replacing an array (ops pool growth, FIFOs, host streams, trace buffer) invalidates
        # the cached kernel argument tuple.
        if isinstance(value, np.ndarray):
            object.__setattr__(self, "_args", None)
            object.__setattr__(self, "_issue_args", None)
        object.__setattr__(self, name, value)

    def kernel_args(self) -> tuple:
        """The arrays in the kernel's argument order (color-major storage where it has one)."""
        args = self.__dict__.get("_args")
        if args is None:
            args = tuple(self._kernel_view(a) for a in self._kernel_arrays())
            object.__setattr__(self, "_args", args)
        return args

    def issue_arrays(self) -> tuple:
        """The op pool's arrays in ``_issue.issue_op``'s argument order."""
        args = self.__dict__.get("_issue_args")
        if args is None:
            args = (self.ops, self.slot_op, self.op_free, self.op_free_n, self.act_o,
                    self.act_o_n, self.in_o)  # fmt: skip
            object.__setattr__(self, "_issue_args", args)
        return args

    def _kernel_view(self, a: np.ndarray) -> np.ndarray:
        """The color-major array the kernel indexes for the Python view ``a``."""
        packed = self._kernel_views.get(id(a))
        if packed is not None and packed[0] is a:
            return packed[1]
        if a.base is not None and a.base.dtype == a.dtype:
            return a.base  # a _per_color array
        return a

    def _kernel_arrays(self) -> tuple:
        return (
            self.nbr,
            self.route_rx,
            self.route_tx,
            self.route_pos,
            self.sw_npos,
            self.sw_ring,
            self.sw_pop,
            self.torn,
            self.swap,
            self.filt_mask,
            self.filt,
            self.r_data,
            self.r_ctrl,
            self.r_ready,
            self.r_from,
            self.r_head,
            self.r_count,
            self.r_popt,
            self.r_mask,
            self.rr,
            self.i_data,
            self.i_ctrl,
            self.i_ready,
            self.i_head,
            self.i_count,
            self.i_mask,
            self.i_wait,
            self.i_nctrl,
            self.ctrl_data,
            self.o_data,
            self.o_ctrl,
            self.o_ready,
            self.o_head,
            self.o_count,
            self.o_mask,
            self.o_wait,
            self.o_host,
            self.t_active,
            self.t_blocked,
            self.t_local,
            self.t_color_task,
            self.t_dmask,
            self.ce_state,
            self.ce_busy,
            self.ops,
            self.slot_op,
            self.op_free,
            self.op_free_n,
            self.fifos,
            self.mem32,
            self.mem16,
            self.act_r,
            self.act_r_n,
            self.in_r,
            self.act_o,
            self.act_o_n,
            self.in_o,
            self.act_c,
            self.act_c_n,
            self.in_c,
            self.inj,
            self.inj_data,
            self.drn,
            self.drn_data,
            self.work,
            self.work_n,
            self.link_out,
            self.prof,
            self.trace,
            self.trace_n,
            self.trace_cfg,
            self.stats,
            self.code_of,
            self.prog_script,
            self.script,
            self.tpl,
            self.mprm,
            self.mem_base,
            self.fifo_first,
            self.stream_map,
            self.stream_res,
            self.params,
            self.clock,
        )

    def set_programs(
        self, code_of: np.ndarray, n_codes: int, mem_base: np.ndarray, fifo_first: np.ndarray
    ) -> None:
        """Which program each PE runs (an index < ``n_codes``) and where its memory (byte
        address) and its FIFOs (row) start: what a replayed static task needs."""
        self.code_of = code_of
        self.mem_base = mem_base
        self.fifo_first = fifo_first
        self.prog_script = np.full((max(1, n_codes), TASK_IDS), -1, np.int64)

    def add_script(self, code_index: int, task_id: int, actions: list[tuple]) -> int:
        """Let the cycle loop replay a static task: ``actions`` as recorded by the PE
        (``("mem", prm, cycles)``, ``("issue", template, slot)``,
        ``("activate" | "block" | "unblock", task id)``, ``("spend", cycles)``,
        ``("stamp32" | "stamp16x3", byte offset in the PE's memory)``). Consecutive memory
        ops that accumulate into one destination are marked as a run (``A_MEM_RUN``, with
        the ops' cycles), which the replay does in one call, charging the cycles at once.
        Returns the number of streaming ops it issues."""
        simple = {"activate": A_ACTIVATE, "block": A_BLOCK, "unblock": A_UNBLOCK,
                  "spend": A_SPEND, "stamp32": A_STAMP32, "stamp16x3": A_STAMP16X3}  # fmt: skip
        words = [0, sum(1 for a in actions if a[0] == "issue")]
        tpls, prms = [], []
        run_left = 0  # memory ops of the current run still to record
        for k, act in enumerate(actions):
            kind = act[0]
            if kind == "mem" and run_left == 0 and accumulates(act[1]):
                count = 1
                while (
                    k + count < len(actions)
                    and actions[k + count][0] == "mem"
                    and joins_run(act[1], actions[k + count][1])
                ):
                    count += 1
                if count > 1:
                    cycles = sum(int(actions[k + j][2]) for j in range(count))
                    words += [A_MEM_RUN, self.mprm.shape[0] + len(prms), cycles, count]
                    run_left = count
            if kind == "mem":
                words += [A_MEM, self.mprm.shape[0] + len(prms), int(act[2]), 0]
                prms.append(act[1])
                run_left = max(0, run_left - 1)
            elif kind == "issue":
                words += [A_ISSUE, self.tpl.shape[0] + len(tpls), int(act[2]), 0]
                tpls.append(act[1])
            else:
                words += [simple[kind], int(act[1]), 0, 0]
        words[0] = (len(words) - 2) // ACTION_WORDS
        if tpls:
            self.tpl = np.concatenate([self.tpl, np.array(tpls, np.int64)])
        if prms:
            self.mprm = np.concatenate([self.mprm, np.array(prms, np.int64)])
        offset = self.script.shape[0]
        self.script = np.concatenate([self.script, np.array(words, np.int64)])
        self.prog_script[code_index, task_id] = offset  # in place: kernel arguments hold it
        return words[1]

    def alloc_op(self, *, clear: bool = True) -> int:
        """Take a free row of the op pool (zeroed unless the caller writes all of it)."""
        if self.op_free_n[0] == 0:
            self._grow_ops()
        self.op_free_n[0] -= 1
        o = int(self.op_free[self.op_free_n[0]])
        if clear:
            self.ops[o, :] = 0
        return o

    def _grow_ops(self) -> None:
        old = self.ops.shape[0]
        new = old * 2
        ops = self._allocate(np.dtype(np.int64), (new, N_OP_FIELDS))
        ops[:old] = self.ops
        self.ops = ops
        free = np.zeros(new, np.int64)
        free[: new - old] = np.arange(new - 1, old - 1, -1)
        self.op_free = free
        self.op_free_n[0] = new - old
        act = np.zeros(2 * new, np.int64)
        act[: len(self.act_o)] = self.act_o
        self.act_o = act
        in_o = np.zeros(new, np.uint8)
        in_o[:old] = self.in_o
        self.in_o = in_o

    def activate_op(self, o: int) -> None:
        if not self.in_o[o]:
            self.in_o[o] = 1
            self.act_o[self.act_o_n[0]] = o
            self.act_o_n[0] += 1

    def wake_ce(self, p: int) -> None:
        if not self.in_c[p]:
            self.in_c[p] = 1
            self.act_c[self.act_c_n[0]] = p
            self.act_c_n[0] += 1

    def wake_ces(self, pes: np.ndarray, *, distinct: bool = False) -> None:
        """Vectorised :meth:`wake_ce` for many PEs (``distinct``: no PE twice in ``pes``,
        which spares a sort)."""
        if len(pes) == 1:
            self.wake_ce(int(pes[0]))
            return
        new = pes[self.in_c[pes] == 0]
        if not distinct:
            new = np.unique(new)
        self.in_c[new] = 1
        n0 = int(self.act_c_n[0])
        self.act_c[n0 : n0 + len(new)] = new
        self.act_c_n[0] = n0 + len(new)

    def wake_router(self, p: int) -> None:
        if not self.in_r[p]:
            self.in_r[p] = 1
            self.act_r[self.act_r_n[0]] = p
            self.act_r_n[0] += 1

    def add_fifos(self, rows: np.ndarray) -> int:
        """Append FIFO rows; returns the index of the first."""
        first = self.fifos.shape[0]
        self.fifos = np.concatenate([self.fifos, rows.astype(np.int64)])
        return first

    def now(self) -> int:
        return int(self.clock[0])
