"""The layout of the compiled loop's ``params[]`` array (filled by ``FabricState``).

Its own module because the cycle loop, the static-task replay and the stream fast path all
read it; numba freezes these ints into the compiled code (see ``_layout_consts``)."""

from __future__ import annotations

P_HOP, P_RAMP, P_RCAP, P_ICAP, P_OCAP, P_WATCHDOG, P_COLORS, P_WORK_MAX = 0, 1, 2, 3, 4, 5, 6, 7
P_TURN = 8
# static tasks replayed in the loop: on/off, and the costs the Python path would charge
P_REPLAY, P_TASK_STARTUP, P_OP_STARTUP, P_AUTO_SLOTS, P_TS_BITS = 9, 10, 11, 12, 13
# the stream fast path (``_stream``): on/off, and the longest window it schedules, in cycles
P_STREAM, P_STREAM_WINDOW = 14, 15
N_PARAMS = 16
