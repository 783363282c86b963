"""The collectives' error type."""

from __future__ import annotations


class CollectiveError(ValueError):
    """A collective asked for something it cannot do (the message says what and why)."""
