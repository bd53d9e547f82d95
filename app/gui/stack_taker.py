"""The table bar's Stack button: the stacks of the selected running task's worker, asked
of the facade on a thread of their own and shown in the Task pane.

``stack()`` waits for the worker's answer (up to ``STACK_TIMEOUT``): never on the GUI
thread. One request at a time; the window's shutdown, or its destruction, waits for it
(bounded by the same timeout) before the thread could be destroyed running.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core import TaskState
from app.core.errors import describe
from app.core.front import FacadeFront

STACK_TIMEOUT = 2.0
"""Seconds the worker gets to answer: more than enough unless its task holds the GIL."""
_WAIT_MS = int((STACK_TIMEOUT + 5.0) * 1000)  # stack() returns within its timeout, and a bit


class StackFetch(QThread):
    """One ``facade.stack(task_id)`` call, off the GUI thread."""

    taken = Signal(object, str, str, bool)  # facade, task ID, the stacks or why not, if they came

    def __init__(self, facade: FacadeFront, task_id: str) -> None:
        super().__init__()  # no parent: the taker keeps it, and waits for it before it goes
        self._facade = facade
        self._task_id = task_id

    def run(self) -> None:
        try:
            text, ok = self._facade.stack(self._task_id, STACK_TIMEOUT), True
        except (ValueError, TimeoutError) as exc:  # not running, or no answer: it says why
            text, ok = str(exc), False
        except Exception as exc:  # anything else is shown too, never lost with the thread
            text, ok = describe(exc), False
        self.taken.emit(self._facade, self._task_id, text, ok)


class StackTaker(QObject):
    """Wires the Stack button of ``window`` (the ``MainWindow``) and keeps, per task, the
    last stacks taken, for the Task pane."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.button = window.table_bar.stack
        self._running: list[StackFetch] = []  # at most one; a list the finalizer can hold
        self._shown: dict[str, str] = {}  # task ID -> the pane's section on its stacks
        self.button.clicked.connect(self.take)
        window.controller.run_started.connect(self.clear)
        window.destroyed.connect(partial(_wait_all, self._running))

    @Slot()
    def take(self) -> None:
        task = self._selected_running()
        if task is None or self._running or self._read_only() is not None:
            return
        w = self.window
        fetch = StackFetch(w.facade, task.ID)
        fetch.taken.connect(self._taken)
        fetch.finished.connect(self._ended)
        self._running.append(fetch)
        self._shown[task.ID] = f"stack: asking {_worker_of(task)} ..."
        w.controls.code.setText(f"print(w.stack({task.ID!r}))")
        fetch.start()
        self.update()
        w.refresh_details()

    @Slot(object, str, str, bool)
    def _taken(self, facade: FacadeFront, task_id: str, text: str, ok: bool) -> None:
        if facade is not self.window.facade:
            return  # a new run began meanwhile: its task of that ID is another
        when = time.strftime("%H:%M:%S")
        if ok:
            self._shown[task_id] = f"stack (taken at {when}, every thread of its worker):\n{text}"
        else:
            self._shown[task_id] = f"stack: not taken at {when}: {text}"
        self.window.controls.message.setText(
            f"stack of {task_id} shown in the Task pane" if ok else f"no stack: {text}"
        )
        self.window.refresh_details()

    @Slot()
    def _ended(self) -> None:
        for fetch in [f for f in self._running if f.isFinished()]:
            fetch.wait()  # returns at once: only then may the thread object go
            self._running.remove(fetch)
        self.update()

    @property
    def asking(self) -> bool:
        """Whether a request is on its way, or its answer not yet handled."""
        return bool(self._running)

    def section(self, task_id: str) -> str | None:
        """The Task pane's words on the task's stacks, if some were asked for."""
        return self._shown.get(task_id)

    @Slot()
    def clear(self) -> None:
        self._shown.clear()

    def update(self) -> None:
        """Enabled for exactly one selected RUNNING row of a run this window drives."""
        why = self._read_only()
        if why is None and self._running:
            why = "A stack is being taken: its answer comes in a moment."
        if why is None and self._selected_running() is None:
            why = "Select one RUNNING task: only a running task has a stack."
        self.button.setEnabled(why is None)
        self.button.setToolTip(
            why
            or "stack(): the Python stack of every thread of the worker running the selected "
            "task, taken now, shown in the Task pane: where a slow or hung task is."
        )

    def stop(self) -> None:
        """The window closes: waits for the request in flight (a couple of seconds at most)."""
        _wait_all(self._running)
        self._ended()

    def _read_only(self) -> str | None:
        recorded = getattr(self.window, "recorded", None)  # unset while the window is built
        if recorded is None or recorded.own_run:
            return None
        return f"{recorded.why} Its workers cannot be asked for their stacks from here."

    def _selected_running(self) -> Any:
        ids = self.window.selected_ids()
        if len(ids) != 1:
            return None
        task = self.window.known_task(ids[0])
        return task if task.state is TaskState.RUNNING else None


def _worker_of(task: Any) -> str:
    return "its worker" if task.worker_pid is None else f"worker pid {task.worker_pid}"


def _wait_all(running: list[StackFetch], *_args: object) -> None:
    """Waits for the threads still asking: a QThread destroyed running aborts the process."""
    for fetch in list(running):
        fetch.wait(_WAIT_MS)
