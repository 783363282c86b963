"""The kernel library: every program of the vendor's SDK examples that we cover, as a runnable PE
program with a host driver (``SdkRuntime``, like the vendor's ``run.py``), checked against numpy
with the vendor's tolerance, timed the SDK's way (max end - min start of the PEs' cycle
counters), and predicted by an analytic cost model that reaches the full wafer.

>>> from waferscale.kernels import REGISTRY
>>> list(REGISTRY)[:3]
['gemv', 'gemv-checkerboard', 'residual']
>>> r = REGISTRY["gemv"].run("wse2", grid=(4, 3), size=(24, 32))
>>> r.ok, r.cycles == r.model_cycles
(True, True)
>>> REGISTRY["gemv"].model("wse2", grid="full", size=(994 * 64, 750 * 64)) > 0
True

``waferscale run --list`` lists them; ``waferscale run NAME [--grid WxH] [--size ...]`` runs one;
``--model`` predicts without simulating. docs/kernels.md describes each mapping and model.
"""

from ._base import REGISTRY, Kernel, KernelError, KernelResult, Outcome

# Registration order is the listing order (the vendor's example list).
from . import gemv  # noqa: E402,F401,I001  isort: skip
from . import gemv_checkerboard  # noqa: E402,F401  isort: skip
from . import residual  # noqa: E402,F401  isort: skip
from . import single_tile_matvec  # noqa: E402,F401  isort: skip
from . import stencil_spmv  # noqa: E402,F401  isort: skip
from . import game_of_life  # noqa: E402,F401  isort: skip
from . import mandelbrot  # noqa: E402,F401  isort: skip
from . import histogram  # noqa: E402,F401  isort: skip
from . import wide_multiplication  # noqa: E402,F401  isort: skip
from . import bandwidth_test  # noqa: E402,F401  isort: skip
from . import krylov  # noqa: E402,F401  isort: skip  (issue #6: power method, CG, PCG, BiCGSTAB)
from . import stencil_25pt  # noqa: E402,F401  isort: skip  (issue #6)
from . import hypersparse  # noqa: E402,F401  isort: skip  (issue #6)
from . import gemm_summa  # noqa: E402,F401  isort: skip  (issue #6: GEMM, FFT, Cholesky)
from . import gemm_cannon  # noqa: E402,F401  isort: skip
from . import gemv_collectives  # noqa: E402,F401  isort: skip
from . import fft  # noqa: E402,F401  isort: skip
from . import cholesky  # noqa: E402,F401  isort: skip

__all__ = ["REGISTRY", "Kernel", "KernelError", "KernelResult", "Outcome"]
