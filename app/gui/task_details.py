"""The side pane's full text of one task: every field, the worker's traceback included."""

from __future__ import annotations

import math
import time

from app.core.task import Task


def details_text(task: Task, stack: str | None = None) -> str:
    """Every known field of ``task``, one a line, then its result, error and traceback;
    then ``stack``, the words on the stacks the Stack button took of its worker."""
    lines = [f"{task.ID}", f"state      {task.state.name}"]
    for label, value in (
        ("worker pid", task.worker_pid),
        ("exit code", task.exitcode),
        ("attempts", task.attempts),
        ("timeout", task.timeout),
    ):
        if value is not None:
            lines.append(f"{label:<10} {value}")
    for label, stamp in (
        ("submitted", task.submitted_at),
        ("started", task.started_at),
        ("finished", task.finished_at),
    ):
        if stamp is not None:
            lines.append(f"{label:<10} {time.strftime('%H:%M:%S', time.localtime(stamp))}")
    if task.started_at is not None:
        end = task.finished_at if task.finished_at is not None else time.time()
        lines.append(f"{'duration':<10} {end - task.started_at:.3f} s")
    if task.progress is not None and not math.isnan(task.progress):
        lines.append(f"{'progress':<10} {task.progress:.0%}")
    if task.result is not None:
        lines += ["", "result:", str(task.result)]
    if task.error:
        lines += ["", "error:", task.error]
    if task.traceback:
        lines += ["", "traceback (from the worker):", task.traceback.rstrip()]
    if stack:
        lines += ["", stack.rstrip()]
    return "\n".join(lines)
