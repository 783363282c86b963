"""Shared fixtures of the test suite.

``guarded_activity_lists`` (used by tests/test_engine_*.py): the compiled kernel keeps lists of
active routers and CEs (``FabricState.act_r``/``act_c``, one slot per PE) and runs without
bounds checks. A known kernel bug (see test_engine_routing.py::
test_router_activity_list_stays_in_bounds) can write one slot past the end of ``act_r``: silent
heap corruption that later aborts the whole test process ("free(): invalid next size") at a
random garbage collection. The fixture gives each list a padded buffer (same visible length,
sentinel-filled spare slots after it), so that such a write lands in the padding instead;
:func:`_programs.activity_list_overflow` tells whether it happened.
"""

from __future__ import annotations

import pytest

from _programs import pad_activity_lists


@pytest.fixture(scope="module")
def guarded_activity_lists():
    from waferscale.fabric import state as state_mod

    cls = state_mod.FabricState
    original = cls.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pad_activity_lists(self)

    cls.__init__ = init
    try:
        yield
    finally:
        cls.__init__ = original
