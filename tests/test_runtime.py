"""The host runtime (waferscale.runtime): an SdkRuntime-compatible API over the engine."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale.fabric.stall import StallError
from waferscale.program.dsd import fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.program.layout import Layout
from waferscale.runtime import (
    LaunchArgumentError,
    MemcpyArrayError,
    RuntimeUsageError,
    SdkRuntime,
    SymbolNotExportedError,
    UnknownNameError,
)
from waferscale.runtime.sdkruntimepybind import MemcpyDataType, MemcpyOrder
from waferscale.runtime.sdkruntimepybind import SdkRuntime as VendorNamedRuntime

F32 = MemcpyDataType.MEMCPY_32BIT
F16 = MemcpyDataType.MEMCPY_16BIT
ROW = MemcpyOrder.ROW_MAJOR
COL = MemcpyOrder.COL_MAJOR

# -- device programs ------------------------------------------------------------------------------


def gemv_program(c, *, M, N):
    """The SDK's GEMV tutorial on one PE: y = A x + b (A is M x N, row-major)."""
    A = c.array("A", "f32", M * N, export=True)
    x = c.array("x", "f32", N, export=True)
    b = c.array("b", "f32", M, export=True)
    y = c.array("y", "f32", M, export=True)

    def compute(pe):
        pe.fmovs(mem1d_dsd(y), mem1d_dsd(b))
        for j in range(N):
            pe.fmacs(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(A, M, offset=j, stride=N), pe[x][j])
        pe.unblock_cmd_stream()

    c.export(compute)


def gemv_block_program(c, *, Mb, Nb, role, color):
    """GEMV over a 2x2 region: PE (i, j) holds block (j, i) of A, block i of x and block j of
    b. The west PE of each row sends its partial y east; the east PE adds it to its own."""
    A = c.array("A", "f32", Mb * Nb, export=True)
    x = c.array("x", "f32", Nb, export=True)
    b = c.array("b", "f32", Mb, export=True)
    y = c.array("y", "f32", Mb, export=True)

    def compute(pe):
        if role == "west":
            pe.fmovs(mem1d_dsd(y), mem1d_dsd(b))
        else:
            pe.fmovs(mem1d_dsd(y), 0.0)
        for j in range(Nb):
            pe.fmacs(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(A, Mb, offset=j, stride=Nb), pe[x][j])
        if role == "west":
            pe.fmovs(fabout_dsd(color, Mb), mem1d_dsd(y))
        else:
            pe.fadds(mem1d_dsd(y), fabin_dsd(color, Mb), mem1d_dsd(y))
        pe.unblock_cmd_stream()

    c.export(compute)


def memory_program(c, *, L):
    """One exported array of each element type, plus a private one and helper functions."""
    for name in ("f32", "i32", "u32", "f16", "i16", "u16"):
        c.array(f"a_{name}", name, L, export=True)
    c.array("hidden", "f32", L, init=7.0)

    def nop(pe):
        pe.unblock_cmd_stream()

    c.export(nop)


def args_program(c, *, n):
    A = c.array("A", "f32", n, export=True)
    out = c.array("out", "i32", 4, export=True)

    def scale(pe, alpha: float, count: int):
        pe.fmuls(mem1d_dsd(A, count), mem1d_dsd(A, count), alpha)
        pe[out][0] = count
        pe.unblock_cmd_stream()

    def mark(pe, a, b, flag: bool = False):
        pe[out][1] = a
        pe[out][2] = int(b * 10)
        pe[out][3] = int(flag)
        pe.unblock_cmd_stream()

    def double(pe):
        pe.fadds(mem1d_dsd(A), mem1d_dsd(A), mem1d_dsd(A))
        pe.spend(50)
        pe.unblock_cmd_stream()

    def forgetful(pe):
        pe.fadds(mem1d_dsd(A), mem1d_dsd(A), mem1d_dsd(A))  # never unblocks the cmd stream

    for fn in (scale, mark, double, forgetful):
        c.export(fn)


def accumulate_program(c, *, n, color):
    """A data task on ``color``: append every wavelet to buf and add it into acc."""
    buf = c.array("buf", "f32", n, export=True)
    cnt = c.array("cnt", "i32", 1, export=True)
    acc = c.array("acc", "f32", 1, export=True)

    def recv(pe, v):
        i = int(pe[cnt][0])
        pe[buf][i] = v
        pe[cnt][0] = i + 1
        pe[acc][0] = np.float32(pe[acc][0]) + np.float32(v)

    c.bind_data_task(recv, color, dtype="f32")

    def sync(pe):
        pe.unblock_cmd_stream()

    c.export(sync)


