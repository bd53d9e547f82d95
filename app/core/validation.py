"""What ``process_task`` checks before it records a task: found in the caller's thread."""

from __future__ import annotations

from app.core.errors import describe
from app.core.task import Task, why_not_valid
from app.core.timeouts import is_seconds


def why_refused(task: Task) -> str | None:
    """Why ``process_task`` must refuse the task, found in the caller's thread, or None."""
    tid = task.ID
    if not isinstance(tid, str) or not tid.strip():
        return f"invalid ID {tid!r}: an ID must be a non-empty string"
    if not tid.isprintable():
        return f"invalid ID {tid!r}: an ID must be printable (no newlines or control characters)"
    timeout = task.timeout
    if timeout is not None and not is_seconds(timeout):
        return (
            f"invalid timeout {timeout!r}: expected a positive number of seconds "
            "(inf for no limit) or None"
        )
    try:
        return why_not_valid(task)
    except Exception as exc:
        return f"is_valid() raised {describe(exc)}"
