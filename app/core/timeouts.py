"""Timeouts of any length: checked once where they are taken, waited on in slices.

A caller may give any positive number of seconds, however large, and ``inf`` for "no
limit". The OS cannot wait that long in one call (``epoll`` takes at most about 24 days,
a lock about 292 years), so every wait here is cut into slices and the deadline is
checked again after each one.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

MAX_SLICE = 3600.0
"""The longest single OS-level wait: far below every platform's limit."""


def is_seconds(value: object, *, zero: bool = False) -> bool:
    """A number of seconds: a positive real number (0 too when ``zero``), ``inf`` and
    numbers too large for a float included, compared exactly; never a bool, NaN or a
    negative number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        if value != value:  # NaN, of any real type
            return False
        number: Any = value  # numbers.Real declares no comparisons; every real has them
        return bool(number >= 0 if zero else number > 0)
    except (TypeError, ValueError, ArithmeticError):
        return False


def as_given(value: object) -> float | None:
    """A timeout ``is_seconds`` accepted, kept as a float: ``inf`` for more seconds than a
    float holds; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


def limit(value: object) -> float | None:
    """``None`` for no limit (``None``, ``inf``, or more seconds than a float holds), else
    the number of seconds as a float. Only for a value ``is_seconds`` accepted."""
    seconds = as_given(value)
    return None if seconds == math.inf else seconds


def deadline(timeout: float | None) -> float | None:
    """The ``time.monotonic()`` at which ``timeout`` seconds from now run out, or None."""
    seconds = limit(timeout)
    return None if seconds is None else time.monotonic() + seconds


def remaining(until: float | None) -> float:
    """Seconds to wait now for ``until`` (a monotonic deadline): one slice at most."""
    if until is None:
        return MAX_SLICE
    return min(MAX_SLICE, max(0.0, until - time.monotonic()))