def stream_op_program(c, *, n, color):
    """A launched function that unblocks the command stream, then adds n wavelets of color
    into y with a fabric-input DSD."""
    y = c.array("y", "f32", n, export=True)

    def start(pe):
        pe.unblock_cmd_stream()
        pe.fadds(mem1d_dsd(y), mem1d_dsd(y), fabin_dsd(color, n))

    def sync(pe):
        pe.unblock_cmd_stream()

    c.export(start)
    c.export(sync)


def sender_program(c, *, n, color, async_=False):
    """Send array A on color (the d2h streaming source)."""
    A = c.array("A", "u32", n, export=True)

    def send(pe):
        pe.unblock_cmd_stream()
        pe.mov32(fabout_dsd(color, n, "u32"), mem1d_dsd(A), async_=async_)

    c.export(send)


# -- builders (cached: each layout compiles once per test session) --------------------------------


def runtime_of(lay: Layout, **kw) -> SdkRuntime:
    rt = SdkRuntime(lay.compile(), **kw)
    rt.load()
    rt.run()
    return rt


def single(program, **params) -> SdkRuntime:
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, program, **params)
    return runtime_of(lay)


def rect(program, w, h, **params) -> SdkRuntime:
    lay = Layout(w, h)
    lay.set_region_code(0, 0, w, h, program, **params)
    return runtime_of(lay)


@functools.cache
def memory_runtime():
    """A 5x4 rectangle of memory_program and a numpy model of its exported arrays."""
    rt = rect(memory_program, 5, 4, L=5)
    model = {
        n: np.zeros((4, 5, 5), np.uint32 if n[-2:] == "32" else np.uint16)
        for n in ("f32", "i32", "u32", "f16", "i16", "u16")
    }
    return rt, model


# -- GEMV ---------------------------------------------------------------------------------------


def _gemv_ref(A, x, b):
    y = b.copy()
    for j in range(A.shape[1]):
        y = (y + A[:, j] * x[j]).astype(np.float32)
    return y


def test_gemv_one_pe_matches_numpy():
    M, N = 6, 4
    rng = np.random.default_rng(1)
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    runner = single(gemv_program, M=M, N=N)
    sym_A, sym_x, sym_b, sym_y = (runner.get_id(n) for n in ("A", "x", "b", "y"))
    runner.memcpy_h2d(
        sym_A,
        A.ravel(),
        0,
        0,
        1,
        1,
        M * N,
        streaming=False,
        data_type=F32,
        order=ROW,
        nonblock=False,
    )
    runner.memcpy_h2d(
        sym_x, x, 0, 0, 1, 1, N, streaming=False, data_type=F32, order=ROW, nonblock=False
    )
    runner.memcpy_h2d(
        sym_b, b, 0, 0, 1, 1, M, streaming=False, data_type=F32, order=ROW, nonblock=False
    )
    h = runner.launch("compute", nonblock=False)
    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(
        y, sym_y, 0, 0, 1, 1, M, streaming=False, data_type=F32, order=ROW, nonblock=False
    )
    runner.stop()
    np.testing.assert_array_equal(y, _gemv_ref(A, x, b))
    assert np.allclose(y, A @ x + b, atol=1e-5)
    assert h.done and h.device_cycles > 0 and h.start_cycle >= h.issued_cycle


def test_gemv_2x2_region_with_fabric_reduction():
    Mb, Nb, color = 3, 4, 2
    lay = Layout(2, 2)
    for yy in range(2):
        lay.set_tile_code(0, yy, gemv_block_program, Mb=Mb, Nb=Nb, role="west", color=color)
        lay.set_tile_code(1, yy, gemv_block_program, Mb=Mb, Nb=Nb, role="east", color=color)
    lay.set_region_route(0, 0, 1, 2, color, rx="RAMP", tx="EAST")
    lay.set_region_route(1, 0, 1, 2, color, rx="WEST", tx="RAMP")
    runner = runtime_of(lay)
    rng = np.random.default_rng(2)
    A = rng.standard_normal((2 * Mb, 2 * Nb)).astype(np.float32)
    x = rng.standard_normal(2 * Nb).astype(np.float32)
    b = rng.standard_normal(2 * Mb).astype(np.float32)
    # Tensor (h, w, elem): PE (i, j) gets block (j, i) of A, row-major inside the block.
    A_t = A.reshape(2, Mb, 2, Nb).transpose(0, 2, 1, 3).reshape(2, 2, Mb * Nb)
    runner.memcpy_h2d(runner.get_id("A"), A_t.ravel(), 0, 0, 2, 2, Mb * Nb)
    runner.memcpy_h2d_colbcast(runner.get_id("x"), x, 0, 0, 2, 2, Nb)  # column i: x block i
    runner.memcpy_h2d_rowbcast(runner.get_id("b"), b, 0, 0, 2, 2, Mb)  # row j: b block j
    runner.launch("compute")
    y = np.zeros(2 * Mb, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), 1, 0, 1, 2, Mb)  # sub-region: the east column
    runner.stop()
    west = [
        _gemv_ref(A[j * Mb : (j + 1) * Mb, :Nb], x[:Nb], b[j * Mb : (j + 1) * Mb]) for j in range(2)
    ]
    east = [
        _gemv_ref(A[j * Mb : (j + 1) * Mb, Nb:], x[Nb:], np.zeros(Mb, np.float32)) for j in range(2)
    ]
    want = np.concatenate([w + e for w, e in zip(west, east, strict=True)])
    np.testing.assert_array_equal(y, want)
    assert np.allclose(y, A @ x + b, atol=1e-5)


