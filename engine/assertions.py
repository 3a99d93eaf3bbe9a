"""Assertions for tests of Geometry OS and its plugins that need no pytest: image
comparison and bounded polling.  Benchmarks and scripts use them as well, so this
module imports nothing test-framework specific (:mod:`geometry_os.testing` re-exports
both for pytest users)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def assert_image_close(actual: np.ndarray, expected: np.ndarray, tolerance: int = 2,
                       max_bad_fraction: float = 0.0) -> None:
    """Assert two images match: no channel differs by more than ``tolerance``, except in
    at most ``max_bad_fraction`` of the pixels."""
    if actual.shape != expected.shape:
        raise AssertionError(f"image shapes differ: {actual.shape} != {expected.shape}")
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16)).max(axis=-1)
    bad = diff > tolerance
    fraction = float(bad.mean())
    if fraction > max_bad_fraction:
        ys, xs = np.nonzero(bad)
        raise AssertionError(f"{bad.sum()} pixels ({fraction:.2%}) differ by more than {tolerance}; "
                             f"first at (x={xs[0]}, y={ys[0]}): {actual[ys[0], xs[0]]} != {expected[ys[0], xs[0]]}; "
                             f"max difference {int(diff.max())}")


def wait_until(predicate: Callable[[], Any], timeout: float, step: Callable[[], None] | None = None,
               what: str = "condition", interval: float = 0.01) -> Any:
    """Poll ``predicate`` (running ``step``, or sleeping ``interval``, between polls) until
    it is truthy; AssertionError naming ``what`` when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(interval)
