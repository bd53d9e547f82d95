"""What a scenario's next step will do, in plain words, said before it runs.

A learner stepping through a scenario (the window's Step, ``demo --scenario NAME --step``)
reads this before the step plays, so it says what the step does and by which mechanism:
the call it makes, what the task does in the worker, what it is queued behind. It reads
only the scenario's steps and options (nothing of a run), so the same step always reads
the same, and the words of a kill step stop at the kill: what the tasks around it end as
is for the run to show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core import CrashTask, SimpleTask, Task
from app.teaching.scenarios import BigResultTask, Scenario, Step, kills_worker, make_task

_CRASH_WAYS = {
    "exception": "raises WorkerCrash, which escapes the worker's loop and ends its process",
    "exit": "calls os._exit(3) and kills its worker",
    "exit0": "calls os._exit(0) and kills its worker: a clean exit code, still a crash",
    "kill": "sends SIGKILL to its own worker: no cleanup at all",
    "segfault": "reads address 0 and kills its worker with SIGSEGV",
}
_PIPE = 64 * 1024  # what a Linux pipe holds by default
_WAITS = ("wait", "wait_dead", "collect")  # the steps that wait for the run to move on


def narrate(scenario: Scenario, index: int) -> str:
    """``"Next: ..."``: what the step at ``index`` of ``scenario`` will do."""
    return "Next: " + describe(scenario.steps, index, scenario.options)


def describe(steps: Sequence[Step], index: int, options: Mapping[str, Any] | None = None) -> str:
    """What ``steps[index]`` will do, given the steps before it and the facade's
    ``options`` (``restart``, ``workers``). Raises ValueError for an index out of range or
    a step or task kind no scenario can play."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"a step index is a whole number, not {index!r}")
    if not 0 <= index < len(steps):
        raise ValueError(f"step index {index} is out of range: the scenario has {len(steps)}")
    world = _World.before(steps, index, options or {})
    step = steps[index]
    if step.kind == "say":
        return f"a remark, no call to the facade: “{step.args[0]}”"
    if step.kind == "submit":
        return _submit(steps, index, world)
    if step.kind == "wait":
        ids, seconds = step.args
        return f"wait until {_names(ids)} {_have(ids)} ended ({_at_most(seconds)})"
    if step.kind == "wait_dead":
        return _wait_dead(world, float(step.args[0]))
    if step.kind == "collect":
        return _collect(world, int(step.args[0]))
    raise ValueError(f"unknown step {step.kind!r}")


@dataclass
class _World:
    """What the steps before one have done, as far as the steps alone tell."""

    restart: bool
    workers: int
    collected: bool  # a collect step has run: the facade refuses new tasks
    no_worker: bool  # a wait for the workers' death has run, with no restart
    killers: list[Task]  # tasks sent since the last wait or collect that kill their worker

    @classmethod
    def before(cls, steps: Sequence[Step], index: int, options: Mapping[str, Any]) -> _World:
        restart = bool(options.get("restart", False))
        world = cls(restart, int(options.get("workers", 1)), False, False, [])
        for step in steps[:index]:
            if step.kind == "submit":
                task = make_task(*step.args)
                if kills_worker(task):
                    world.killers.append(task)
            elif step.kind in _WAITS:
                world.killers = []
                world.collected = world.collected or step.kind == "collect"
                world.no_worker = world.no_worker or (step.kind == "wait_dead" and not restart)
        return world

    @property
    def one_worker(self) -> str:
        return "the worker" if self.workers == 1 else "a worker"


def _submit(steps: Sequence[Step], index: int, world: _World) -> str:
    task = make_task(*steps[index].args)
    call = f"process_task({_call(*steps[index].args)})"
    if world.collected:
        return f"{call}: collect_tasks() was called, so the facade refuses it at once (REJECTED)"
    problem = task.why_invalid()
    if problem is not None:
        return f"{call}: the facade refuses it at once (REJECTED): {problem}"
    if world.no_worker:
        return (
            f"{call}: no worker is alive and auto-restart is off: process_task returns at "
            "once and the task is LOST"
        )
    text = f"{call}: {_does(task)}"
    if kills_worker(task):
        queued = _queued_behind(steps, index)
        if queued and world.workers == 1:
            text += f"; {_names(queued)} {_is(queued)} queued behind it"
    elif world.killers and world.workers == 1:
        killer = world.killers[-1]
        behind = f"; it is queued behind {_quote(killer.ID)}"
        if _hangs(killer):
            text += f"{behind}, whose worker its timeout replaces"
        elif isinstance(killer, CrashTask) and killer.how == "hang":
            text += f"{behind}, which holds the worker for ever (it has no timeout)"
        else:
            restart = (
                "auto-restart is on: a new worker takes over the queue"
                if world.restart
                else "auto-restart is off"
            )
            text += f"{behind}, which kills the worker; {restart}"
    return text


