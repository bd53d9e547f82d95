"""The records and rules behind ``WorkingProcessFacade``: what each task and worker is
doing, which worker gets which task, and what a worker's death means for its tasks.

Data flow::

    process_task ── pickle now ──► queue ──(I/O thread: batches)──► task pipe ─► worker
                                                                                 │
    poll_events ◄── events ◄── records updated ◄── result pipe + sentinels ◄────┘

Callers only touch in-memory state under ``_lock``; they never read or write a pipe, so
they never block on a worker, whatever it is doing. The ``IOThread`` owns every file
descriptor; each round it asks this engine, under the lock, to send queued tasks in
batches and enforce timeouts, and hands it what the workers said and who died.

A worker holds a *window* of tasks it was sent, run in order; the head is running. Before
it unpickles a task it claims the task's sequence number in shared memory, so when it
dies the parent knows exactly which task it was running (CRASHED) and which it never
started (requeued, or LOST when no worker is left).
"""

from __future__ import annotations

import math
import pickle
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable

from app.core import console, stacks, timeouts, wire
from app.core.book import TaskBook
from app.core.errors import describe, describe_exit, signal_name
from app.core.events import TaskChanged, WorkerDied, WorkerLog
from app.core.fates import say_death, settle_running
from app.core.handle import KillReason, WorkerHandle
from app.core.io_thread import IOThread, WorkerLines
from app.core.lifecycle import Lifecycle
from app.core.states import TaskState
from app.core.task import Task

# Handled on the console thread: the I/O thread never waits for a slow terminal.
log = console.DeferredLogger("app.core")

_MAX_WINDOW = 256  # tasks a worker may hold ahead; must stay well below wire.RING
_AHEAD_SECONDS = 0.005  # how much work to queue ahead of a worker, by its task times
_APPLY_CHUNK = 512  # results applied per lock hold, so callers never wait long
_EARLY_DEATHS = 3  # replacements killed in a row before they were ready: give up then


def _nothing_to_release() -> None:
    """A local task taken back holds nothing outside the engine."""


# Killed for these, a worker is replaced whatever ``restart`` says.
_REPLACED = (KillReason.TIMEOUT, KillReason.CANCEL)


