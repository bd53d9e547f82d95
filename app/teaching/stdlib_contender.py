"""One contender of ``python -m app compare``, in a process of its own: a scenario's
workload played on ``ProcessPoolExecutor``, ``multiprocessing.Pool`` or this facade.

``stdlib_runs`` starts this module's ``main`` in a new session. It plays the steps, then
writes one JSON object (each task's outcome) to its standard output and ends. Its own
deadline bounds everything: when it comes, a thread writes what is known (a task not
resolved is ``{"kind": "waiting"}``), kills the pool's workers and ends the process
without waiting on the pool, however stuck the steps are.

The stdlib pools run the very task objects' ``do_task()`` in their workers, through
``run_task``; a ``WorkerCrash`` ends the worker as it ends the facade's (exit code 1),
so the three contenders really run the same workload.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from multiprocessing.pool import AsyncResult
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from app.core import Task, TaskState, WorkingProcessFacade
from app.core.futures import outcome
from app.core.task import WorkerCrash
from app.teaching.scenarios import SCENARIOS, BlockingDriver, ScenarioPlay, Step, make_task

CONTENDERS = ("facade", "ProcessPoolExecutor", "Pool")
"""The contenders, in the order of a comparison's columns."""
CRASH_EXIT_CODE = 1
"""How the facade's worker ends when a ``WorkerCrash`` escapes its loop: the exception
leaves the process's target, and ``multiprocessing`` exits with 1."""
POLL = 0.02  # seconds between two looks at a worker's life while a step waits for its death
VALUE_TEXT = 200  # characters of a value's text kept in an outcome
MESSAGE_TEXT = 2000  # characters of an exception's message kept in an outcome

Outcome = dict[str, Any]


def task_ids(name: str) -> list[str]:
    """The IDs of the tasks scenario ``name`` submits, in order (a clear error for a
    name that is not a scenario's)."""
    if not isinstance(name, str):
        raise TypeError(f"a scenario's name is a string, not {name!r}")
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ValueError(f"unknown scenario {name!r}; one of: {', '.join(SCENARIOS)}")
    return [str(step.args[1]) for step in scenario.steps if step.kind == "submit"]


def run_task(task: Task) -> Any:
    """What a stdlib pool's worker runs: the task, as the facade's worker runs it."""
    try:
        value = task.do_task()
    except WorkerCrash:
        os._exit(CRASH_EXIT_CODE)  # escapes the worker's loop there too, and kills it
    return task.result if value is None else value


def value_outcome(value: Any) -> Outcome:
    """A returned value as JSON: bytes by their size (``"<1,000,000 bytes>"``), anything
    but plain data by its repr, a long text cut."""
    if isinstance(value, bytes | bytearray | memoryview):
        shown: Any = f"<{memoryview(value).nbytes:,} bytes>"
    elif value is None or isinstance(value, bool | int | str) or _finite(value):
        shown = value
    else:
        shown = repr(value)
    if isinstance(shown, str) and len(shown) > VALUE_TEXT:
        shown = shown[: VALUE_TEXT - 1] + "…"
    return {"kind": "value", "value": shown}


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)  # NaN and inf are not JSON


def exception_outcome(exc: BaseException) -> Outcome:
    message = str(exc)
    if len(message) > MESSAGE_TEXT:
        message = message[: MESSAGE_TEXT - 1] + "…"
    return {"kind": "exception", "exception": type(exc).__name__, "message": message}


WAITING: Outcome = {"kind": "waiting"}


class Player(Protocol):
    """A contender: plays a scenario's steps, and tells each task's outcome at any time."""

    def play(self, steps: Sequence[Step]) -> None: ...

    def outcomes(self) -> dict[str, Outcome]: ...

    def close(self) -> None:
        """Ends the pool as a program would once the steps are played."""
        ...

    def abandon(self) -> None:
        """Ends the pool's workers at the deadline, without waiting on the pool."""
        ...


