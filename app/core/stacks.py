"""The parent's side of ``stack()``: the requests asked of the workers' stack threads,
matched to their answers, and the stack taken before a timeout kills a worker.

Callers only add requests and wait (under the engine's lock); the I/O thread writes them
to the workers' stack pipes, hands the answers back from the result pipes, and fails the
requests of a worker that dies. Each answer names the task the worker had claimed when
its stacks were taken: an answer for another task than the one asked about (the worker
had not begun it yet) is asked again, so a stack is never shown for the wrong task.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

from app.core import wire
from app.core.states import TaskState
from app.core.task import Task

KILL_GRACE = 0.5
"""Seconds a timeout waits for a worker's stacks before it kills the worker anyway."""
AT_TIMEOUT = "Stack of the worker when its timeout killed it:"
"""The first line of a TIMED_OUT task's traceback, over its worker's stacks."""


class Asked(Protocol):
    """What a request needs of a worker handle."""

    @property
    def window(self) -> Sequence[Task]: ...

    def ask_stack(self, number: int) -> None: ...


class StackRequest:
    """One ``stack()`` call, or one timeout's last look, until answered or failed."""

    __slots__ = ("error", "handle", "number", "task", "text", "until")

    def __init__(self, number: int, handle: Asked, task: Task, until: float) -> None:
        self.number = number
        self.handle = handle
        self.task = task
        self.text: str | None = None
        self.error: str | None = None  # why it will never be answered
        self.until = until  # the monotonic time a timeout kills the worker anyway

    @property
    def done(self) -> bool:
        return self.text is not None or self.error is not None


class StackDesk:
    """Every request not yet answered (all calls under the engine's lock)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._pending: dict[int, StackRequest] = {}
        self._unsent: list[StackRequest] = []
        self._at_timeout: dict[Asked, StackRequest] = {}

    def ask(self, handle: Asked, task: Task, until: float = 0.0) -> StackRequest:
        """A request for the stacks of ``handle``'s worker, running ``task``; the I/O
        thread sends it (``send_all``)."""
        request = StackRequest(next(self._numbers), handle, task, until)
        self._pending[request.number] = request
        self._unsent.append(request)
        return request

    def forget(self, request: StackRequest) -> None:
        """The caller stopped waiting: a late answer is dropped."""
        self._pending.pop(request.number, None)

    def send_all(self) -> None:
        """Writes the new requests (on the I/O thread). One that cannot be written stays
        pending: its worker is dying (its death fails it, saying how its task ended), or
        has not read thousands of requests (its caller times out)."""
        for request in self._unsent:
            if request.number in self._pending:
                request.handle.ask_stack(request.number)
        self._unsent.clear()

    def answer(self, handle: Asked, msg: wire.Stack) -> None:
        """The stacks a worker sent (on the I/O thread)."""
        request = self._pending.get(msg.request)
        if request is None or request.handle is not handle:
            return  # its caller gave up waiting
        task = request.task
        if runs(handle, task) and msg.seq == task._seq:
            request.text = msg.text
        elif runs(handle, task):  # the worker had not begun it yet: once more
            self._unsent.append(request)
            return
        else:
            request.error = f"task {task.ID!r} ended ({task.state.name}) before its worker answered"
        del self._pending[msg.request]

    def worker_died(self, handle: Asked) -> None:
        """Fails the requests of a dead worker (its tasks' fates decided already)."""
        for number, request in list(self._pending.items()):
            if request.handle is handle:
                task = request.task
                request.error = (
                    f"task {task.ID!r} ended ({task.state.name}): its worker died before "
                    "it answered"
                )
                del self._pending[number]
        self._at_timeout.pop(handle, None)

    # -- the last look before a timeout's kill -------------------------------------------
    def before_kill(self, handle: Asked, task: Task, now: float) -> str | None:
        """``task`` ran past its timeout: None while its worker's stacks are awaited (the
        first call asks for them), then what to keep of them: the kill may go ahead."""
        request = self._at_timeout.get(handle)
        if request is None or request.task is not task:
            self._at_timeout[handle] = self.ask(handle, task, now + KILL_GRACE)
            return None
        if not request.done and now < request.until:
            return None
        del self._at_timeout[handle]
        self.forget(request)
        if request.text is not None:
            return f"{AT_TIMEOUT}\n{request.text}"
        why = request.error or f"it did not answer within {KILL_GRACE} s"
        return f"{AT_TIMEOUT} none ({why}; C code holding the GIL cannot be looked into)"

    def kill_deadline(self, handle: Asked) -> float:
        """When a timeout kills ``handle``'s worker at the latest; 0.0 if none is due."""
        request = self._doomed(handle)
        return 0.0 if request is None else request.until

    def dooming(self, handle: Asked) -> bool:
        """Whether a timeout waits for this worker's stacks before killing it."""
        return self._doomed(handle) is not None

    def _doomed(self, handle: Asked) -> StackRequest | None:
        """The timeout's request for ``handle``, while its task still runs: one that
        ended meanwhile (its outcome came in the grace) keeps it and its worker."""
        request = self._at_timeout.get(handle)
        if request is not None and not runs(handle, request.task):
            del self._at_timeout[handle]
            self.forget(request)
            return None
        return request


def runs(handle: Asked, task: Task) -> bool:
    """Whether ``handle``'s worker runs ``task`` now, as far as the parent knows."""
    return bool(handle.window) and handle.window[0] is task and task.state is TaskState.RUNNING


def not_running(task_id: object, task: Task | None) -> str:
    """Why the task has no stack to show, for a ``ValueError``."""
    if task is None:
        return f"no task with ID {task_id!r} in this facade"
    state = task.state
    if state is TaskState.PENDING:
        return f"task {task.ID!r} is PENDING: no worker has begun it, so it has no stack yet"
    if state.is_final:
        return f"task {task.ID!r} has finished ({state.name}): only a running task has a stack"
    if state is TaskState.RUNNING:
        return f"task {task.ID!r} is ending: its worker is being killed or is dead"
    return f"task {task.ID!r} is not running ({state.name})"