# -- copy mode ------------------------------------------------------------------------------------


def test_copy_round_trip_row_and_col_major_32bit():
    rt, _ = rect(memory_program, 3, 2, L=4), None
    data = np.arange(3 * 2 * 4, dtype=np.float32) * 1.5
    rt.memcpy_h2d(rt.get_id("a_f32"), data, 0, 0, 3, 2, 4, order=ROW)
    tensor = data.reshape(2, 3, 4)
    assert rt.read_symbol(2, 1, "a_f32").tolist() == tensor[1, 2].tolist()
    out = np.zeros(24, np.float32)
    rt.memcpy_d2h(out, rt.get_id("a_f32"), 0, 0, 3, 2, 4, order=COL)
    np.testing.assert_array_equal(out, tensor.ravel(order="F"))
    rt.memcpy_h2d(rt.get_id("a_f32"), tensor.ravel(order="F") + 1, 0, 0, 3, 2, 4, order=COL)
    assert rt.read_symbol(1, 0, "a_f32").tolist() == (tensor[0, 1] + 1).tolist()


def test_copy_16bit_accepts_words_and_half_arrays():
    rt = rect(memory_program, 2, 1, L=3)
    vals = np.array([1.5, -2.0, 0.25, 3.0, 65504.0, -0.0], np.float16)
    words = vals.view(np.uint16).astype(np.uint32) | np.uint32(0xABCD0000)  # high half ignored
    rt.memcpy_h2d(rt.get_id("a_f16"), words, 0, 0, 2, 1, 3, data_type=F16)
    assert rt.read_symbol(1, 0, "a_f16").tolist() == vals[3:].tolist()
    out = np.zeros(6, np.uint32)
    rt.memcpy_d2h(out, rt.get_id("a_f16"), 0, 0, 2, 1, 3, data_type=F16)
    np.testing.assert_array_equal(out, vals.view(np.uint16).astype(np.uint32))
    ints = np.array([-3, 7, -32768, 32767, 0, -1], np.int16)
    rt.memcpy_h2d(rt.get_id("a_i16"), ints, 0, 0, 2, 1, 3, data_type=F16)
    out32 = np.zeros(6, np.int32)
    rt.memcpy_d2h(out32, rt.get_id("a_i16"), 0, 0, 2, 1, 3, data_type=F16)
    np.testing.assert_array_equal(out32, ints.astype(np.int32))  # sign-extended
    out16 = np.zeros(6, np.int16)
    rt.memcpy_d2h(out16, rt.get_id("a_i16"), 0, 0, 2, 1, 3, data_type=F16)
    np.testing.assert_array_equal(out16, ints)


def test_copy_fewer_elements_than_the_symbol_keeps_the_rest():
    rt = single(memory_program, L=5)
    rt.memcpy_h2d(rt.get_id("a_i32"), np.arange(5, dtype=np.int32), 0, 0, 1, 1, 5)
    rt.memcpy_h2d(rt.get_id("a_i32"), np.array([9, 9], np.int32), 0, 0, 1, 1, 2)
    assert rt.read_symbol(0, 0, "a_i32").tolist() == [9, 9, 2, 3, 4]
    assert rt.read_symbol(0, 0, "hidden").tolist() == [7.0] * 5  # any symbol, exported or not
    assert set(rt.dump_symbols(0, 0)) >= {"a_f32", "hidden"}