def _does(task: Task) -> str:
    """What ``task`` does in its worker (a valid task of a kind ``make_task`` makes)."""
    if isinstance(task, CrashTask):
        if task.how == "hang":
            timeout = (
                f"{_seconds(float(task.timeout))} after it starts, its timeout ends it: the parent "
                "SIGKILLs the worker and starts a new one"
                if task.timeout is not None
                else "without a timeout only collect_tasks(timeout) or close() ends it"
            )
            return f"this task ignores SIGTERM and sleeps for ever; {timeout}"
        return f"this task {_CRASH_WAYS[task.how]}"
    if isinstance(task, SimpleTask):
        if str(task.ID).lower() == "crash":
            return (
                "a SimpleTask named 'crash' kills its worker (a rule of the original design): "
                "it raises WorkerCrash in the worker's loop"
            )
        seconds = task.estimated_processing_time
        return (
            f"queues {_quote(task.ID)} and returns at once; in the worker it sleeps "
            f"{_seconds(seconds)}, reporting progress, and returns "
            f"{task.ID + ' solved after ' + str(seconds)!r}"
        )
    if isinstance(task, BigResultTask):
        times = f", {task.size / _PIPE:,.0f} times what a pipe holds" if task.size > _PIPE else ""
        return (
            f"its result is {task.size:,} bytes{times}: the parent reads results as they "
            "come, so the worker never blocks on a full pipe"
        )
    raise ValueError(f"no words for a task of type {type(task).__name__}")


def _wait_dead(world: _World, seconds: float) -> str:
    text = f"wait until {world.one_worker} has died ({_at_most(seconds)})"
    dying = [t for t in world.killers if not (isinstance(t, CrashTask) and t.how == "hang")]
    if dying:
        text += f": it dies running {_quote(dying[0].ID)}"
    if world.restart:
        text += " (auto-restart then starts a new one)"
    return text


def _collect(world: _World, calls: int) -> str:
    if world.collected:
        text = "collect_tasks() again: it returns the same tasks at once"
    else:
        text = (
            "collect_tasks() waits for every task to end, reading results as they come, and "
            "returns them all; after it the facade refuses new tasks"
        )
    if calls > 1:
        more = calls - 1
        times = "time" if more == 1 else "times"
        text += f"; then it is called {more} more {times}: each returns the same tasks at once"
    return text


def _hangs(task: Task) -> bool:
    """Whether ``task`` hangs until its timeout, which replaces its worker."""
    return isinstance(task, CrashTask) and task.how == "hang" and task.timeout is not None


def _queued_behind(steps: Sequence[Step], index: int) -> list[str]:
    """The IDs the steps right after ``index`` send, up to the next wait or collect."""
    behind = []
    for step in steps[index + 1 :]:
        if step.kind in _WAITS:
            break
        if step.kind == "submit":
            behind.append(str(step.args[1]))
    return behind


def _call(kind: str, task_id: str, arg: Any) -> str:
    """The constructor call ``make_task`` makes, as code."""
    if kind == "simple":
        return f"SimpleTask({task_id!r}, {arg!r})"
    if kind == "crash":
        return f"CrashTask({task_id!r}, {arg!r})"
    if kind == "hang":
        return f"CrashTask({task_id!r}, 'hang', timeout={arg!r})"
    if kind == "big":
        return f"BigResultTask({task_id!r}, {arg!r})"
    raise ValueError(f"unknown task kind {kind!r}")


def _names(ids: Sequence[str], most: int = 3) -> str:
    """'a', 'a' and 'b', 'a', 'b' and 'c', or the first ``most`` and how many more."""
    quoted = [_quote(i) for i in ids]
    if len(quoted) > most + 1:
        return f"{', '.join(quoted[:most])} and {len(quoted) - most} more"
    if len(quoted) <= 1:
        return "".join(quoted) or "no task"
    return f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _quote(task_id: str) -> str:
    return repr(task_id)


def _is(ids: Sequence[str]) -> str:
    return "is" if len(ids) == 1 else "are"


def _have(ids: Sequence[str]) -> str:
    return "has" if len(ids) == 1 else "have"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _at_most(seconds: float) -> str:
    return f"at most {_seconds(seconds)}" if math.isfinite(seconds) else "however long it takes"
