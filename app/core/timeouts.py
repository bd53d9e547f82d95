"""Timeouts of any length: checked once where they are taken, waited on in slices.

A caller may give any positive number of seconds, however large, and ``inf`` for "no
limit". The OS cannot wait that long in one call (``epoll`` takes at most about 24 days,
a lock about 292 years), so every wait here is cut into slices and the deadline is
checked again after each one.
"""

from __future__ import annotations

import math
import time

MAX_SLICE = 3600.0
"""The longest single OS-level wait: far below every platform's limit."""


def is_seconds(value: object, *, zero: bool = False) -> bool:
    """A number of seconds: a positive int or float (0 too when ``zero``), ``inf`` included."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return value >= 0 if zero else value > 0


def limit(value: float | None) -> float | None:
    """``None`` for no limit (``None`` or ``inf``), else the number of seconds as a float."""
    if value is None or value == math.inf:
        return None
    return float(value)


def deadline(timeout: float | None) -> float | None:
    """The ``time.monotonic()`` at which ``timeout`` seconds from now run out, or None."""
    seconds = limit(timeout)
    return None if seconds is None else time.monotonic() + seconds


def remaining(until: float | None) -> float:
    """Seconds to wait now for ``until`` (a monotonic deadline): one slice at most."""
    if until is None:
        return MAX_SLICE
    return min(MAX_SLICE, max(0.0, until - time.monotonic()))
