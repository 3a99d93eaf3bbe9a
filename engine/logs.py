"""Logging set-up for the ``geos`` command: one line per event, quiet by default."""

from __future__ import annotations

import logging

FORMAT = "geos: %(levelname)s %(name)s: %(message)s"


def configure(verbosity: int) -> None:
    """``verbosity``: -1 errors only, 0 warnings (default), 1 info, 2 debug."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format=FORMAT, force=True)
