"""Guided scenarios: scripted runs that each show one thing about worker processes.

A scenario is data: facade options, a table of steps and the final state every task must
reach. ``ScenarioPlay`` is the one interpreter of the steps: ``run_headless`` drives it in
a terminal (``python -m app demo --scenario NAME``), the window on a timer, on its own
facade. Qt-free: workers import this module to unpickle ``BigResultTask``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core import CrashTask, SimpleTask, Task, TaskState, WorkingProcessFacade
from app.core.front import FacadeFront

log = logging.getLogger("app.scenario")


class BigResultTask(Task):
    """Returns ``size`` bytes: many of them fill any pipe many times over."""

    def __init__(self, ID: str, size: int) -> None:
        super().__init__(ID)
        self.size = size

    def do_task(self) -> bytes:
        return bytes(self.size)


@dataclass(frozen=True)
class Step:
    """One step: ``kind`` says what to do, ``args`` with what.

    say (text) · submit (kind of task, ID, argument) · wait (IDs, seconds) ·
    wait_dead (seconds) · collect (how many calls)
    """

    kind: str
    args: tuple[Any, ...] = ()


def say(text: str) -> Step:
    return Step("say", (text,))


def submit(kind: str, task_id: str, arg: Any = None) -> Step:
    return Step("submit", (kind, task_id, arg))


def wait(*task_ids: str, seconds: float = 30.0) -> Step:
    return Step("wait", (task_ids, seconds))


def wait_dead(seconds: float = 30.0) -> Step:
    return Step("wait_dead", (seconds,))


def collect(calls: int = 1) -> Step:
    return Step("collect", (calls,))


def make_task(kind: str, task_id: str, arg: Any) -> Task:
    """The task a submit step names: simple (seconds), crash (way), big (bytes)."""
    if kind == "simple":
        return SimpleTask(task_id, arg)
    if kind == "crash":
        return CrashTask(task_id, arg)
    if kind == "hang":
        return CrashTask(task_id, "hang", timeout=arg)
    if kind == "big":
        return BigResultTask(task_id, arg)
    raise ValueError(f"unknown task kind {kind!r}")


def kills_worker(task: Task) -> bool:
    """Whether running ``task`` crashes or hangs its worker: a valid CrashTask (every way,
    the hang too), or a valid SimpleTask whose ID is "crash" in any case. An invalid task
    is refused by process_task and never reaches a worker."""
    if isinstance(task, CrashTask):
        return task.is_valid()
    if isinstance(task, SimpleTask):
        return isinstance(task.ID, str) and task.ID.lower() == "crash" and task.is_valid()
    return False


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    steps: tuple[Step, ...]
    expected: dict[str, TaskState]
    options: dict[str, Any] = field(default_factory=dict)  # for WorkingProcessFacade


D, C, L = TaskState.DONE, TaskState.CRASHED, TaskState.LOST
_BIG = 40  # results of 1 MB: 40 MB through a 64 KiB pipe

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "original",
            "The original demo: two tasks, then collect",
            (
                say("process_task() queues 'one' (1.0 s) and 'two' (2.5 s) and returns at once"),
                submit("simple", "one", 1.0),
                submit("simple", "two", 2.5),
                say("collect_tasks() waits for both, reading results as they come"),
                collect(),
            ),
            {"one": D, "two": D},
        ),
        Scenario(
            "dies-before-collect",
            "The worker dies before collect",
            (
                say("'crash' kills its worker; 'three' is queued behind it"),
                submit("simple", "one", 1.0),
                submit("simple", "two", 0.5),
                submit("simple", "crash", 0.0),
                submit("simple", "three", 0.5),
                wait_dead(),
                say("the worker died running 'crash' (CRASHED); 'three' never ran (LOST)"),
                collect(),
            ),
            {"one": D, "two": D, "crash": C, "three": L},
        ),
        Scenario(
            "keeps-sending",
            "The worker dies and the caller keeps sending",
            (
                submit("simple", "one", 0.2),
                submit("crash", "crash", "exit"),
                wait_dead(),
                say("the worker is dead: each send returns at once, and the task is LOST"),
                submit("simple", "four", 0.1),
                submit("simple", "five", 0.1),
                submit("simple", "six", 0.1),
                collect(),
            ),
            {"one": D, "crash": C, "four": L, "five": L, "six": L},
        ),
        Scenario(
            "several-collects",
            "Several calls to collect",
            (
                submit("simple", "one", 0.3),
                submit("simple", "two", 0.3),
                say("the first collect waits; the next ones return the same tasks at once"),
                collect(3),
                say("a task sent after collect is refused (REJECTED), never lost silently"),
                submit("simple", "late", 0.1),
            ),
            {"one": D, "two": D, "late": TaskState.REJECTED},
        ),
        Scenario(
            "big-results",
            "Big results, collected safely",
            (
                say(
                    f"{_BIG} results of 1 MB each: far more than a pipe holds (64 KiB). A "
                    "parent that joins its worker before reading the results deadlocks: the "
                    "worker cannot exit while its data waits in the pipe. This facade reads "
                    "results all along, so the worker is never blocked."
                ),
                *(submit("big", f"big-{n}", 1_000_000) for n in range(1, _BIG + 1)),
                collect(),
            ),
            {f"big-{n}": D for n in range(1, _BIG + 1)},
        ),
        Scenario(
            "poisonous-restart",
            "A poisonous task, with auto-restart on",
            (
                say("auto-restart is on: a dead worker is replaced at once"),
                submit("simple", "a", 0.2),
                submit("simple", "b", 0.2),
                submit("crash", "poison", "exception"),
                submit("simple", "c", 0.2),
                submit("simple", "d", 0.2),
                say("'poison' is blamed once and not retried; the rest finish on the new worker"),
                collect(),
            ),
            {"a": D, "b": D, "poison": C, "c": D, "d": D},
            {"restart": True},
        ),
        Scenario(
            "hang-timeout",
            "A hung task and a timeout",
            (
                say("'hang' sleeps for ever and ignores SIGTERM; its timeout is 1.5 s"),
                submit("hang", "hang", 1.5),
                submit("simple", "after", 0.2),
                say("past the timeout its worker is SIGKILLed and replaced; 'after' still runs"),
                collect(),
            ),
            {"hang": TaskState.TIMED_OUT, "after": D},
        ),
    )
}


def check(scenario: Scenario, tasks: dict[str, Task]) -> list[str]:
    """How the final states differ from what the scenario documents (empty when they agree)."""
    problems = []
    for task_id, expected in scenario.expected.items():
        task = tasks.get(task_id)
        got = task.state if task is not None else None
        if got is not expected:
            problems.append(f"{task_id}: expected {expected.name}, got {got and got.name}")
    return problems


class Driver(Protocol):
    """What a scenario is played on: a facade, and a way to make a collect step's first
    call (blocking in a terminal, on a thread in the window)."""

    @property
    def facade(self) -> FacadeFront: ...

    def collect(self) -> Sequence[Task] | None:
        """Starts or goes on with the first collect: its tasks once it ended, else None."""
        ...


class ScenarioPlay:
    """The one interpreter of a scenario's steps, for the terminal and the window alike.

    ``advance()`` plays steps until one has to wait (a task not final yet, a worker still
    alive, a collect still running) and says whether all are played; the caller calls it
    again later, the terminal after a short poll, the window on its next tick. A step that
    waits longer than ``patience`` seconds (by default a wait step's own seconds; a
    collect, for ever) raises ``TimeoutError``.
    """

    def __init__(
        self,
        steps: Sequence[Step],
        driver: Driver,
        patience: float | None = None,
        pace: float = 0.0,
    ) -> None:
        self._steps = steps
        self._driver = driver
        if patience is not None and _seconds("patience", patience) <= 0:
            raise ValueError(f"patience must be more than 0 seconds, not {patience!r}")
        self._patience = patience
        self.pace = pace  # at least this many seconds between two steps' beginnings
        self.held = False  # paused: no step begins (one already begun goes on)
        # Asked once before each step begins; True holds the play there (a prediction).
        self.hold_before: Callable[[int, Step], bool] | None = None
        self._next = 0
        self._begun = False  # the step at _next has begun
        self._asked = -1  # the last step hold_before was asked about
        self._hold_after_one = False
        self._hooked = False  # held because hold_before asked
        self._step_began = time.monotonic()
        self._last_began = -math.inf
        self.sent: dict[str, Task] = {}  # every task submitted, the refused ones too

    @property
    def pace(self) -> float:
        return self._pace

    @pace.setter
    def pace(self, seconds: float) -> None:
        """A finite number of seconds, 0 or more: an endless pace would hold the play
        for ever without a word, a NaN one would quietly be none."""
        pace = _seconds("pace", seconds)
        if not 0 <= pace < math.inf:
            raise ValueError(f"pace must be a finite number of seconds, 0 or more, not {seconds!r}")
        self._pace = pace

    @property
    def steps(self) -> Sequence[Step]:
        return self._steps

    @property
    def position(self) -> int:
        """The index of the step playing or next to play (``len(steps)`` once all are)."""
        return self._next

    @property
    def begun(self) -> bool:
        """Whether the step at ``position`` has begun (held or not, it goes on to its end)."""
        return self._begun

    @property
    def next_step(self) -> Step | None:
        return self._steps[self._next] if self._next < len(self._steps) else None

    def step_once(self) -> None:
        """Lets the next step begin at once, whatever the pace, with the remarks right
        after it (they say what it did), and holds the play again before the next step
        that is not a remark."""
        self.held = False
        self._hold_after_one = True

    @property
    def held_by_hook(self) -> bool:
        """Held because ``hold_before`` asked (a question waits): only ``release`` or
        ``resume`` lets it go."""
        return self.held and self._hooked

    def resume(self) -> None:
        self.held = self._hooked = False
        self._hold_after_one = False

    def release(self) -> None:
        """Ends a hold ``hold_before`` asked for: a step once asked for (``step_once``)
        still holds the play after it."""
        self.held = self._hooked = False

    def advance(self) -> bool:
        """Plays steps until one must wait, or the play is held; True once every step is
        played. A step once begun goes on to its end whatever the hold says."""
        while self._next < len(self._steps):
            step = self._steps[self._next]
            if not self._begun and not self._begin(step):
                return False
            if not self._play(step):
                limit = self._limit(step)
                if time.monotonic() - self._step_began > limit:
                    raise TimeoutError(
                        f"step {self._next + 1} ({step.kind}) did not finish in {limit:g} s"
                    )
                return False
            self._next += 1
            self._begun = False
        return True

    def _begin(self, step: Step) -> bool:
        """Whether ``step`` may begin now: not held, not before its pace, not stopped by
        ``hold_before`` (asked once per step: a resume then lets it begin)."""
        if self.held:
            return False
        now = time.monotonic()
        if not self._hold_after_one and now < self._last_began + self.pace:
            return False
        if self._asked < self._next:
            self._asked = self._next
            if self.hold_before is not None and self.hold_before(self._next, step):
                self.held = self._hooked = True  # a step_once asked for is kept
                return False
        self._begun = True
        self._step_began = self._last_began = now
        after = self._next + 1
        if self._hold_after_one and not (
            after < len(self._steps) and self._steps[after].kind == "say"
        ):
            self.held, self._hold_after_one = True, False
        return True

    def play_all(self, on_held: Callable[[ScenarioPlay], None] | None = None) -> None:
        """Plays every step in this thread, polling the facade while a step waits;
        ``on_held`` is called each time the play is held before a step (it resumes or
        steps the play, or raises to end it)."""
        while not self.advance():
            if on_held is not None and self.held and not self._begun:
                on_held(self)
            else:
                self._driver.facade.poll_events(0.05)

    def final(self, recorded: Iterable[Task]) -> dict[str, Task]:
        """The tasks the facade ``recorded``, and after them those it refused."""
        final = {t.ID: t for t in recorded}
        for task_id, task in self.sent.items():
            final.setdefault(task_id, task)  # refused tasks are not recorded
        return final

    def _limit(self, step: Step) -> float:
        if self._patience is not None:
            return self._patience
        if step.kind == "wait":
            return float(step.args[1])
        if step.kind == "wait_dead":
            return float(step.args[0])
        return math.inf

    def _play(self, step: Step) -> bool:
        """Plays one step; False while it must wait."""
        facade = self._driver.facade
        if step.kind == "say":
            log.info("%s", step.args[0])
        elif step.kind == "submit":
            self._submit(facade, make_task(*step.args))
        elif step.kind == "wait":
            return all(facade.task(i).state.is_final for i in step.args[0])
        elif step.kind == "wait_dead":
            return not any(w.alive for w in facade.worker_info())
        elif step.kind == "collect":
            return self._collect(facade, int(step.args[0]))
        else:
            raise ValueError(f"unknown step {step.kind!r}")
        return True

    def _submit(self, facade: FacadeFront, task: Task) -> None:
        started = time.perf_counter()
        accepted = facade.process_task(task)
        took = (time.perf_counter() - started) * 1e6
        self.sent[task.ID] = task
        extra = f" ({task.error})" if task.error else ""
        log.info(
            "process_task(%r) -> %s in %.0f µs: %s%s",
            task.ID,
            accepted,
            took,
            task.state.name,
            extra,
        )

    def _collect(self, facade: FacadeFront, calls: int) -> bool:
        """The first call through the driver, the others straight to the facade."""
        tasks = self._driver.collect()
        if tasks is None:
            return False
        took = time.monotonic() - self._step_began
        for call in range(1, calls + 1):
            if call > 1:
                started = time.perf_counter()
                tasks = facade.collect_tasks()
                took = time.perf_counter() - started
            log.info("collect_tasks() #%d returned %d tasks in %.3f s", call, len(tasks), took)
        return True


def _seconds(what: str, value: object) -> float:
    """``value`` as seconds (a NaN is refused), or a TypeError/ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, not {value!r}")
    if math.isnan(value):
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    return float(value)