@pytest.mark.parametrize("order", [ROW, COL])
def test_row_and_column_broadcast(order):
    rt = rect(memory_program, 4, 3, L=2)
    px, py, w, h, e = 1, 1, 3, 2, 2
    col = np.arange(h * e, dtype=np.int32).reshape(h, 1, e) + 10
    rt.memcpy_h2d_rowbcast(
        rt.get_id("a_i32"), col.ravel(order="F" if order else "C"), px, py, w, h, e, order=order
    )
    row = np.arange(w * e, dtype=np.uint32).reshape(1, w, e) + 100
    rt.memcpy_h2d_colbcast(
        rt.get_id("a_u32"), row.ravel(order="F" if order else "C"), px, py, w, h, e, order=order
    )
    got_i = np.zeros((3, 4, 2), np.int32)
    got_u = np.zeros((3, 4, 2), np.uint32)
    rt.memcpy_d2h(got_i.reshape(-1), rt.get_id("a_i32"), 0, 0, 4, 3, 2)
    rt.memcpy_d2h(got_u.reshape(-1), rt.get_id("a_u32"), 0, 0, 4, 3, 2)
    want_i = np.zeros((3, 4, 2), np.int32)
    want_i[py : py + h, px : px + w] = col
    want_u = np.zeros((3, 4, 2), np.uint32)
    want_u[py : py + h, px : px + w] = row
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_u, want_u)


_HOST_DTYPES = {
    ("f32", 32): [np.float32, np.uint32, np.int32],
    ("i32", 32): [np.int32, np.uint32, np.float32],
    ("u32", 32): [np.uint32, np.int32],
    ("f16", 16): [np.uint32, np.int32, np.float16],
    ("i16", 16): [np.int32, np.uint32, np.int16],
    ("u16", 16): [np.uint32, np.uint16],
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    kind=st.sampled_from(sorted(_HOST_DTYPES)),
    order=st.sampled_from([ROW, COL]),
    seed=st.integers(0, 2**32 - 1),
)
def test_copy_round_trip_property(data, kind, order, seed):
    rt, model = memory_runtime()
    name, bits = kind
    px = data.draw(st.integers(0, 4))
    py = data.draw(st.integers(0, 3))
    w = data.draw(st.integers(1, 5 - px))
    h = data.draw(st.integers(1, 4 - py))
    e = data.draw(st.integers(1, 5))
    host = np.dtype(data.draw(st.sampled_from(_HOST_DTYPES[kind])))
    dt = F32 if bits == 32 else F16
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 2**32, size=h * w * e, dtype=np.uint64).astype(np.uint32)
    arr = raw.view(host) if host.itemsize == 4 else raw.astype(np.uint16).view(host)
    rt.memcpy_h2d(rt.get_id(f"a_{name}"), arr, px, py, w, h, e, data_type=dt, order=order)
    tensor = raw.reshape((h, w, e), order="F" if order == COL else "C")
    m = model[name]
    m[py : py + h, px : px + w, :e] = tensor if bits == 32 else (tensor & 0xFFFF).astype(np.uint16)
    # read back a random region of the whole symbol
    qx = data.draw(st.integers(0, 4))
    qy = data.draw(st.integers(0, 3))
    qw = data.draw(st.integers(1, 5 - qx))
    qh = data.draw(st.integers(1, 4 - qy))
    qe = data.draw(st.integers(1, 5))
    qorder = data.draw(st.sampled_from([ROW, COL]))
    out = np.zeros(qw * qh * qe, host)
    rt.memcpy_d2h(out, rt.get_id(f"a_{name}"), qx, qy, qw, qh, qe, data_type=dt, order=qorder)
    want = m[qy : qy + qh, qx : qx + qw, :qe].ravel(order="F" if qorder == COL else "C")
    if bits == 32:
        np.testing.assert_array_equal(out.view(np.uint32), want)
    elif host.itemsize == 2:
        np.testing.assert_array_equal(out.view(np.uint16), want)
    elif host == np.int32:
        np.testing.assert_array_equal(out, want.view(np.int16).astype(np.int32))
    else:
        np.testing.assert_array_equal(out, want.astype(np.uint32))


# -- launch -------------------------------------------------------------------------------------


def test_launch_with_scalar_arguments_and_call():
    rt = single(args_program, n=6)
    A = np.arange(6, dtype=np.float32)
    rt.memcpy_h2d(rt.get_id("A"), A, 0, 0, 1, 1, 6)
    rt.launch("scale", 0.1, 4)
    np.testing.assert_array_equal(
        rt.read_symbol(0, 0, "A"), np.concatenate([A[:4] * np.float32(0.1), A[4:]])
    )
    assert rt.read_symbol(0, 0, "out")[0] == 4
    rt.launch("mark", 5, 2.5, True)
    assert rt.read_symbol(0, 0, "out")[1:].tolist() == [5, 25, 1]
    rt.call("mark", [6, 1.5])  # the vendor's list form; the default applies
    assert rt.read_symbol(0, 0, "out")[1:].tolist() == [6, 15, 0]
    words = np.array([np.float32(2.0).view(np.uint32), 3], np.uint32)
    rt.call("scale", words)  # packed uint32 words: the float parameter gets the f32 bits
    assert rt.read_symbol(0, 0, "out")[0] == 3
    assert rt.read_symbol(0, 0, "A")[0:3].tolist() == (A[:3] * np.float32(0.1) * 2).tolist()
    rt.launch(rt.get_id("double"))  # a function id works too
    rt.stop()


