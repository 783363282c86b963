"""Shared fixtures of the test suite.

``guarded_activity_lists`` (used by tests/test_engine_*.py): the compiled kernel keeps lists of
active routers and CEs (``FabricState.act_r``/``act_c``) and runs without bounds checks. A
kernel bug once wrote one slot past the end of ``act_r`` (fixed; test_engine_routing.py::
test_router_activity_list_stays_in_bounds keeps it fixed): silent heap corruption that aborted
the whole test process at a random garbage collection. The fixture gives each list a padded
buffer (same visible length, sentinel-filled spare slots after it), so that such a write lands
in the padding instead; :func:`_programs.activity_list_overflow` tells whether it happened.

Every test closes the matplotlib figures it left open (autouse fixture below).
"""

from __future__ import annotations

import sys

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


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
