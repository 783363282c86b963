"""Pictures of layouts and runs (matplotlib, Agg backend: no display needed).

:func:`draw_routes` draws the color routes of a layout (or of a running engine) as a map
(:func:`plot_routes` onto axes of a larger figure), :func:`draw_mapping` a program's mapping
(what each PE holds, its routes, the link traffic of a run), :func:`draw_payload` the
control-wavelet payload layout and :func:`draw_budget` the resource use of some PEs against the
budget.
"""

from .budget import draw_budget
from .mapping import draw_mapping
from .routes import draw_payload, draw_routes, plot_routes

__all__ = ["draw_budget", "draw_mapping", "draw_payload", "draw_routes", "plot_routes"]