class _StdlibPlayer(ABC):
    """The steps on a standard library pool, mapped as a plain program would write them."""

    def __init__(self) -> None:
        self._refused: dict[str, BaseException] = {}  # refused at submit: the outcome
        self._order: list[str] = []
        self._workers: dict[int, BaseProcess] = {}  # every worker process seen

    def play(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if step.kind == "submit":
                task = make_task(*step.args)
                self._order.append(task.ID)
                try:
                    self._submit(task)
                except Exception as exc:  # BrokenProcessPool, RuntimeError, ValueError...
                    self._refused[task.ID] = exc
                self._see_workers()
            elif step.kind == "wait":
                self._wait(list(step.args[0]), float(step.args[1]))
            elif step.kind == "wait_dead":
                self._wait_dead(float(step.args[0]))
            elif step.kind == "collect":
                for _ in range(int(step.args[0])):
                    self._collect()
            elif step.kind != "say":
                raise ValueError(f"unknown step {step.kind!r}")

    def _see_workers(self) -> None:
        """Notes the workers alive now: the pools start theirs in ``submit`` (the
        executor) or in the constructor (``Pool``), long before any can die."""
        for process in multiprocessing.active_children():
            if process.pid is not None:
                self._workers.setdefault(process.pid, process)

    def _wait_dead(self, seconds: float) -> None:
        """Waits until a worker has ended and the pool has seen it (at most ``seconds``)."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self._see_workers()
            if any(p.exitcode is not None for p in self._workers.values()) and self._noticed():
                return
            time.sleep(POLL)

    def _noticed(self) -> bool:
        """Whether the pool has seen the death (``Pool`` needs nothing more: it replaces
        the worker in its own time)."""
        return True

    def outcomes(self) -> dict[str, Outcome]:
        # Copied first: at the deadline, another thread asks while the steps submit.
        return {task_id: self._outcome(task_id) for task_id in list(self._order)}

    def _outcome(self, task_id: str) -> Outcome:
        refused = self._refused.get(task_id)
        if refused is not None:
            return exception_outcome(refused)
        try:
            return self._settled(task_id)
        except KeyError:  # asked at the deadline, between its submit and its record
            return dict(WAITING)

    @abstractmethod
    def _submit(self, task: Task) -> None:
        """Hands the task to the pool; what it raises is the task's outcome."""

    @abstractmethod
    def _wait(self, task_ids: list[str], seconds: float) -> None:
        """Waits at most ``seconds`` for these tasks to be resolved."""

    @abstractmethod
    def _collect(self) -> None:
        """Ends the pool as a program does before it reads its results."""

    @abstractmethod
    def _settled(self, task_id: str) -> Outcome:
        """The outcome of a task the pool accepted (KeyError while it is not recorded)."""

    def abandon(self) -> None:
        for process in multiprocessing.active_children():
            process.kill()


class ExecutorPlayer(_StdlibPlayer):
    """``concurrent.futures.ProcessPoolExecutor``: submit, wait, shutdown(wait=True)."""

    def __init__(self, workers: int) -> None:
        super().__init__()
        spawn = multiprocessing.get_context("spawn")
        self._executor = cf.ProcessPoolExecutor(workers, mp_context=spawn)
        self._futures: dict[str, cf.Future[Any]] = {}

    def _submit(self, task: Task) -> None:
        self._futures[task.ID] = self._executor.submit(run_task, task)

    def _wait(self, task_ids: list[str], seconds: float) -> None:
        cf.wait([self._futures[i] for i in task_ids if i in self._futures], seconds)

    def _noticed(self) -> bool:
        """A dead worker breaks the whole executor: it has seen the death once every
        future is resolved (with ``BrokenProcessPool``)."""
        return all(f.done() for f in self._futures.values())

    def _collect(self) -> None:
        self._executor.shutdown(wait=True)

    def _settled(self, task_id: str) -> Outcome:
        future = self._futures[task_id]
        if not future.done():
            return dict(WAITING)
        if future.cancelled():
            return exception_outcome(cf.CancelledError())
        exc = future.exception(0)
        return value_outcome(future.result(0)) if exc is None else exception_outcome(exc)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class PoolPlayer(_StdlibPlayer):
    """``multiprocessing.Pool``: apply_async, AsyncResult.wait, close() then join()."""

    def __init__(self, workers: int) -> None:
        super().__init__()
        self._pool = multiprocessing.get_context("spawn").Pool(workers)
        self._results: dict[str, AsyncResult[Any]] = {}
        self._see_workers()

    def _submit(self, task: Task) -> None:
        self._results[task.ID] = self._pool.apply_async(run_task, (task,))

    def _wait(self, task_ids: list[str], seconds: float) -> None:
        until = time.monotonic() + seconds
        for task_id in task_ids:
            if task_id in self._results:
                self._results[task_id].wait(max(0.0, until - time.monotonic()))

    def _collect(self) -> None:
        self._pool.close()
        self._pool.join()

    def _settled(self, task_id: str) -> Outcome:
        result = self._results[task_id]
        if not result.ready():
            return dict(WAITING)
        try:
            return value_outcome(result.get(0))
        except Exception as exc:
            return exception_outcome(exc)

    def close(self) -> None:
        self._pool.terminate()


class FacadePlayer:
    """This project's facade, with the scenario's options, played by ``ScenarioPlay``."""

    def __init__(self, options: dict[str, Any]) -> None:
        # The comparison's run is not the user's: never recorded, whatever the environment.
        self._facade = WorkingProcessFacade(**{"record": False, **options})
        self._play: ScenarioPlay | None = None

    def play(self, steps: Sequence[Step]) -> None:
        self._play = ScenarioPlay(steps, BlockingDriver(self._facade))
        self._play.play_all()

    def outcomes(self) -> dict[str, Outcome]:
        sent = {} if self._play is None else dict(self._play.sent)
        return {task_id: facade_outcome(task) for task_id, task in sent.items()}

    def close(self) -> None:
        self._facade.close()

    def abandon(self) -> None:
        """Its workers live in sessions of their own: ``close()`` ends them now, even
        while the steps wait in ``collect_tasks`` on the main thread."""
        self._facade.close()


def facade_outcome(task: Task) -> Outcome:
    """A facade task's outcome: what its future would settle to, and its state."""
    state = task.state
    if not state.is_final:
        found = dict(WAITING)
    elif state is TaskState.REJECTED:
        message = task.error or "refused"
        found = {"kind": "exception", "exception": "TaskRejectedError", "message": message}
    else:
        ok, value = outcome(task)
        found = value_outcome(value) if ok else exception_outcome(value)
    found["state"] = state.name
    return found


class _Report:
    """The one report a contender writes, whoever comes first: the end or the deadline."""

    def __init__(self, fd: int, player: Player) -> None:
        self._fd = fd
        self._player = player
        self._lock = threading.Lock()
        self._sent = False

    def send(self, outcomes: dict[str, Outcome] | None = None, error: str | None = None) -> bool:
        """Writes ``outcomes`` (by default, those known now); False when the report was
        already sent."""
        with self._lock:
            if self._sent:
                return False
            self._sent = True
            if outcomes is None:
                outcomes = self._player.outcomes()
            report: dict[str, Any] = {"outcomes": outcomes}
            if error:
                report["error"] = error
            data = json.dumps(report).encode()
            while data:
                data = data[os.write(self._fd, data) :]
            os.close(self._fd)
            return True

    def at_deadline(self) -> None:
        """The deadline's end: the report, then the pool's workers killed, then out."""
        try:
            self.send()
            self._player.abandon()
        finally:
            os._exit(0)

    def at_parent_end(self) -> None:
        """The lifeline: standard input is a pipe only the parent writes to, so it ends
        when the parent does, killed or not. Nobody is left to report to: the pool's
        workers are killed and this process ends, long before its deadline."""
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        try:
            self._player.abandon()
        finally:
            os._exit(1)


def make_player(contender: str, options: dict[str, Any]) -> Player:
    """The contender, with the facade's options (the stdlib pools: its worker count)."""
    workers = int(options.get("workers", 1))
    if contender == "facade":
        return FacadePlayer(options)
    if contender == "ProcessPoolExecutor":
        return ExecutorPlayer(workers)
    if contender == "Pool":
        return PoolPlayer(workers)
    raise ValueError(f"unknown contender {contender!r}")


def main(argv: list[str]) -> int:
    """``CONTENDER SCENARIO DEADLINE``: plays and reports, within DEADLINE seconds.

    Its standard input must be a pipe from the parent (see ``_Report.at_parent_end``)."""
    contender, name, deadline = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this ends
    report_fd = os.dup(1)  # the report's own channel: not inherited by the workers
    os.dup2(2, 1)  # what anything else prints (a task, a worker) goes to stderr
    scenario = SCENARIOS[name]
    player = make_player(contender, scenario.options)
    report = _Report(report_fd, player)
    timer = threading.Timer(float(deadline), report.at_deadline)
    timer.daemon = True
    timer.start()
    threading.Thread(target=report.at_parent_end, name="lifeline", daemon=True).start()
    error = None
    try:
        player.play(scenario.steps)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    outcomes = player.outcomes()  # before close(), which may cancel what is still queued
    try:
        player.close()
    finally:
        report.send(outcomes, error)
    return 0