def test_nonblocking_commands_run_in_issue_order():
    rt = single(args_program, n=4)
    A = np.array([1, 2, 3, 4], np.float32)
    out = np.zeros(4, np.float32)
    h1 = rt.memcpy_h2d(rt.get_id("A"), A, 0, 0, 1, 1, 4, nonblock=True)
    h2 = rt.launch("double", nonblock=True)
    h3 = rt.launch("double", nonblock=True)
    h4 = rt.memcpy_d2h(out, rt.get_id("A"), 0, 0, 1, 1, 4, nonblock=True)
    assert h1.done  # copy mode with an idle command stream acts at once
    assert not h4.done and not out.any()
    rt.task_wait(h4)
    np.testing.assert_array_equal(out, A * 4)
    assert all(h.done for h in (h1, h2, h3, h4))
    assert h1.end_cycle <= h2.start_cycle < h2.end_cycle <= h3.start_cycle < h3.end_cycle
    assert h3.end_cycle <= h4.start_cycle == h4.end_cycle
    h5 = rt.launch("double", nonblock=True)
    while not rt.is_task_done(h5):  # polling advances the device
        pass
    assert rt.read_symbol(0, 0, "A").tolist() == (A * 8).tolist()
    h6 = rt.launch("double", nonblock=True)
    rt.stop()  # waits for everything
    assert h6.done and rt.read_symbol(0, 0, "A").tolist() == (A * 16).tolist()
    assert h6.host_time_s > 0


def test_missing_completion_signal_is_reported():
    rt = rect(args_program, 2, 1, n=2)
    rt.launch("forgetful", nonblock=True)
    out = np.zeros(4, np.float32)
    with pytest.raises(StallError) as info:
        rt.memcpy_d2h(out, rt.get_id("A"), 0, 0, 2, 1, 2)
    report = info.value.report
    assert report.causes[0].startswith("missing completion signal")
    text = str(info.value)
    assert "'forgetful' has not called unblock_cmd_stream()" in text
    assert "PE (0, 0)" in text and "PE (1, 0)" in text
    assert "memcpy_d2h of 'A'" in text  # what the host waits for
    assert {f.pe for f in report.by_kind("cmd-stream-blocked")} == {(0, 0), (1, 0)}


def test_blocking_launch_without_completion_signal_raises():
    rt = single(args_program, n=2)
    with pytest.raises(StallError, match="missing completion signal"):
        rt.launch("forgetful")


# -- streaming ---------------------------------------------------------------------------------


def test_streaming_h2d_into_a_data_task_keeps_order():
    n, color = 7, 3
    rt = rect(accumulate_program, 2, 1, n=n, color=color)
    data = np.random.default_rng(3).standard_normal(2 * n).astype(np.float32)
    h = rt.memcpy_h2d(color, data, 0, 0, 2, 1, n, streaming=True)
    assert h.done and h.device_cycles >= n - 1
    rt.launch("sync")  # the data tasks (lower ids) drain their queue before the launch runs
    buf = np.zeros(2 * n, np.float32)
    rt.memcpy_d2h(buf, rt.get_id("buf"), 0, 0, 2, 1, n)
    np.testing.assert_array_equal(buf, data)  # every PE got its own part, in order
    cnt = np.zeros(2, np.int32)
    rt.memcpy_d2h(cnt, rt.get_id("cnt"), 0, 0, 2, 1, 1)
    assert cnt.tolist() == [n, n]
    acc = np.zeros(2, np.float32)
    rt.memcpy_d2h(acc, rt.get_id("acc"), 0, 0, 2, 1, 1)
    for i in range(2):
        want = np.float32(0)
        for v in data[i * n : (i + 1) * n]:
            want = np.float32(want + v)
        assert acc[i] == want


def test_streaming_h2d_by_color_name_into_a_fabric_input_op():
    n, color = 20, 4  # longer than the input queue: back-pressure paces the host
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, stream_op_program, n=n, color=color)
    lay.color("in_y", color)
    rt = runtime_of(lay)
    assert rt.get_id("in_y") == color
    y0 = np.arange(n, dtype=np.float32)
    rt.memcpy_h2d(rt.get_id("y"), y0, 0, 0, 1, 1, n)
    rt.launch("start")
    data = np.linspace(-1, 1, n).astype(np.float32)
    rt.memcpy_h2d("in_y", data, 0, 0, 1, 1, n, streaming=True)
    rt.launch("sync")  # runs once the fabric-input op has finished
    out = np.zeros(n, np.float32)
    rt.memcpy_d2h(out, rt.get_id("y"), 0, 0, 1, 1, n)
    np.testing.assert_array_equal(out, y0 + data)