class BlockingDriver:
    """Plays in this thread: a collect step waits for its collect."""

    def __init__(self, facade: FacadeFront) -> None:
        self._facade = facade

    @property
    def facade(self) -> FacadeFront:
        return self._facade

    def collect(self) -> list[Task]:
        return self._facade.collect_tasks()


def run_headless(
    name: str,
    out: Callable[[str], None] = print,
    on_held: Callable[[ScenarioPlay], None] | None = None,
) -> int:
    """Plays a scenario in this process; 0 when every task ends as documented. Given
    ``on_held``, the play starts held, and ``on_held`` says when each step may begin."""
    scenario = SCENARIOS[name]
    log.info("scenario %s: %s", scenario.name, scenario.title)
    facade = WorkingProcessFacade(**scenario.options)
    play = ScenarioPlay(scenario.steps, BlockingDriver(facade))
    play.held = on_held is not None
    try:
        play.play_all(on_held)
    finally:
        facade.close()
    final = play.final(facade.collect_tasks())
    out(f"{'ID':<10} {'state':<10} result or error")
    for task in final.values():
        out(f"{task.ID:<10} {task.state.name:<10} {_outcome(task)}")
    problems = check(scenario, final)
    for problem in problems:
        out(f"UNEXPECTED {problem}")
    return 1 if problems else 0


def _outcome(task: Task) -> str:
    if task.error:
        return task.error
    if isinstance(task.result, bytes):
        return f"{len(task.result):,} bytes"
    return "" if task.result is None else str(task.result)
