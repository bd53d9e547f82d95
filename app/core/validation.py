"""What ``process_task`` checks before it records a task: found in the caller's thread."""

from __future__ import annotations

import math

from app.core.errors import describe
from app.core.task import Task, why_not_valid


def why_refused(task: Task) -> str | None:
    """Why ``process_task`` must refuse the task, found in the caller's thread, or None."""
    tid = task.ID
    if not isinstance(tid, str) or not tid.strip():
        return f"invalid ID {tid!r}: an ID must be a non-empty string"
    if not tid.isprintable():
        return f"invalid ID {tid!r}: an ID must be printable (no newlines or control characters)"
    timeout = task.timeout
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        return f"invalid timeout {timeout!r}: expected a positive number of seconds or None"
    try:
        return why_not_valid(task)
    except Exception as exc:
        return f"is_valid() raised {describe(exc)}"