@pytest.mark.parametrize("async_", [False, True])
def test_streaming_d2h_collects_what_pes_send_in_order(async_):
    n, color = 9, 5
    rt = rect(sender_program, 3, 2, n=n, color=color, async_=async_)
    A = np.arange(3 * 2 * n, dtype=np.uint32) * 3 + 1
    rt.memcpy_h2d(rt.get_id("A"), A, 0, 0, 3, 2, n)
    rt.launch("send")
    out = np.zeros((2, 2, n), np.uint32)  # a 2x2 sub-region, column-major host buffer
    out_flat = np.zeros(2 * 2 * n, np.uint32)
    h = rt.memcpy_d2h(out_flat, color, 1, 0, 2, 2, n, streaming=True, order=COL)
    out[...] = out_flat.reshape((2, 2, n), order="F")
    np.testing.assert_array_equal(out, A.reshape(2, 3, n)[:, 1:])
    assert h.device_cycles >= n - 1
    assert not rt.engine.state.o_host.any()  # the host port is released


def pipeline_program(c, *, n, cin, cout):
    """A one-PE pipeline: fabric in (cin) -> add 1 -> fabric out (cout)."""
    c.array("unused", "f32", 1, export=True)

    def start(pe):
        pe.unblock_cmd_stream()
        pe.fadds(fabout_dsd(cout, n), fabin_dsd(cin, n), 1.0)

    c.export(start)


def test_streams_in_and_out_overlap_when_issued_nonblocking():
    n = 40  # far more than the queues hold
    rt = single(pipeline_program, n=n, cin=4, cout=6)
    rt.launch("start")
    data = np.arange(n, dtype=np.float32)
    h_in = rt.memcpy_h2d(4, data, 0, 0, 1, 1, n, streaming=True, nonblock=True)
    out = np.zeros(n, np.float32)
    h_out = rt.memcpy_d2h(out, 6, 0, 0, 1, 1, n, streaming=True)
    np.testing.assert_array_equal(out, data + 1)
    assert h_in.done and h_in.start_cycle == h_out.start_cycle  # ran concurrently
    assert n <= h_out.device_cycles < n + 20


def test_blocking_stream_in_before_stream_out_reports_stream_order():
    n = 40
    rt = single(pipeline_program, n=n, cin=4, cout=6)
    rt.launch("start")
    with pytest.raises(StallError) as info:
        rt.memcpy_h2d(4, np.ones(n, np.float32), 0, 0, 1, 1, n, streaming=True)
    causes = info.value.report.causes
    assert causes[0].startswith("stream order: the host streams data in while the device waits")
    assert "memcpy_h2d streaming to color 4" in str(info.value)


def test_streaming_d2h_that_never_completes_reports_a_stall():
    n, color = 4, 5
    rt = single(sender_program, n=n, color=color)
    rt.launch("send")
    out = np.zeros(n + 2, np.uint32)  # asks for 2 more wavelets than the PE sends
    with pytest.raises(StallError) as info:
        rt.memcpy_d2h(out, color, 0, 0, 1, 1, n + 2, streaming=True)
    assert "memcpy_d2h streaming still expects 2 wavelet(s) on color 5" in str(info.value)
    assert "to receive 2 more wavelet(s) on color 5" in str(info.value)


def spinner_program(c):
    """A task that re-activates itself forever (the fabric never goes quiet), and a launched
    function that forgets the completion signal."""
    c.array("A", "f32", 2, export=True)

    def spin(pe):
        pe.spend(10)
        pe.activate(spin)

    c.bind_local_task(spin, 5)
    c.activate(5)

    def forgetful(pe):
        pass

    c.export(forgetful)


def test_max_cycles_bounds_a_host_command_on_a_busy_device():
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, spinner_program)
    rt = runtime_of(lay, max_cycles=2000)
    rt.launch("forgetful", nonblock=True)
    with pytest.raises(StallError) as info:
        rt.memcpy_d2h(np.zeros(2, np.float32), rt.get_id("A"), 0, 0, 1, 1, 2)
    text = str(info.value)
    assert text.startswith("the host command did not finish within the cycle limit")
    assert "missing completion signal: launched function 'forgetful'" in text
    assert rt.now >= 2000


def test_launch_timing_is_the_cycle_the_function_signals_completion():
    rt = single(args_program, n=4)
    h = rt.launch("double")  # spends 50 cycles before unblock_cmd_stream()
    assert h.device_cycles >= 50
    h2 = rt.memcpy_d2h(np.zeros(4, np.float32), rt.get_id("A"), 0, 0, 1, 1, 4)
    assert h2.start_cycle == h2.end_cycle >= h.end_cycle


# -- bad input ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mem():
    return rect(memory_program, 3, 2, L=4)


