"""The machinery behind ``DaskFacade``: what talks to a ``distributed.Client`` (submits,
fetches, listens, watches timeouts, disconnects) around the records of ``DaskRecords``.

Data flow::

    process_task ── pickle now ──► client.submit(run_task) ──► scheduler ──► worker
                                                                               │
    poll_events ◄── events ◄── records ◄── applier thread ◄── _inbox ◄─────────┤
                                              │    ▲          ended futures,   │
                                              ▼    │          topic events:    │
                                           fetcher thread     began, progress, │
                                           (gather results)   lines, ended     │
                                                              (run_task);      │
                                                              workers joined / │
                                                              left, exit codes │
                                                              (plugins) ◄──────┘

Dask owns scheduling, retries and restarts; the records are the same as the local
engine's, and what Dask reports becomes the same events. Dask's handlers run on the
client's I/O loop (for a LocalCluster, the scheduler's loop too) and its callback
thread: they only queue what they are told. One applier thread updates the records
under ``_lock``; a fetcher thread waits on the cluster for results. Nothing holding
``_lock`` ever waits on the cluster.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from queue import SimpleQueue
from typing import Any

from app.cluster.plugins import (
    EXITS_TOPIC,
    WORKERS_TOPIC,
    ExitCodes,
    WorkerMembership,
    scheduler_now,
)
from app.cluster.records import DaskRecords, Ticket
from app.cluster.runner import TOPIC, run_task, stack_of
from app.core import console, stacks, timeouts
from app.core.book import pickled
from app.core.errors import describe
from app.core.events import TaskChanged, WorkerLog
from app.core.states import TaskState
from app.core.task import Task

log = logging.getLogger("app.cluster")

_TOPICS = (TOPIC, WORKERS_TOPIC, EXITS_TOPIC)
_BATCH = 1000  # reports applied, and ended futures fetched, per round at most
_REFETCHES = 3  # times a result lost with its worker is waited for again
_FETCH_TRIES = 8  # gathers tried, with a growing pause, before results count as lost


class DaskEngine(DaskRecords):
    """All state of one ``DaskFacade``; never refers back to the facade."""

    def __init__(self, client: Any, cluster: Any, owns: bool, task_timeout: float | None) -> None:
        super().__init__(task_timeout)
        self.client = client
        self.cluster = cluster  # a cluster object it may resize (made or shared), else None
        self._owns = owns
        # What Dask reports (on its I/O loop and callback thread) only goes into _inbox;
        # one thread applies it under _lock (see _apply_loop).
        self._inbox: SimpleQueue[tuple[str, Any]] = SimpleQueue()
        self._to_fetch: SimpleQueue[list[Any] | None] = SimpleQueue()
        for target, name in (
            (self._apply_loop, "DaskFacade-events"),
            (self._fetch_loop, "DaskFacade-results"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()
        for topic in _TOPICS:
            client.subscribe_topic(topic, partial(_post, self._inbox, topic))
        client.register_plugin(WorkerMembership())
        client.register_plugin(ExitCodes())
        known, allowed = client.run_on_scheduler(scheduler_now)
        self._allowed_failures = allowed
        self.workers_at_start = len(known)  # for the run's recording: no second round trip
        with self._lock:
            for address, (pid, name, slot) in sorted(known.items(), key=lambda kv: str(kv[1][1])):
                self._joined(address, pid, name, slot, time.time())
        self._watcher = threading.Thread(
            target=self._watch, name="DaskFacade-timeouts", daemon=True
        )
        self._watcher.start()

    # == how tasks reach the cluster (the base's submit, cancel, resubmit) ==============
    def _queue_new(self, task: Task, payload: bytes, now: float) -> Ticket:
        return self._queue(task, now, ""), payload

    def _queue_again(self, task: Task) -> Ticket:
        payload, error = pickled(task)
        if error is not None:
            task.error = f"not resubmitted: {error}"
            return None
        now = time.time()
        self._again(task, now)
        return self._queue(task, now, "resubmitted"), payload

    def _hand_over(self, task: Task, ticket: Ticket) -> bool:
        if ticket is None:
            return False
        key, payload = ticket
        self._send(task, key, payload)
        return True

    def _withdraw(self, task: Task) -> Callable[[], None] | None:
        """Always in time: Dask runs a task only once a worker begins it (RUNNING)."""
        return partial(_release, self._forget(task))

    # == caller side ======================================================================
    def restart_workers(self, requeue_lost: bool) -> int:
        """Brings a cluster this engine made back to its size; LOST tasks run again."""
        with self._lock:
            if not self._accepting:
                raise RuntimeError(f"cannot restart workers: {self._closing_reason}")
            missing = sum(1 for s in self._slots if not s.alive)
            lost = [t.ID for t in self._requeueable_lost()]
        started = 0
        if missing and self.cluster is not None:
            self.cluster.scale(len(self._slots))
            started = missing
        if requeue_lost:
            for task_id in lost:
                self.resubmit(task_id)
        return started

    def stack(self, task_id: str, timeout: float) -> str:
        """Every thread's stack on the Dask worker running the task, by ``Client.run``
        (Dask's own ``Client.call_stack`` shows only the task's thread). Dask answers on
        the worker's event loop: a task holding the GIL keeps it from answering."""
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            running = task is not None and task.state is TaskState.RUNNING
            address = self._running_on.get(task_id) if running else None
            key = self._key_of.get(task_id) if running else None
            if task is None or address is None or key is None:
                raise ValueError(stacks.not_running(task_id, task))
        try:
            answers = self.client.run(stack_of, key, workers=[address], callback_timeout=timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the Dask worker at {address} did not answer within {timeout} s: its task "
                "holds the GIL (one long call into C code), or the worker is overloaded"
            ) from None
        except Exception as exc:
            with self._lock:
                if self._current(key) is task and self._running_on.get(task_id) == address:
                    raise RuntimeError(
                        f"the Dask worker at {address} could not be asked: {describe(exc)}"
                    ) from exc
            answers = {}
        text = answers.get(address)
        if text is None:
            state = task.state
            raise ValueError(
                f"task {task_id!r} is ending: its worker no longer runs it"
                if state is TaskState.RUNNING
                else f"task {task_id!r} ended ({state.name}) before its worker answered"
            )
        return str(text)

    def _await_collector(self) -> None:
        self._changed.wait(timeouts.MAX_SLICE)

    def _end_job(self, timeout: float | None, closing: bool) -> Callable[[], None]:
        """Waits for every task's fate, or ends the unfinished ones."""
        self._accepting = False
        self._closing_reason = "the facade was closed" if closing else "the facade is collecting"
        until = timeouts.deadline(timeout)
        while not self._kill_now and self._live:
            left = timeouts.remaining(until)
            if left <= 0:
                break
            self._changed.wait(left)
        why = (
            "the facade was closed"
            if closing or self._kill_now
            else f"collect_tasks(timeout={timeout}) ran out"
        )
        dropped, busy = self._end_unfinished(why)
        return partial(self._let_go, dropped, busy)

    def _let_go(self, dropped: list[Any], busy: list[str]) -> None:
        _release(dropped)
        self._shut_down(busy)

    def _collected(self, closing: bool) -> None:
        self._closing_reason = (
            "the facade was closed" if closing else "the facade was already collected"
        )

    def abandon(self) -> None:
        """The facade was dropped without a collect: end quietly, leave no process."""
        if self._final is not None:
            return
        with self._lock:
            self._accepting = False
            self._closing_reason = "the facade was dropped"
            self._watch_stop = True
            self._timer.notify_all()
        with contextlib.suppress(Exception):
            self._shut_down([])
        if self._settler is not None:
            self._settler.stop()
        self.end_recording("abandoned")

    # == what Dask reports (client I/O loop and callback thread) ==========================
    def _send(self, task: Task, key: str, payload: bytes) -> None:
        """Hands the attempt to Dask (outside the lock: it may talk to the loop)."""
        try:
            future = self.client.submit(run_task, payload, key, key=key, pure=False)
        except Exception as exc:
            with self._lock:
                if self._current(key) is task and task.state is TaskState.PENDING:
                    task.state = TaskState.LOST
                    task.error = f"the cluster did not take it: {describe(exc)}"
                    task.finished_at = time.time()
                    self._emit(task, task.error)
                    self._forget(task)
            return
        with self._lock:
            if self._current(key) is not task:  # cancelled meanwhile
                stale = future
            else:
                self._dask[task.ID] = future
                stale = None
        if stale is not None:
            _release([stale])
            return
        future.add_done_callback(self._on_done)

    def _on_done(self, future: Any) -> None:
        """A Dask future ended (Dask's callback thread)."""
        self._inbox.put(("done", future))

    def _apply_loop(self) -> None:
        """Applies what Dask reported, in arrival order, on this thread alone.

        The client's I/O loop (which, for a LocalCluster, also runs the scheduler) only
        appends to ``_inbox``: a handler waiting for ``_lock`` would stall the scheduler.
        This thread never waits on the cluster either: results are fetched by
        ``_fetch_loop``, whose answers come back through ``_inbox`` too.
        """
        while True:
            batch = [self._inbox.get()]
            while len(batch) < _BATCH and not self._inbox.empty():
                batch.append(self._inbox.get())
            to_fetch: list[Any] = []
            for kind, item in batch:
                if kind == "stop":
                    self._to_fetch.put(None)
                    return
                try:
                    self._apply_one(kind, item, to_fetch)
                except Exception:  # one bad report must not silence all the next ones
                    log.exception("could not apply a %s report from Dask", kind)
            if to_fetch:
                self._to_fetch.put(to_fetch)

    def _apply_one(self, kind: str, item: Any, to_fetch: list[Any]) -> None:
        if kind == "done":
            if item.status == "finished":
                to_fetch.append(item)
            else:
                self._settle(item, None)
        elif kind == "fetched":
            futures, values = item
            for future in futures:
                self._settle(future, values.get(future.key))
        elif kind == TOPIC:
            self._task_event(item[1])
        elif kind == WORKERS_TOPIC:
            self._membership(item[1])
        elif kind == EXITS_TOPIC:
            self._exit_code(item[1])

    def _fetch_loop(self) -> None:
        """Fetches results: one ``gather`` per batch of ended futures, not one ``result()``
        each (every fetch is a round trip to the workers). A gather waits while a result
        lost with its worker is computed again: only this thread waits."""
        while True:
            futures = self._to_fetch.get()
            if futures is None:
                return
            while not self._to_fetch.empty() and len(futures) < _BATCH:
                more = self._to_fetch.get()
                if more is None:
                    self._to_fetch.put(None)
                    break
                futures.extend(more)
            values: dict[str, Any] = {}
            for attempt in range(_FETCH_TRIES):
                try:
                    values = self.client.gather({f.key: f for f in futures}, errors="skip")
                    break
                except Exception as exc:  # a hiccup of the connection: try again shortly
                    if self._watch_stop or attempt == _FETCH_TRIES - 1:
                        log.warning("could not fetch %d result(s): %s", len(futures), exc)
                        break
                    time.sleep(0.1 * (attempt + 1))
            # Unpickled here, not under the lock: a result may be large.
            values = {key: _decoded(value) for key, value in values.items()}
            self._inbox.put(("fetched", (futures, values)))

    def _settle(self, future: Any, value: Any) -> None:
        """A task's fate from its ended Dask future; ``value`` is what gather fetched."""
        key = future.key
        status = future.status
        error: BaseException | None = None
        if status == "finished" and value is None:
            status = "lost"  # its result died with its worker before we fetched it
        elif status == "error":
            with contextlib.suppress(BaseException):
                error = future.exception()
        now = time.time()
        with self._lock:
            task = self._current(key)
            if task is None or task.state.is_final:
                return
            tries = self._refetches.get(key, 0)
            if status in ("lost", "pending") and tries < _REFETCHES:
                # Its result died with its worker before it reached us: Dask runs it again.
                self._refetches[key] = tries + 1
                message = "its result was lost with its worker; Dask computes it again"
                self._requeued(task, message, now)
            else:
                self._apply_outcome(task, status, value, error, now)
                task = None
        if task is None:
            _release(future)  # now: its result no longer needs to live on a worker
        else:
            future.add_done_callback(self._on_done)  # once it is computed again

    def _task_event(self, msg: dict[str, Any]) -> None:
        """began / progress / log / ended, from ``run_task`` on a worker."""
        kind = msg.get("kind")
        with self._lock:
            if kind == "log" and msg.get("key") not in self._by_key:
                return  # another client's task, on a shared cluster
            if kind == "log":
                slot = next((s for s in self._slots if s.pid == msg["pid"]), None)
                index = slot.index if slot is not None else -1
                self._log_event(WorkerLog(msg["pid"], msg["level"], msg["text"], msg["time"]))
                record = (index, msg["pid"], msg["level"], msg["time"], msg["name"], msg["text"])
                self._changed.notify_all()
            else:
                record = None
                task = self._current(msg.get("key", ""))
                if task is None:
                    return
                if kind == "began" and task.state is TaskState.PENDING:
                    self._began(task, msg)
                elif kind == "ended":
                    self._ended(task)
                elif kind == "progress" and task.state is TaskState.RUNNING:
                    task.progress = msg["fraction"]
                    self._events.append(
                        TaskChanged(task.ID, task.state, task.progress, msg["message"], time.time())
                    )
                    self._changed.notify_all()
        if record is not None:
            console.emit_worker_lines([record])

    def _membership(self, msg: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            if msg["action"] == "add":
                self._joined(msg["address"], msg["pid"], msg["name"], msg["slot"], now)
            else:
                self._left(
                    msg["address"],
                    now,
                    msg.get("processing", ()),
                    msg.get("lost", ()),
                    bool(msg.get("expected")),
                )

    def _exit_code(self, msg: dict[str, Any]) -> None:
        with self._lock:
            pid, code = msg["pid"], msg["exitcode"]
            self._exit_codes[pid] = code
            for slot in self._slots:
                if slot.pid == pid:
                    slot.exitcode = code

    # == timeouts and shutdown ============================================================
    def _watch(self) -> None:
        """Ends tasks that run past their timeout: Dask cannot stop a running task, so its
        future is dropped and its worker restarted by its nanny."""
        while True:
            with self._lock:
                if self._watch_stop:
                    return
                timed = [t for t in self._timed.values() if t.state is TaskState.RUNNING]
                now = time.monotonic()
                expired = [t for t in timed if t._deadline <= now]
                if not expired:
                    soonest = min(t._deadline for t in timed) if timed else None
                    self._timer.wait(max(timeouts.remaining(soonest), 0.01))
                    continue
                dropped = []
                addresses = []
                for task in expired:
                    timeout = self._timeout_of(task)
                    address = self._running_on.get(task.ID)
                    slot = self._slot_at(address)
                    who = f"worker-{slot.index}" if slot is not None else "its worker"
                    task.state = TaskState.TIMED_OUT
                    task.error = f"ran past its timeout of {timeout} s; {who} was restarted"
                    task.finished_at = time.time()
                    self._emit(task, task.error)
                    dropped.append(self._forget(task))
                    if address is not None:
                        addresses.append(address)
                        self._timed_out_at.add(address)
            _release(dropped)
            if addresses:  # on a thread of its own: the next deadline must not wait for it
                threading.Thread(
                    target=self._restart_quietly, args=(addresses,), daemon=True
                ).start()

    def _restart_quietly(self, addresses: list[str]) -> None:
        with contextlib.suppress(Exception):
            self.client.restart_workers(addresses, timeout=30, raise_for_error=False)

    def _shut_down(self, busy: list[str]) -> None:
        """Stops listening and closes what this engine made.

        Workers of a shared cluster still busy with our abandoned tasks are restarted so
        they stop; that takes seconds (a new process per worker), so it happens on a
        thread of its own, which then disconnects: ``collect`` and ``close`` return at
        once. The interpreter waits for that thread at exit.
        """
        with self._lock:
            self._watch_stop = True
            self._timer.notify_all()
        self._inbox.put(("stop", None))
        if busy and not self._owns:
            threading.Thread(
                target=self._disconnect, args=(sorted(set(busy)),), name="DaskFacade-close"
            ).start()
        else:
            self._disconnect([])

    def _disconnect(self, busy: list[str]) -> None:
        client = self.client
        with contextlib.suppress(Exception):
            if busy:
                client.restart_workers(busy, timeout=30, raise_for_error=False)
        for topic in _TOPICS:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(topic)
        with contextlib.suppress(Exception):
            client.close()
        if self._owns and self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


def _decoded(value: Any) -> Any:
    """``run_task``'s answer with the result (or the task's exception) unpickled."""
    if not isinstance(value, tuple):
        return value
    if value[0] == "R":
        try:
            return ("R", pickle.loads(value[1]), *value[2:])
        except BaseException as exc:
            error = f"the result could not be unpickled here: {describe(exc)}"
            return ("F", error, traceback.format_exc(), None, *value[2:])
    kind, error, tb, pickled_exc, *times = value
    exception = None
    if pickled_exc is not None:
        with contextlib.suppress(BaseException):
            exception = pickle.loads(pickled_exc)
    return (kind, error, tb, exception if isinstance(exception, BaseException) else None, *times)


def _post(inbox: SimpleQueue[tuple[str, Any]], topic: str, event: tuple[float, Any]) -> None:
    """A topic handler: runs on the client's I/O loop, so it only queues the event."""
    inbox.put((topic, event))


def _release(futures: list[Any] | Any) -> None:
    """Lets Dask forget tasks we no longer want; never waits on the cluster."""
    for future in futures if isinstance(futures, list) else [futures]:
        if future is not None:
            with contextlib.suppress(Exception):
                future.release()
