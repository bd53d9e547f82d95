"""How values look in the window: computed once per change, never in ``data()``."""

from __future__ import annotations

import time
from collections import Counter, deque

from app.core import TaskState


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