def test_region_outside_the_rectangle(mem):
    a = np.zeros(8, np.float32)
    with pytest.raises(RuntimeUsageError) as info:
        mem.memcpy_h2d(mem.get_id("a_f32"), a, 2, 0, 2, 1, 4)
    assert str(info.value) == (
        "memcpy_h2d: the region at (px, py) = (2, 0) of size 2x1 reaches PE (3, 0), outside "
        "the 3x2 program rectangle (x 0..2, y 0..1): keep px + w <= 3 and py + h <= 2"
    )
    with pytest.raises(RuntimeUsageError, match=r"reaches PE \(0, -1\)"):
        mem.memcpy_d2h(a, mem.get_id("a_f32"), 0, -1, 1, 2, 4)
    with pytest.raises(RuntimeUsageError, match=r"PE \(3, 5\) is outside the 3x2 program"):
        mem.read_symbol(3, 5, "a_f32")
    with pytest.raises(RuntimeUsageError, match="must be positive"):
        mem.memcpy_h2d(mem.get_id("a_f32"), a, 0, 0, 0, 1, 4)


def test_host_array_of_the_wrong_size_or_dtype(mem):
    sym = mem.get_id("a_f32")
    with pytest.raises(MemcpyArrayError) as info:
        mem.memcpy_h2d(sym, np.zeros(7, np.float32), 0, 0, 2, 1, 4)
    assert str(info.value) == (
        "memcpy_h2d: the host array has shape (7,) (7 elements) but the call moves 8 elements "
        "(tensor of shape (h, w, elem_per_pe) = (1, 2, 4)): pass an array of 8 elements (1-D, "
        "e.g. np.zeros(8, np.float32))"
    )
    with pytest.raises(
        MemcpyArrayError,
        match="MEMCPY_32BIT takes a host array of float32, "
        "int32, uint32, got float64: convert it with .astype",
    ):
        mem.memcpy_h2d(sym, np.zeros(8), 0, 0, 2, 1, 4)
    with pytest.raises(MemcpyArrayError, match="got float32: e.g. x.astype"):
        mem.memcpy_h2d(mem.get_id("a_f16"), np.zeros(8, np.float32), 0, 0, 2, 1, 4, data_type=F16)
    with pytest.raises(MemcpyArrayError, match="for 16-bit data use data_type"):
        mem.memcpy_d2h(np.zeros(8, np.float16), sym, 0, 0, 2, 1, 4)
    with pytest.raises(MemcpyArrayError, match="must be a numpy array, got list"):
        mem.memcpy_h2d(sym, [0.0] * 8, 0, 0, 2, 1, 4)
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    with pytest.raises(MemcpyArrayError, match="read-only"):
        mem.memcpy_d2h(ro, sym, 0, 0, 2, 1, 4)
    with pytest.raises(
        RuntimeUsageError,
        match="holds f16 \\(16-bit\\) elements but data_type "
        "is MEMCPY_32BIT: use data_type=MemcpyDataType.MEMCPY_16BIT",
    ):
        mem.memcpy_h2d(mem.get_id("a_f16"), np.zeros(8, np.uint32), 0, 0, 2, 1, 4)
    with pytest.raises(RuntimeUsageError, match="elem_per_pe = 5 but symbol 'a_f32' holds 4"):
        mem.memcpy_h2d(sym, np.zeros(10, np.float32), 0, 0, 2, 1, 5)
    with pytest.raises(RuntimeUsageError, match="order=7 is not a MemcpyOrder"):
        mem.memcpy_h2d(sym, np.zeros(8, np.float32), 0, 0, 2, 1, 4, order=7)


def test_symbol_not_exported_and_unknown_names(mem):
    with pytest.raises(SymbolNotExportedError) as info:
        mem.memcpy_h2d("hidden", np.zeros(4, np.float32), 0, 0, 1, 1, 4)
    assert str(info.value) == (
        "memcpy_h2d: symbol 'hidden' on PE (0, 0) (program 'memory_program') is not exported: "
        "declare it with c.array('hidden', 'f32', 4, export=True)"
    )
    with pytest.raises(UnknownNameError, match="declares an array 'hidden' but does not export"):
        mem.get_id("hidden")
    with pytest.raises(UnknownNameError) as info:
        mem.get_id("a_f33")
    assert str(info.value).startswith(
        "get_id('a_f33'): no exported symbol, exported function or named color is called "
        "'a_f33' (did you mean 'a_f32'?). Exported symbols: a_f32, a_i32, a_u32, a_f16, "
        "a_i16, a_u16; functions: nop; colors: none."
    )
    with pytest.raises(UnknownNameError, match="has no array 'nope'"):
        mem.read_symbol(0, 0, "nope")
    with pytest.raises(RuntimeUsageError, match="3 is not a symbol id .* pass streaming=True"):
        mem.memcpy_h2d(3, np.zeros(4, np.float32), 0, 0, 1, 1, 4)
    with pytest.raises(RuntimeUsageError, match="streaming=True needs a color, but 'a_f32' is"):
        mem.memcpy_h2d(mem.get_id("a_f32"), np.zeros(4, np.float32), 0, 0, 1, 1, 4, streaming=True)
    with pytest.raises(UnknownNameError, match="no color is named 'c9'"):
        mem.memcpy_h2d("c9", np.zeros(4, np.float32), 0, 0, 1, 1, 4, streaming=True)
    with pytest.raises(RuntimeUsageError, match="color 24 is out of range: colors are 0..23"):
        mem.memcpy_d2h(np.zeros(4, np.float32), 24, 0, 0, 1, 1, 4, streaming=True)


