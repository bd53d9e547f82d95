"""How values look in the window: computed once per change, never in ``data()``."""

from __future__ import annotations

import time


def clock(stamp: float | None) -> str:
    """``12:00:01.234``, or an empty cell."""
    if stamp is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp % 1 * 1000):03d}"


def seconds(value: float | None) -> str:
    """``0.253 s``, ``12.4 s``, ``3 min 05 s``."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.3f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes} min {rest:02d} s"


def one_line(value: object, limit: int = 200) -> str:
    """A result or error as one short line for a table cell."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
