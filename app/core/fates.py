"""The fate of the task a worker was running when it died, and the console's line for
the death: what the engine decides, worded once, apart from how it decides it."""

from __future__ import annotations

from app.core import console
from app.core.handle import KillReason, WorkerHandle
from app.core.states import TaskState
from app.core.task import Task

log = console.DeferredLogger("app.core")

_QUIET = (KillReason.STOP, KillReason.CLOSE, KillReason.KILL_NOW, KillReason.COLLECT)
"""The kills that end the job: the parent ended it, the worker did nothing wrong."""


def settle_running(
    task: Task,
    h: WorkerHandle,
    reason: KillReason | None,
    how: str,
    now: float,
    timeout: float | None,
    closing_reason: str | None,
) -> str:
    """Sets the fate of ``task``, which ``h`` was running when it died: by the reason
    the parent killed it, if it did (``timeout`` is the task's own limit), else CRASHED
    with the worker's exit (and its loop's traceback, when it sent one). Returns the
    task's error, for its event."""
    task.finished_at = now
    task.worker_pid = h.pid
    task._payload = None
    if reason == KillReason.CANCEL:
        task.state = TaskState.CANCELLED
        task.error = f"cancelled while running (cancel(force=True)); worker-{h.index} was killed"
    elif reason == KillReason.TIMEOUT:
        task.state = TaskState.TIMED_OUT
        task.error = f"ran past its timeout of {timeout} s; worker-{h.index} was killed"
        task.traceback = h.stack_at_kill
    elif reason in _QUIET:
        task.state = TaskState.TIMED_OUT
        task.error = f"still running when the job ended: {closing_reason}; its worker was killed"
    else:
        task.state = TaskState.CRASHED
        task.exitcode = h.exitcode
        task.error = f"its worker (pid {h.pid}) {how} while running it"
        if h.fatal is not None and h.fatal[0] == task._seq:
            task.traceback = h.fatal[1]
            task.error += f": {h.fatal[1].strip().splitlines()[-1]}"
    return task.error


KILLED_FOR = {
    KillReason.TIMEOUT: "its task ran past its timeout",
    KillReason.COLLECT: "collect_tasks ran out",
    KillReason.CLOSE: "the facade was closed",
    KillReason.KILL_NOW: "close() was called while collect_tasks waited (Kill now)",
    KillReason.STOP: "the job ended before it had left by itself",
    KillReason.DAMAGED: "its result stream was damaged",
    KillReason.REAP: "it was still alive when it was to be reaped",
    KillReason.CANCEL: "cancel(force=True) of its running task",
}
"""Why the parent killed a worker: in the console's line for a kill that ended the job,
and in the OOM evidence that rules the kernel out."""


def say_death(h: WorkerHandle, why: str, how: str, running: Task | None, replace: bool) -> None:
    """The console's line for a death: a recycling as such, a crash or a kill with what
    it was running, and a kill that ended the job with what ended it; nothing for a
    worker that left cleanly when asked."""
    doing = f"while running {running.ID!r}" if running is not None else "while idle"
    if why == "recycled":
        then = "; replacing it" if replace else ""
        log.info("worker-%d (pid %d) %s%s", h.index, h.pid, h.recycling, then)
    elif h.kill_reason in _QUIET:
        ended = KILLED_FOR[h.kill_reason]
        log.info("worker-%d (pid %d) killed %s: %s", h.index, h.pid, doing, ended)
    elif h.ready:
        log.warning("worker-%d (pid %d) %s %s (%s)", h.index, h.pid, how, doing, why)
