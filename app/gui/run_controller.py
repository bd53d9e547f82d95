"""One run of the window: its facade, the threads that wait on it, and what can be done to it.

The controller owns everything that touches the facade over time: the ``FacadePoller``
that listens to it, the ``CollectThread`` that collects without freezing the GUI, bulk
submits in short slices, killing a worker from outside, restarting, a new run and the
final shutdown. The window only shows what its signals say.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core import CrashTask, SimpleTask, TaskState
from app.core.events import Event
from app.core.front import FacadeFront
from app.core.task import Task
from app.gui.backends import Backend
from app.gui.collector import CollectThread
from app.gui.poller import FacadePoller

log = logging.getLogger("app.gui")

SLICE_SECONDS = 0.008  # longest one slice of a bulk submit holds the event loop

RUNNING, COLLECTING, COLLECTED = "running", "collecting", "collected"


@dataclass(frozen=True)
class RunChoices:
    """What the user chose for the next run (the window's controls)."""

    workers: int
    restart: bool
    task_timeout: float | None  # None: no limit
    collect_timeout: float | None  # None: wait for ever
    record: bool = False  # recorded in the runs folder


class RunController(QObject):
    """Owns the current run: its facade, poller, collect thread and bulk submits.

    Every method runs in the GUI thread; the poller's batches arrive by queued connection
    and leave as ``events``.
    """

    events = Signal(list)  # list[Event]: one batch, as the poller read it
    run_replaced = Signal()  # begin_run ended the current run; the new one starts next
    run_started = Signal(object)  # the new run's FacadeFront
    mode_changed = Signal(str)  # RUNNING, COLLECTING or COLLECTED
    facade_called = Signal(str)  # the facade call an action made, with what it returned
    message_posted = Signal(str)  # a word to the user about the last action

    def __init__(
        self, backend: Backend, choices: Callable[[], RunChoices], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("runController")
        self.backend = backend
        self._choices = choices
        self._facade: FacadeFront | None = None
        self._poller: FacadePoller | None = None
        self._collector: CollectThread | None = None
        self._to_submit: deque[tuple[int, float]] = deque()  # (count, duration) to submit
        self._auto_id = 0
        self._crash_id = 0
        self.mode = RUNNING
        self.auto_restart = False  # the current run's, for the crash explainer

    @property
    def facade(self) -> FacadeFront:
        """The current run's facade (local processes or a Dask cluster)."""
        assert self._facade is not None, "start_run() comes first"
        return self._facade

    # == runs =============================================================================
    def start_run(self, workers: int | None = None, restart: bool | None = None) -> FacadeFront:
        """A new facade; what is not given comes from the user's choices."""
        chosen = self._choices()
        workers = workers or chosen.workers
        restart = chosen.restart if restart is None else restart
        timeout = chosen.task_timeout
        record = chosen.record
        try:
            self._facade = self.backend.start(workers, restart, timeout, record)
        except OSError as exc:  # the runs folder cannot be written: the run goes on unrecorded
            if not record:
                raise
            record = False
            self._facade = self.backend.start(workers, restart, timeout, record)
            log.warning("this run is not recorded: %s", exc)
            self.message_posted.emit(f"This run is not recorded: {exc}")
        self.facade_called.emit(self.backend.code(workers, restart, timeout, record))
        self.auto_restart = restart
        self._auto_id = 0
        self._crash_id = 0
        self.run_started.emit(self._facade)
        self._poller = FacadePoller(self._facade, self)
        self._poller.events_polled.connect(self._on_polled)
        self._poller.start()
        self._set_mode(RUNNING)
        log.info(
            "new run: %d worker(s), auto-restart %s, task timeout %s",
            workers,
            "on" if restart else "off",
            f"{timeout} s" if timeout else "none",
        )
        return self._facade

    def begin_run(self, workers: int | None = None, restart: bool | None = None) -> FacadeFront:
        """Ends the current run at once, whatever it is doing, and starts a fresh one."""
        self._end_run()
        self.run_replaced.emit()
        return self.start_run(workers, restart)

    def _end_run(self) -> None:
        """Nothing of the current run goes on: its bulk submits dropped, its facade closed
        (which ends a collect in progress too), its collect thread and poller stopped."""
        self._to_submit.clear()
        if self._facade is not None:
            self._facade.close()
        self._end_collect()
        if self._poller is not None:
            self._poller.stop()
            self._poller.deleteLater()
            self._poller = None

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_changed.emit(mode)

    @Slot(list)
    def _on_polled(self, events: list[Event]) -> None:
        """Passes on the current run's batches. A replaced run's poller may have one still
        queued (its last, read while it stopped): that one is dropped, because it would
        mark the new run's tasks of the same ID and tell of deaths the new run never had."""
        if self.sender() is self._poller:
            self.events.emit(events)

    # == submitting =======================================================================
    def next_auto_id(self) -> str:
        """``task-N`` for the lowest N above the last one given that no task holds."""
        while True:
            self._auto_id += 1
            candidate = f"task-{self._auto_id}"
            try:
                self.facade.task(candidate)
            except KeyError:
                return candidate

    def submit(self, task_id: str, duration: float) -> tuple[Task, bool]:
        """Submits one ``SimpleTask`` ("" for the next ``task-N``) and says the call;
        the task and what ``process_task`` returned."""
        task = SimpleTask(task_id or self.next_auto_id(), duration)
        accepted = self.facade.process_task(task)
        self._show_call(f"w.process_task(SimpleTask({task.ID!r}, {duration}))", accepted)
        return task, accepted

    def submit_many(self, count: int, duration: float) -> None:
        """Submits ``count`` tasks in short slices, so the window stays smooth meanwhile."""
        self._show_call(
            f"for n in range({count}): w.process_task(SimpleTask(f'task-{{n}}', {duration}))"
        )
        already = sum(n for n, _ in self._to_submit)
        self._to_submit.append((count, duration))
        if not already:
            QTimer.singleShot(0, self._submit_slice)

    @Slot()
    def _submit_slice(self) -> None:
        if not self._to_submit:
            return
        count, duration = self._to_submit[0]
        submit = self.facade.process_task
        end = time.perf_counter() + SLICE_SECONDS
        sent = 0
        while sent < count and (sent % 64 or time.perf_counter() < end):
            task = SimpleTask(self.next_auto_id(), duration)
            if not submit(task) and task.state is TaskState.REJECTED:
                self.message_posted.emit(f"{task.ID}: refused: {task.error}")
                self._to_submit.clear()
                return
            sent += 1
        if count > sent:
            self._to_submit[0] = (count - sent, duration)
        else:
            self._to_submit.popleft()
        if self._to_submit:
            QTimer.singleShot(0, self._submit_slice)

    # == crashes ==========================================================================
    def crash(self, how: str | None) -> None:
        """A ``CrashTask`` that ends its worker ``how``; None kills the worker from outside."""
        if how is None:
            self.kill_worker_now()
            return
        self._crash_id += 1
        task = CrashTask(f"crash-{self._crash_id}", how)
        accepted = self.facade.process_task(task)
        self._show_call(f"w.process_task(CrashTask({task.ID!r}, {how!r}))", accepted)
        if not accepted:
            self.message_posted.emit(f"{task.ID}: {task.state.name}: {task.error}")

    @Slot()
    def kill_worker_now(self) -> None:
        """SIGKILL from outside, as an operator or the OOM killer would: busy worker first."""
        if not self.backend.pids_are_local:
            self.message_posted.emit(
                "the cluster's workers run on other machines: no pid to signal from here"
            )
            return
        infos = [i for i in self.facade.worker_info() if i.alive and i.pid is not None]
        if not infos:
            self.message_posted.emit("no worker is alive to kill")
            return
        victim = next((i for i in infos if i.task_id is not None), infos[0])
        assert victim.pid is not None
        log.info("killing worker-%d (pid %d) with SIGKILL", victim.index, victim.pid)
        self._show_call(f"os.kill({victim.pid}, signal.SIGKILL)  # from outside")
        try:
            os.kill(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            self.message_posted.emit(f"worker-{victim.index} had already exited")

    @Slot()
    def restart_workers(self) -> None:
        """Replaces dead workers and requeues the tasks they lost."""
        started = self.facade.restart_worker(requeue_lost=True)
        self._show_call("w.restart_worker(requeue_lost=True)", started)
        self.message_posted.emit(
            f"started {started} worker(s); lost tasks requeued"
            if started
            else "every worker is alive: nothing to restart"
        )

    # == collecting =======================================================================
    def collect(self) -> None:
        """``collect_tasks`` on a thread, with the chosen timeout; once at a time."""
        if self._collector is not None:
            return
        self._to_submit.clear()
        timeout = self._choices().collect_timeout
        self._collector = CollectThread(self.facade, timeout, self)
        self._show_call(f"tasks = w.collect_tasks({f'timeout={timeout}' if timeout else ''})")
        self._collector.finished.connect(self._collect_finished)
        self._set_mode(COLLECTING)
        log.info(
            "collecting%s", f" (workers killed after {timeout} s)" if timeout else ", no timeout"
        )
        self._collector.start()

    @Slot()
    def kill_now(self) -> None:
        """Ends a collect now: the running task TIMED_OUT, the queued ones CANCELLED."""
        self._show_call("w.close()")
        self.facade.close()

    @Slot()
    def _collect_finished(self) -> None:
        """The current collect has ended. A replaced run's collect thread may have its
        ``finished`` still queued: that one is ignored, or it would reap (and wait in the
        GUI thread for) the collect of the run that replaced it."""
        if self.sender() is self._collector and self._end_collect():
            self._set_mode(COLLECTED)

    def _end_collect(self) -> bool:
        """Reaps the collect thread and stops the poller; False if no collect was on."""
        collector = self._collector
        if collector is None:
            return False
        collector.wait()
        if collector.error:
            log.error("collect failed: %s", collector.error)
        self._collector = None
        collector.deleteLater()
        if self._poller is not None:
            self._poller.stop()  # its last batch is already queued for _on_polled
        return True

    # == the end ==========================================================================
    def shutdown(self) -> None:
        """Leaves nothing running: no thread, no worker, no cluster."""
        self._end_run()
        self.backend.close()

    def _show_call(self, call: str, returned: object = ...) -> None:
        self.facade_called.emit(call if returned is ... else f"{call}  ->  {returned!r}")