class Engine(TaskBook[bool]):
    """The records of one facade's tasks and workers, and the rules that move them.

    ``WorkerPool`` adds how workers start, are replaced and stop, and how a job ends.
    """

    def __init__(self, restart: bool, task_timeout: float | None, life: Lifecycle) -> None:
        super().__init__()
        self._restart = restart
        self._task_timeout = task_timeout
        self._life = life
        self._init_failures: dict[int, str] = {}  # slot -> how its initializer failed last
        self._queue: deque[tuple[int, Task]] = deque()  # held here, not yet sent
        self._next_seq = 1
        self._avg_run: float | None = None
        self._last_death = ""
        self._stop_requested = False  # collect found no work left: workers may leave
        self._ending: KillReason | None = None  # collect ran out or close(): kill, no requeue
        self._stop = False
        self._io_closed = False  # the I/O thread has taken its last look at the workers
        self._io = IOThread(self, self._lock)
        self._workers: list[WorkerHandle] = []
        self._stacks = stacks.StackDesk()

    @abstractmethod
    def replace_soon(self, old: WorkerHandle) -> None:
        """Starts a replacement for a dead worker, off the I/O thread."""

    # == how tasks reach the workers (the base's submit, cancel, resubmit) ==============
    def _queue_new(self, task: Task, payload: bytes, now: float) -> bool:
        task._payload = payload
        return self._enqueue(task, now, "")

    def _queue_again(self, task: Task) -> bool:
        return self._requeue(task, time.time(), "resubmitted")

    def _queued(self, task: Task) -> bool:
        return any(t is task for _, t in self._queue)

    def _hand_over(self, task: Task, ticket: bool) -> bool:
        return ticket  # queued, or not: the I/O thread does the rest

    def _withdraw(self, task: Task) -> Callable[[], None] | None:
        where = task._where
        if where >= 0 and not self._unclaim(self._workers[where], task):
            return None
        return _nothing_to_release

    # == bookkeeping (under _lock) ========================================================
    def _emit(self, task: Task, message: str = "", when: float | None = None) -> None:
        self._events.append(
            TaskChanged(task.ID, task.state, task.progress, message, when or time.time())
        )
        if self._futures:
            self._follow(task)

    def _enqueue(self, task: Task, now: float, message: str) -> bool:
        """Queues a recorded task, or marks it LOST when no worker can ever run it."""
        task.state = TaskState.PENDING
        task._seq = self._next_seq
        self._next_seq += 1
        task._where = -1
        self._emit(task, message, now)
        if not self._available():
            self._lose(task, now)
            self._notify()
            return False
        self._queue.append((task._seq, task))
        self._io.wake()
        self._notify()
        return True

    def _requeue(self, task: Task, now: float, message: str) -> bool:
        self._again(task, now)
        if task._payload is None:
            try:
                task._payload = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                task.error = f"the task cannot be pickled any more: {describe(exc)}"
                return False
        return self._enqueue(task, now, message)

    def _lose(self, task: Task, now: float) -> None:
        task.state = TaskState.LOST
        failures = self._init_failures
        if failures and len(failures) == len(self._workers):
            last = next(reversed(failures.values()))
            task.error = f"no worker left: the initializer failed in every worker ({last})"
        else:
            task.error = f"no worker alive to run it ({self._last_death or 'all workers ended'})"
        task.finished_at = now
        task._where = -1
        self._emit(task, task.error)

    def _available(self) -> bool:
        """Whether some worker is alive, or on its way: the view process_task uses.

        A worker killed for a task's timeout or a forced cancel counts: it is always
        replaced, even before its death is handled.
        """
        for h in self._workers:  # a plain loop, not any(): this runs on every submit
            if h.replacing or (h.alive and (h.kill_reason is None or h.kill_reason in _REPLACED)):
                return True
        return False

    def _cancel_unstarted(self, task: Task, now: float, error: str) -> None:
        task.state = TaskState.CANCELLED
        task.error = error
        task.finished_at = now
        task.started_at = None
        task._payload = None
        task._where = -1
        self._emit(task, error)

    def _unclaim(self, h: WorkerHandle, task: Task) -> bool:
        """Takes a task back from a worker's window before the worker claims it.

        The worker claims a task under the same lock, so exactly one side wins. Found by
        identity: a task's own ``==`` may raise (a dataclass with array fields).
        """
        if not h.unclaim(task._seq):
            return False
        del h.window[next(i for i, held in enumerate(h.window) if held is task)]
        task._where = -1
        return True

    def _window_limit(self) -> int:
        avg = self._avg_run
        if avg is None:  # nothing known of how long tasks take: send one at a time
            return 1
        return max(1, min(_MAX_WINDOW, 1 + int(_AHEAD_SECONDS / max(avg, 1e-7))))

    def _dispatch(self) -> None:
        """Moves queued tasks into the emptiest workers' windows, a batch per worker.

        A worker whose initializer has not returned gets nothing yet (another may be free
        now, and it may never be), and one with ``max_tasks_per_child`` never gets more
        than it will run before it leaves.
        """
        queue = self._queue
        if not queue:
            return
        # A worker stuck in a long task gets nothing more: the task may outlast all the rest.
        stuck = time.monotonic() - max(_AHEAD_SECONDS, 4 * (self._avg_run or 0.0))
        gated = self._life.initializer is not None
        live = [
            h
            for h in self._workers
            if h.alive
            and h.kill_reason is None
            and not h.stopping
            and h.recycling is None
            and (h.ready or not gated)
            and not (h.window and 0 < h.head_since < stuck)
            and not self._stacks.dooming(h)
        ]
        if not live:
            return
        limit = self._window_limit()
        max_tasks = self._life.max_tasks

        def room_of(w: WorkerHandle) -> int:
            room = limit - len(w.window)
            if max_tasks is not None:
                room = min(room, max_tasks - w.finished - len(w.window))
            return room

        while queue:
            h = max(live, key=room_of)  # the emptiest window, when no budget limits them
            room = room_of(h)
            if room <= 0:
                return
            share = room if len(live) == 1 else min(room, max(1, -(-len(queue) // len(live))))
            batch: list[tuple[int, bytes]] = []
            while queue and len(batch) < share:
                seq, task = queue.popleft()
                if task._seq != seq or task.state is not TaskState.PENDING:
                    continue  # cancelled or requeued since it was queued
                seq = task._seq = self._next_seq
                self._next_seq += 1
                task._where = h.index
                h.window.append(task)
                assert task._payload is not None
                batch.append((seq, task._payload))
            if not batch:
                return
            self._io.send(h, wire.encode_tasks(batch))

    def _start_head(self, h: WorkerHandle, started: float, now: float) -> None:
        """The head of a window runs once the worker says so, or once the task before it
        in the window is finished (a busy worker goes straight on to the next)."""
        if not h.window:
            return
        task = h.window[0]
        if task.state is not TaskState.PENDING:
            return
        task.state = TaskState.RUNNING
        task.started_at = started
        task.worker_pid = h.pid
        task.progress = None
        h.head_since = clock = time.monotonic()
        timeout = self._timeout_of(task)
        task._deadline = clock + timeout if timeout is not None else 0.0
        self._emit(task, "", now)

    def _unstart_head(self, h: WorkerHandle) -> None:
        """The worker leaves to be recycled: the next task of its window, shown RUNNING as
        it would have gone straight on to it, will never start there (no timeout, no
        stack); its death requeues it."""
        task = h.window[0] if h.window else None
        if task is not None and task.state is TaskState.RUNNING:
            task.state = TaskState.PENDING
            task.started_at = task.worker_pid = None
            task._deadline = h.head_since = 0.0
            self._emit(task)  # its death says it is requeued, and why

    def _finish(self, h: WorkerHandle, msg: wire.Result | wire.Failed, now: float) -> None:
        seq, started, finished = msg.seq, msg.started, msg.finished
        # A worker runs its window in order: the outcome is the head's, or a bug.
        task = h.window[0] if h.window else None
        if task is None or task._seq != seq:
            log.error("worker-%d sent an outcome for an unknown task (seq %d)", h.index, seq)
            return
        h.window.popleft()
        h.head_since = 0.0
        h.tasks_done += 1
        h.finished += 1
        task._where = -1
        task._payload = None
        task.worker_pid = h.pid
        task.started_at = started
        task.finished_at = finished
        if isinstance(msg, wire.Result):
            task.state = TaskState.DONE
            task.result = msg.value
            task.progress = 1.0
            self._emit(task, "", now)
        else:
            task.state = TaskState.FAILED
            task.error = msg.error
            task.traceback, task.exception = msg.traceback, msg.exception
            self._emit(task, msg.error, now)
        run = max(0.0, finished - started)
        avg = self._avg_run
        self._avg_run = run if avg is None else avg + (run - avg) * 0.2
        self._start_head(h, finished, now)

    def _apply(self, h: WorkerHandle, msg: wire.Message, logs: WorkerLines, now: float) -> None:
        """One message from a worker; ``now`` stamps its events, so they keep their order."""
        if type(msg) is wire.Result or type(msg) is wire.Failed:
            self._finish(h, msg, now)
        elif type(msg) is wire.Progress:
            task = h.window[0] if h.window else None
            if task is not None and task._seq == msg.seq and task.state is TaskState.RUNNING:
                task.progress = msg.fraction
                self._events.append(
                    TaskChanged(task.ID, task.state, msg.fraction, msg.message, now)
                )
        elif type(msg) is wire.Log:
            self._log_event(WorkerLog(h.pid, msg.level, msg.text, msg.created))
            logs.append((h.index, h.pid, msg.level, msg.created, msg.name, msg.text))
        elif type(msg) is wire.Began:
            if h.window and h.window[0]._seq == msg.seq:
                self._start_head(h, now, now)
        elif type(msg) is wire.Ready:
            h.ready = True
            h.initializing = False
            self._init_failures.pop(h.index, None)
        elif type(msg) is wire.Fatal:
            h.fatal = (msg.seq, msg.traceback)
        elif type(msg) is wire.Recycling:
            h.recycling = msg.why
            self._unstart_head(h)
        elif type(msg) is wire.Initializing:
            h.initializing = True
        elif type(msg) is wire.InitFailed:
            h.init_error = msg.error
        elif type(msg) is wire.Stack:
            self._stacks.answer(h, msg)

    def examine_death(self, h: WorkerHandle) -> None:
        """Nothing to gather here: ``WorkerPool`` adds the OOM evidence of telemetry."""

    def on_death_locked(self, h: WorkerHandle) -> bool:
        """Decides the fate of every task the dead worker held; True to replace it."""
        now = time.time()
        h.alive = False
        code = h.exitcode
        reason = h.kill_reason
        claimed = wire.claimed(h.shared)
        how = describe_exit(code)
        why = h.death_reason()
        oom_killed, evidence = h.oom
        self._events.append(
            WorkerDied(
                h.index,
                h.pid,
                code,
                signal_name(code),
                now,
                why,
                rss_bytes=h.rss_bytes,
                oom_killed=oom_killed,
                oom_evidence=evidence,
                cause=None if reason is None else reason.value,
            )
        )
        self._death_recorded()
        window = list(h.window)
        h.window.clear()
        ending = self._ending is not None
        crashed: Task | None = None
        unstarted: list[Task] = []
        for i, task in enumerate(window):
            task._where = -1
            if i == 0 and task._seq == claimed:
                crashed = task
            else:
                unstarted.append(task)
        if reason == KillReason.CANCEL:
            if crashed is not None and crashed._seq != h.cancel_seq:
                # The cancelled task ended just before the kill and the next had begun:
                # that one was not asked to stop, so it runs again elsewhere.
                unstarted.insert(0, crashed)
                crashed = None
            for i, task in enumerate(unstarted):
                if task._seq == h.cancel_seq:  # shown RUNNING, but the worker never began it
                    del unstarted[i]  # by position: a task's own == may raise
                    self._cancel_unstarted(task, now, "cancelled (force=True) before it ran")
                    break
        if crashed is not None:
            self._fate_of_running(h, crashed, reason, how, now)
        if reason != KillReason.STOP:
            self._last_death = f"worker-{h.index} (pid {h.pid}) {how}"
        replace = not ending and reason != KillReason.STOP and not self._stop_requested
        # One that said it was leaving to be recycled is replaced even if it then died
        # on its way out (a finalizer of its tasks, a signal).
        recycling = h.recycling is not None
        replace = replace and (reason in _REPLACED or self._restart or recycling)
        by_signal = code is not None and code < 0
        if why == "initializer failed":
            replace = False  # a new worker would fail the same way
            self._init_failed(h, how)
        elif not h.ready and reason is None and (not by_signal or h.early_deaths >= _EARLY_DEATHS):
            # It died before running anything, by itself (a script without its __main__
            # guard, an import that fails), or killed again and again while starting: a
            # replacement would die the same way. A signal from outside (the OOM killer,
            # a user) is another matter: that worker is replaced like any other.
            replace = False
            self._last_death = f"worker-{h.index} (pid {h.pid}) {how} while starting"
            hint = (
                f"it was killed {h.early_deaths + 1} times in a row while starting"
                if by_signal
                else "its output above says why; with the spawn start method a script must "
                "guard its entry point with if __name__ == '__main__':"
            )
            log.error(
                "worker-%d (pid %d) %s while starting, before running any task; not "
                "restarting it (%s)",
                h.index,
                h.pid,
                how,
                hint,
            )
        h.replacing = replace
        for task in unstarted:
            task.state = TaskState.PENDING
            task.started_at = None
        if ending:
            for task in unstarted:
                self._cancel_unstarted(
                    task, now, f"cancelled: {self._closing_reason} before it ran"
                )
        else:
            left = {"recycled": "was recycled", "initializer failed": "failed to initialize"}
            said = f"requeued: worker-{h.index} {left.get(why, 'died')} before starting it"
            for task in reversed(unstarted):
                task._seq = self._next_seq
                self._next_seq += 1
                self._queue.appendleft((task._seq, task))
                self._emit(task, said)
            if not self._available():
                self._lose_queue(now)
        say_death(h, why, how, crashed, replace)
        if unstarted and not ending and self._available():
            log.info("%d task(s) it had not started were requeued", len(unstarted))
        self._stacks.worker_died(h)
        self._notify()
        return replace

    def _init_failed(self, h: WorkerHandle, how: str) -> None:
        """Its initializer raised, or the worker died inside it: said once, not retried."""
        failure = h.init_error or f"the worker {how} inside it"
        self._init_failures[h.index] = failure
        self._last_death = f"worker-{h.index} (pid {h.pid}): its initializer failed ({failure})"
        log.error(
            "worker-%d (pid %d): its initializer %s failed (%s); not restarting it, a new "
            "worker would fail the same way",
            h.index,
            h.pid,
            self._life.name,
            failure,
        )

    def _fate_of_running(
        self, h: WorkerHandle, task: Task, reason: KillReason | None, how: str, now: float
    ) -> None:
        timeout = self._timeout_of(task)
        self._emit(task, settle_running(task, h, reason, how, now, timeout, self._closing_reason))

    def _cancel_running_locked(self, task: Task) -> bool:
        for h in self._workers:
            if h.alive and h.window and h.window[0] is task:
                if h.kill_reason is not None:
                    return False  # already being killed: its fate is decided there
                log.info(
                    "cancelling running task %r: killing worker-%d (pid %d)",
                    task.ID,
                    h.index,
                    h.pid,
                )
                h.cancel_seq = task._seq
                h.kill(KillReason.CANCEL)
                return True
        return False

    def _lose_queue(self, now: float) -> None:
        lost = 0
        while self._queue:
            seq, task = self._queue.popleft()
            if task._seq == seq and task.state is TaskState.PENDING:
                self._lose(task, now)
                lost += 1
        if lost:
            log.warning("%d queued task(s) LOST: no worker is left to run them", lost)

    # == the I/O thread's rounds (IOOwner) ================================================
    def io_stopped_locked(self) -> bool:
        return self._stop

    def io_round_locked(self) -> float | None:
        if self._stop_requested:
            self._send_stops()
        self._dispatch()
        self._expire()
        self._stacks.send_all()
        return self._next_deadline()

    def apply_messages(self, h: WorkerHandle, msgs: list[wire.Message], logs: WorkerLines) -> None:
        """Applies in short lock holds: callers never wait long."""
        for start in range(0, len(msgs), _APPLY_CHUNK):
            with self._lock:
                now = time.time()
                for msg in msgs[start : start + _APPLY_CHUNK]:
                    self._apply(h, msg, logs, now)
                self._notify()

    def _send_stops(self) -> None:
        for h in self._workers:
            if h.alive and not h.stopping and not h.window:
                h.stopping = True
                h.kill_reason = KillReason.STOP
                self._io.send(h, wire.encode_stop())

    def _expire(self) -> None:
        """Kills the workers whose tasks ran past their timeouts, in two steps: their
        stacks are asked for first, then the kill waits (never this thread) until they
        come or ``stacks.KILL_GRACE`` is over."""
        now = time.monotonic()
        for h in self._workers:
            if h.alive and h.kill_reason is None and h.window:
                task = h.window[0]
                if task.state is TaskState.RUNNING and 0 < task._deadline <= now:
                    h.stack_at_kill = self._stacks.before_kill(h, task, now)
                    if h.stack_at_kill is None:
                        continue
                    log.warning(
                        "task %r ran past its timeout; killing worker-%d (pid %d)",
                        task.ID,
                        h.index,
                        h.pid,
                    )
                    h.kill(KillReason.TIMEOUT)

    def _next_deadline(self) -> float | None:
        soonest = math.inf
        for h in self._workers:
            if h.alive and h.kill_reason is None and h.window:
                deadline = self._stacks.kill_deadline(h) or h.window[0]._deadline
                if deadline > 0:
                    soonest = min(soonest, deadline)
        if soonest == math.inf:
            return None
        return timeouts.remaining(soonest)

    def apply_output(
        self, h: WorkerHandle, lines: list[tuple[str, int, str]], logs: WorkerLines
    ) -> None:
        """Lines written to a worker's fds 1 and 2: events, and lines for the console."""
        if not lines:
            return
        now = time.time()
        with self._lock:
            for name, level, text in lines:
                self._log_event(WorkerLog(h.pid, level, text, now))
                logs.append((h.index, h.pid, level, now, name, text))
            self._notify()

    def io_ending_locked(self) -> list[WorkerHandle]:
        self._stop = True
        self._ending = self._ending or KillReason.CLOSE
        self._io_closed = True
        if self._accepting:  # it crashed: nothing can run tasks any more
            self._accepting = False
            self._closing_reason = "the facade's I/O thread ended"
        for h in self._workers:
            h.replacing = False
        return [h for h in self._workers if h.alive]

    def io_ended_locked(self) -> None:
        now = time.time()
        for seq, task in list(self._queue):
            if task._seq == seq and task.state is TaskState.PENDING:
                self._cancel_unstarted(task, now, f"cancelled: {self._closing_reason}")
        self._queue.clear()
        self._notify()
