"""The worker processes of one ``WorkingProcessFacade`` over their life, and the end of
its job.

Workers start with the facade; a dead one is replaced on a thread of its own (starting
a process may wait on a terminal, and the I/O thread must not); ``collect`` waits for the
work to end, or ends it, then lets idle workers leave, kills what is left and waits for
the I/O thread to bury them all. Every wait here survives a dead I/O thread. With
telemetry, a ``Sampler`` thread samples each live worker's memory and CPU use, and a
dead worker's OOM evidence is gathered before its death is reported.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable

from app.core import console, stacks, timeouts
from app.core.engine import Engine
from app.core.errors import describe, signal_name
from app.core.events import WorkerDied, WorkerInfo, WorkerStarted, WorkerStats
from app.core.fates import KILLED_FOR
from app.core.handle import KillReason, WorkerHandle
from app.core.lifecycle import Lifecycle
from app.core.states import TaskState
from app.core.telemetry import Sample, Sampler

log = console.DeferredLogger("app.core")

_RESPAWN_WAIT = 5.0  # longest the end of a job waits for a replacement on its way
_STOP_GRACE = 5.0  # longest an idle worker gets to leave cleanly at the end of a collect
_STOP_GRACE_NOW = 0.2  # the same for close(), or a collect whose timeout has run out
_SAMPLER_JOIN = 2.0  # longest the end of a job waits for the sampler's last round


class WorkerPool(Engine):
    """All state and I/O of one facade. Lives as long as its I/O thread, not the facade."""

    def __init__(
        self,
        workers: int,
        start_method: str,
        restart: bool,
        task_timeout: float | None,
        life: Lifecycle,
        telemetry: bool = True,
    ) -> None:
        super().__init__(restart, task_timeout, life)
        self._ctx = multiprocessing.get_context(start_method)
        self._respawning = 0  # replacements being started on threads of their own
        self._sampler = Sampler(self) if telemetry else None
        try:
            for index in range(workers):
                self._workers.append(self._spawn(index, 0))
        except BaseException:
            self._kill_all_now()
            self._io.close_unstarted()
            if self._sampler is not None:
                self._sampler.join(0)  # never started: releases the kernel's log
            raise
        self._io.start()
        if self._sampler is not None:
            self._sampler.start()

    # == caller side ======================================================================
    def restart_workers(self, requeue_lost: bool) -> int:
        with self._lock:
            if not self._accepting:
                raise RuntimeError(f"cannot restart workers: {self._closing_reason}")
            dead = [h for h in self._workers if not h.alive and not h.replacing]
            for h in dead:
                h.replacing = True
        started = 0
        for h in dead:
            if self._replace(h):
                started += 1
        with self._lock:
            if requeue_lost and self._available():
                now = time.time()
                for task in self._requeueable_lost():
                    self._requeue(task, now, "requeued after restart_worker()")
            self._io.wake()
        return started

    def worker_info(self) -> list[WorkerInfo]:
        with self._lock:
            return [self._info(h) for h in self._workers]

    def stack(self, task_id: str, timeout: float) -> str:
        """Asks the stack thread of the worker running the task, and waits for it."""
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            h = next((h for h in self._workers if task and stacks.runs(h, task)), None)
            if task is None or h is None or not h.alive or h.kill_reason is not None:
                raise ValueError(stacks.not_running(task_id, task))
            request = self._stacks.ask(h, task)
            self._io.wake()
            try:
                self._wait(lambda: request.done, time.monotonic() + timeout)
            finally:
                self._stacks.forget(request)
            if request.text is not None:
                return request.text
            if request.error is None and not stacks.runs(h, task):
                request.error = stacks.not_running(task_id, task)
        if request.error is not None:
            raise ValueError(request.error)
        raise TimeoutError(
            f"worker-{h.index} (pid {h.pid}) did not answer within {timeout} s: its task "
            "holds the GIL (one long call into C code), or the machine is overloaded"
        )

    # == the end of the job (under _lock) ================================================
    def _await_collector(self) -> None:
        self._wait(lambda: self._final is not None or not self._collecting, None)

    def _await_io_thread(self) -> None:
        while not self._io.wait_done(timeouts.MAX_SLICE):
            pass
        if self._sampler is not None:
            self._sampler.join(_SAMPLER_JOIN)

    def _end_job(self, timeout: float | None, closing: bool) -> Callable[[], None]:
        """Waits for the work to end (or ends it), stops the workers and the I/O thread.

        Each step may be interrupted and run again by the next collect.
        """
        reason = KillReason.CLOSE if closing else KillReason.COLLECT
        self._accepting = False
        self._closing_reason = (
            "the facade is collecting" if reason == KillReason.COLLECT else "the facade was closed"
        )
        self._io.wake()
        until = timeouts.deadline(timeout)
        self._wait(lambda: not self._has_work() or not self._available() or self._kill_now, until)
        if self._has_work():
            self._kill_everything(KillReason.KILL_NOW if self._kill_now else reason, timeout)
        else:
            self._stop_requested = True
            self._io.wake()
        # A replacement on its way is stopped (or killed) like the others once it is in
        # place; one whose start hangs (a terminal that does not drain) is not waited for.
        now = time.monotonic()
        respawned_by = now + _RESPAWN_WAIT
        if until is not None:  # a spawn takes milliseconds: a second is plenty even then
            respawned_by = min(respawned_by, max(until, now + 1.0))
        self._wait(lambda: self._respawning == 0, respawned_by)
        # Idle workers leave cleanly; one that cannot (a task left a non-daemon thread
        # running) is killed once the grace, or what is left of the timeout, is over.
        now = time.monotonic()
        grace = now + _STOP_GRACE
        if self._kill_now or until is not None:
            grace = min(grace, max(now + _STOP_GRACE_NOW, until or now))
        if not self._wait(lambda: not self._alive_handles(), grace):
            self._kill_everything(KillReason.STOP, timeout)
            self._wait(lambda: not self._alive_handles(), None)
        self._closing_reason = (
            "the facade was already collected"
            if reason == KillReason.COLLECT
            else "the facade was closed"
        )
        self._stop = True
        self._io.wake()
        return self._await_io_thread

    def abandon(self) -> None:
        """Runs when the facade is garbage-collected or at exit without a collect."""
        if self._final is not None or self._stop:
            self.end_recording("abandoned")
            return
        alive = [h for h in self._workers if h.alive]
        unfinished = sum(1 for t in self._tasks.values() if not t.state.is_final)
        if alive:
            log.warning(
                "WorkingProcessFacade dropped without collect_tasks() or close(): "
                "killing %d worker(s); %d unfinished task(s) are abandoned",
                len(alive),
                unfinished,
            )
        self._accepting = False
        self._closing_reason = "the facade was dropped"
        for h in alive:
            h.kill(KillReason.CLOSE)
        self._stop = True
        self._io.wake()
        if self._settler is not None:
            self._settler.stop()
        self._io.join(10.0)
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler.join(_SAMPLER_JOIN)
        self.end_recording("abandoned")

    # == bookkeeping (under _lock) ========================================================
    def _alive_handles(self) -> list[WorkerHandle]:
        return [h for h in self._workers if h.alive or h.replacing]

    def _has_work(self) -> bool:
        if any(h.window for h in self._workers):
            return True
        return any(t._seq == seq and t.state is TaskState.PENDING for seq, t in self._queue)

    def _info(self, h: WorkerHandle) -> WorkerInfo:
        head = h.window[0] if h.window else None
        running = head is not None and head.state is TaskState.RUNNING
        alive = h.alive and h.kill_reason is None
        return WorkerInfo(
            index=h.index,
            pid=h.pid,
            alive=alive,
            exitcode=h.exitcode,
            task_id=head.ID if running and head is not None else None,
            tasks_done=h.tasks_done,
            restarts=h.restarts,
            ready=h.ready,
            queued=len(h.window) - running,
            rss_bytes=h.rss_bytes if alive else None,  # a dead worker has no memory
            cpu_percent=h.cpu_percent if alive else None,
        )

    def _wait_for(self, predicate: Callable[[], bool]) -> None:
        self._wait(predicate, None)

    def _wait(self, predicate: Callable[[], bool], deadline: float | None) -> bool:
        """Waits on the condition; survives a dead I/O thread instead of hanging."""
        while not predicate():
            if not self._stop and not self._io.is_alive():
                self._io_thread_died()
                return predicate()
            remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if remaining <= 0:
                return predicate()
            self._waiting += 1
            try:
                self._changed.wait(remaining)
            finally:
                self._waiting -= 1
        return True

    def _io_thread_died(self) -> None:
        log.critical("the facade's I/O thread died; killing its workers")
        self._kill_all_now()
        now = time.time()
        for task in self._tasks.values():
            if not task.state.is_final:
                task.state = TaskState.LOST
                task.error = "the facade's I/O thread died (a bug): its fate is unknown"
                task.finished_at = now
                self._emit(task, task.error)
        for h in self._workers:
            h.alive = False
            h.replacing = False
        self._queue.clear()

    def _kill_all_now(self) -> None:
        for h in self._workers:
            if h.alive:
                h.kill(KillReason.CLOSE)
                with contextlib.suppress(Exception):
                    h.reap()
                h.alive = False

    def _kill_everything(self, reason: KillReason, timeout: float | None) -> None:
        """Ends the job now: running tasks TIMED_OUT, everything queued CANCELLED."""
        self._ending = reason
        now = time.time()
        why = KILLED_FOR[reason]
        if reason == KillReason.COLLECT:
            why = f"collect_tasks(timeout={timeout}) ran out"
        if reason != KillReason.STOP:  # a stop has nothing left to refuse or cancel
            self._closing_reason = why
        while self._queue:
            seq, task = self._queue.popleft()
            if task._seq == seq and task.state is TaskState.PENDING:
                self._cancel_unstarted(task, now, f"cancelled: {why} before it ran")
        for h in self._workers:
            h.replacing = False
            if h.alive:
                h.kill(reason)
        self._notify()

    # == workers: started, replaced ======================================================
    def _spawn(self, index: int, restarts: int) -> WorkerHandle:
        h = WorkerHandle(self._ctx, index, restarts, self._life)
        if self._sampler is not None:
            self._sampler.register(h)
        with self._lock:
            self._io.add(h)
            self._events.append(WorkerStarted(index, h.pid, time.time()))
            self._io.wake()
        log.info("worker-%d started (pid %d)", index, h.pid)
        return h

    def replace_soon(self, old: WorkerHandle) -> None:
        """Replaces a dead worker from a thread of its own: starting a process flushes the
        parent's stdout and stderr (multiprocessing does), which waits as long as a
        terminal that does not drain; the I/O thread must not."""
        thread = threading.Thread(
            target=self._respawn, args=(old,), name="WorkingProcessFacade-respawn", daemon=True
        )
        with self._lock:
            self._respawning += 1  # the end of the job waits for it
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had (a limit, or the interpreter ends)
            log.error("could not start a replacement for worker-%d: %s", old.index, exc)
            with self._lock:
                self._last_death = f"worker-{old.index}'s replacement could not start: {exc}"
                self._respawning -= 1
                old.replacing = False
                if not self._available():
                    self._lose_queue(time.time())
                self._notify()

    def _respawn(self, old: WorkerHandle) -> None:
        try:
            self._replace(old)
        finally:
            with self._lock:
                self._respawning -= 1
                self._notify()

    def _replace(self, old: WorkerHandle) -> bool:
        try:
            new = self._spawn(old.index, old.restarts + 1)
        except Exception as exc:
            log.error("could not start a replacement for worker-%d: %s", old.index, describe(exc))
            with self._lock:
                self._last_death = (
                    f"worker-{old.index}'s replacement could not start: {describe(exc)}"
                )
                old.replacing = False
                if not self._available():
                    self._lose_queue(time.time())
                self._notify()
            return False
        with self._lock:
            new.tasks_done = old.tasks_done
            new.early_deaths = 0 if old.ready else old.early_deaths + 1
            self._workers[old.index] = new
            old.replacing = False
            if self._ending is not None:  # the job ended while it was starting
                new.kill(self._ending)
            elif not self._available():  # it died before it was in place
                self._lose_queue(time.time())
            orphan = self._io_closed  # no I/O thread left to bury it: do it here
            self._notify()
        if orphan:
            new.end_group()
            code = new.reap()
            with self._lock:
                self._events.append(
                    WorkerDied(new.index, new.pid, code, signal_name(code), time.time(), "killed")
                )
                self._notify()
        return True

    # == telemetry (TelemetryOwner, and the I/O thread's look at a death) ===============
    def sampled_workers(self) -> list[WorkerHandle]:
        with self._lock:
            return [h for h in self._workers if h.alive and h.kill_reason is None]

    def take_samples(self, samples: list[Sample]) -> None:
        with self._lock:
            for s in samples:
                h = s.handle
                if not h.alive or self._workers[h.index] is not h:
                    continue  # died (or was replaced) while it was being sampled
                h.rss_bytes, h.cpu_percent = s.rss_bytes, s.cpu_percent
                self._events.append(WorkerStats(h.index, h.pid, s.rss_bytes, s.cpu_percent, s.time))
            self._notify()

    def examine_death(self, h: WorkerHandle) -> None:
        if self._sampler is not None:
            reason = h.kill_reason
            h.oom = self._sampler.clues(h, None if reason is None else KILLED_FOR[reason])

    def io_ending_locked(self) -> list[WorkerHandle]:
        if self._sampler is not None:
            self._sampler.stop()
        return super().io_ending_locked()