def test_launch_errors():
    rt = single(args_program, n=4)
    with pytest.raises(UnknownNameError) as info:
        rt.launch("scal", 1.0, 2)
    assert str(info.value) == (
        "launch('scal'): no program exports a function named 'scal' (did you mean 'scale'?); "
        "exported functions: scale, mark, double, forgetful (export one with c.export(fn))"
    )
    with pytest.raises(LaunchArgumentError) as info:
        rt.launch("scale", 1.0)
    assert str(info.value) == (
        "launch('scale'): scale(pe, alpha, count) takes 2 argument(s) (alpha, count) after pe, "
        "got 1: pass them as launch('scale', alpha, count)"
    )
    with pytest.raises(LaunchArgumentError, match="takes 2 to 3 argument"):
        rt.launch("mark", 1, 2, 3, 4)
    with pytest.raises(LaunchArgumentError) as info:
        rt.launch("scale", 1.0, 2.5)
    assert str(info.value) == (
        "launch('scale'): argument 'count' (#2) is annotated int, got float 2.5: pass an int "
        "(e.g. 2) or annotate the parameter float"
    )
    with pytest.raises(LaunchArgumentError, match=r"argument 'alpha' \(#1\) must be a scalar"):
        rt.launch("scale", np.zeros(3), 2)
    with pytest.raises(LaunchArgumentError, match="does not fit 32 bits"):
        rt.launch("mark", 2**40, 1.0)
    with pytest.raises(UnknownNameError, match="'A' is a symbol, not an exported function"):
        rt.launch(rt.get_id("A"))
    assert not rt.commands  # nothing was issued


def test_lifecycle_errors_and_vendor_alias(tmp_path):
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, memory_program, L=2)
    lay.compile(tmp_path / "out")
    rt = VendorNamedRuntime(
        str(tmp_path / "out"), cmaddr=None, suppress_simfab_trace=True, msg_level="WARNING"
    )
    sym = rt.get_id("a_u32")  # before load, as vendor scripts do
    with pytest.raises(RuntimeUsageError, match="call runner.load\\(\\) and runner.run\\(\\)"):
        rt.memcpy_h2d(sym, np.zeros(2, np.uint32), 0, 0, 1, 1, 2)
    rt.load()
    with pytest.raises(RuntimeUsageError, match="call runner.run\\(\\) first"):
        rt.launch("nop")
    rt.run()
    rt.memcpy_h2d(sym, np.array([5, 6], np.uint32), 0, 0, 1, 1, 2)
    rt.stop()
    with pytest.raises(RuntimeUsageError, match="stopped"):
        rt.launch("nop")
    assert rt.read_symbol(0, 0, "a_u32").tolist() == [5, 6]


def test_stop_after_a_failed_command_does_not_raise_again():
    rt = single(args_program, n=2)
    rt.launch("forgetful", nonblock=True)
    h = rt.memcpy_d2h(np.zeros(2, np.float32), rt.get_id("A"), 0, 0, 1, 1, 2, nonblock=True)
    with pytest.raises(StallError):
        rt.task_wait(h)
    rt.stop()  # safe in a finally: block
    assert not h.done


def test_streaming_row_broadcast_and_run_cycles():
    n, color = 3, 3
    rt = rect(accumulate_program, 3, 2, n=n, color=color)
    col = np.array([[1, 2, 3], [4, 5, 6]], np.float32)  # (h, 1, e): one column of the region
    rt.memcpy_h2d_rowbcast(color, col.ravel(), 0, 0, 3, 2, n, streaming=True)
    assert rt.run_cycles().reason == "quiet"  # let the data tasks drain their queues
    buf = np.zeros((2, 3, n), np.float32)
    rt.memcpy_d2h(buf.reshape(-1), rt.get_id("buf"), 0, 0, 3, 2, n)
    np.testing.assert_array_equal(buf, np.broadcast_to(col[:, None, :], (2, 3, n)))
