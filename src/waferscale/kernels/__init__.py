"""The kernel library: every program of the vendor's SDK examples as a runnable PE program with a
host driver, checked against numpy, timed the SDK's way, and predicted by an analytic model.

>>> from waferscale.kernels import REGISTRY
>>> r = REGISTRY["gemv"].run()            # simulate at the default size, check, time
>>> r.ok, r.cycles, r.model_cycles        # doctest: +SKIP
>>> REGISTRY["gemv"].model("wse2", "full", (750 * 64, 994 * 64))   # doctest: +SKIP

See docs/kernels.md for the mapping and the cost model of each kernel.
"""

from ._base import REGISTRY, Kernel, KernelError, KernelResult, Outcome

# Registration order is the listing order (the vendor's example list).
from . import gemv  # noqa: E402,F401  isort: skip
from . import gemv_checkerboard  # noqa: E402,F401  isort: skip
from . import game_of_life  # noqa: E402,F401  isort: skip
from . import residual  # noqa: E402,F401  isort: skip
from . import mandelbrot  # noqa: E402,F401  isort: skip
from . import histogram  # noqa: E402,F401  isort: skip
from . import single_tile_matvec  # noqa: E402,F401  isort: skip
from . import stencil_spmv  # noqa: E402,F401  isort: skip

__all__ = ["REGISTRY", "Kernel", "KernelError", "KernelResult", "Outcome"]
