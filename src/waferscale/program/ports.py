"""Router ports and their encodings (bit i of a route mask means port i)."""

from __future__ import annotations

NORTH, SOUTH, EAST, WEST, RAMP = 0, 1, 2, 3, 4
PORT_NAMES = ("NORTH", "SOUTH", "EAST", "WEST", "RAMP")
OPPOSITE = (SOUTH, NORTH, WEST, EAST, RAMP)
# Row 0 is the north edge, as in the SDK: y grows southward.
PORT_DX = (0, 0, 1, -1, 0)
PORT_DY = (-1, 1, 0, 0, 0)
