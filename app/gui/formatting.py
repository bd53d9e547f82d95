"""How values look in the window: computed once per change, never in ``data()``."""

from __future__ import annotations

import math
import time
from collections import Counter, deque

from app.core import TaskState


def clock(stamp: float | None) -> str:
    """``12:00:01.234``, or an empty cell (for no time, or one no clock can show: NaN,
    infinite, or past what the C library's time takes, as a damaged recording may give)."""
    if not isinstance(stamp, int | float) or not math.isfinite(stamp):
        return ""
    try:
        local = time.localtime(stamp)
    except (OverflowError, OSError, ValueError):
        return ""
    return time.strftime("%H:%M:%S", local) + f".{int(stamp % 1 * 1000):03d}"


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


def size(value: int | None) -> str:
    """``512 B``, ``9.5 MB``, ``212 MB``, ``1.3 GB`` (of 1024, as ``top`` counts); an empty
    cell for no value or one that is no size (negative, or beyond any 64-bit counter:
    past 2**1024 it would not even convert to a float)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        return ""
    if value < 1024:
        return f"{value} B"
    amount = float(value)
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        amount /= 1024
        if amount < 1000 or unit == "PB":
            break
    return f"{amount:.1f} {unit}" if amount < 9.95 else f"{amount:.0f} {unit}"


def percent(value: float | None) -> str:
    """``35%`` of one core (``180%``: two cores busy); empty when unknown or absurd."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return ""
    return f"{value:.0f}%"


def one_line(value: object, limit: int = 200) -> str:
    """A result or error as one short line for a table cell."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_counts(counts: Counter[TaskState]) -> str:
    """``12 tasks: PENDING 2, DONE 10``: the status bar's count per state."""
    parts = [f"{state.name} {counts[state]:,}" for state in TaskState if counts[state]]
    total = sum(counts.values())
    return f"{total:,} tasks" + (": " + ", ".join(parts) if parts else "")


def error_text(exc: Exception) -> str:
    """ "No such file or directory: /the/folder", not Python's repr of the error."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)


class ResultRate:
    """Results a second over the last few samples (a sliding window, so it settles fast)."""

    def __init__(self, samples: int = 8) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=samples)

    def clear(self) -> None:
        self._samples.clear()

    def sample(self, finished_total: int) -> float | None:
        """Records the count of finished tasks now; the rate, once there is a span."""
        now = time.monotonic()
        self._samples.append((now, finished_total))
        first_time, first_count = self._samples[0]
        if now > first_time:
            return (finished_total - first_count) / (now - first_time)
        return None
