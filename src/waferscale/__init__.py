"""waferscale: an open simulator and SDK for Cerebras-style wafer-scale engines.

The package root stays import-light: it imports no subpackage. Start from
:mod:`waferscale.arch` (validated machine specs) or the ``waferscale`` command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
