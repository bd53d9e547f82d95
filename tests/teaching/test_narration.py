"""The narration of a scenario's next step: every step of every scenario has words, every
step kind and task kind is covered, and what it says of a task's fate at its send agrees
with what the scenario documents."""

from __future__ import annotations

import math
import re

import pytest

from app.core import TaskState
from app.core.task import CRASH_WAYS
from app.teaching.narration import describe, narrate
from app.teaching.scenarios import (
    SCENARIOS,
    Step,
    collect,
    say,
    submit,
    wait,
    wait_dead,
)

EVERY_STEP = [(name, i) for name, s in SCENARIOS.items() for i in range(len(s.steps))]


@pytest.mark.parametrize(("name", "index"), EVERY_STEP, ids=[f"{n}-{i}" for n, i in EVERY_STEP])
def test_every_step_of_every_scenario_is_narrated(name: str, index: int) -> None:
    scenario = SCENARIOS[name]
    step = scenario.steps[index]
    text = narrate(scenario, index)
    assert text.startswith("Next: ") and len(text) > len("Next: ") + 20, text
    assert "None" not in text and "{" not in text and "  " not in text, text
    if step.kind == "say":
        assert step.args[0] in text
    elif step.kind == "submit":
        kind, task_id, _arg = step.args
        task_type = {"simple": "SimpleTask", "crash": "CrashTask", "hang": "CrashTask"}
        assert f"process_task({task_type.get(kind, 'BigResultTask')}(" in text
        assert repr(task_id) in text
    elif step.kind == "collect":
        assert "collect_tasks()" in text
    elif step.kind == "wait_dead":
        assert "has died" in text


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_what_the_narration_says_of_a_send_agrees_with_the_documented_fate(name: str) -> None:
    """A send narrated as refused or lost at once ends so; every task documented as
    REJECTED is narrated so before its send."""
    scenario = SCENARIOS[name]
    for index, step in enumerate(scenario.steps):
        if step.kind != "submit":
            continue
        task_id = step.args[1]
        text = narrate(scenario, index)
        expected = scenario.expected[task_id]
        if "(REJECTED)" in text:
            assert expected is TaskState.REJECTED, text
        if text.endswith("the task is LOST"):
            assert expected is TaskState.LOST, text
        if expected is TaskState.REJECTED:
            assert "(REJECTED)" in text, text


def test_the_words_of_the_issue_s_examples() -> None:
    keeps = SCENARIOS["keeps-sending"]
    assert narrate(keeps, 1) == (
        "Next: process_task(CrashTask('crash', 'exit')): this task calls os._exit(3) and "
        "kills its worker"
    )
    assert (
        narrate(keeps, 2)
        == "Next: wait until the worker has died (at most 30 s): it dies running 'crash'"
    )
    assert narrate(keeps, 4).endswith(
        "no worker is alive and auto-restart is off: process_task returns at once and the "
        "task is LOST"
    )
    dies = SCENARIOS["dies-before-collect"]
    assert narrate(dies, 3).startswith(
        "Next: process_task(SimpleTask('crash', 0.0)): a SimpleTask named 'crash' kills its worker"
    )
    assert narrate(dies, 3).endswith("; 'three' is queued behind it")
    assert narrate(dies, 7).startswith("Next: collect_tasks() waits for every task to end")
    several = SCENARIOS["several-collects"]
    assert narrate(several, 3).endswith(
        "then it is called 2 more times: each returns the same tasks at once"
    )
    poison = SCENARIOS["poisonous-restart"]
    assert narrate(poison, 4).endswith("auto-restart is on: a new worker takes over the queue")
    hang = SCENARIOS["hang-timeout"]
    assert "1.5 s after it starts, its timeout ends it" in narrate(hang, 1)
    assert narrate(hang, 2).endswith(
        "it is queued behind 'hang', whose worker its timeout replaces"
    )


@pytest.mark.parametrize("way", CRASH_WAYS)
def test_every_crash_way_is_told(way: str) -> None:
    steps = (submit("crash", "x", way), submit("simple", "after", 0.1))
    text = describe(steps, 0)
    assert text.startswith(f"process_task(CrashTask('x', {way!r})): this task ")
    assert "REJECTED" not in text
    assert text.endswith("'after' is queued behind it")
    behind = describe(steps, 1)
    assert "it is queued behind 'x'" in behind


def test_every_task_kind_and_its_refusals_are_told() -> None:
    assert "sleeps 2 s" in describe((submit("simple", "s", 2),), 0)
    assert "1,000,000 bytes, 15 times what a pipe holds" in describe(
        (submit("big", "b", 10**6),), 0
    )
    small = describe((submit("big", "b", 10),), 0)
    assert "10 bytes:" in small and "times" not in small
    assert "ignores SIGTERM" in describe((submit("hang", "h", 2.0),), 0)
    hang = (submit("hang", "h", None), submit("simple", "s", 0.1), wait_dead(1))
    forever = describe(hang, 0)
    assert "without a timeout only collect_tasks(timeout) or close() ends it" in forever
    assert forever.endswith("; 's' is queued behind it")
    assert describe(hang, 1).endswith(
        "behind 'h', which holds the worker for ever (it has no timeout)"
    )
    assert describe(hang, 2) == "wait until the worker has died (at most 1 s)"
    for bad, why in (
        (submit("simple", "s", -1.0), "negative"),
        (submit("simple", "s", math.nan), "NaN"),
        (submit("simple", "s", "soon"), "must be a number"),
        (submit("crash", "c", "melt"), "unknown crash way 'melt'"),
    ):
        text = describe((bad,), 0)
        assert "the facade refuses it at once (REJECTED)" in text and why in text, text


def test_what_came_before_changes_the_words() -> None:
    after_collect = (collect(), submit("simple", "late", 0.1))
    assert "(REJECTED)" in describe(after_collect, 1)
    assert "again: it returns the same tasks at once" in describe((collect(), collect()), 1)
    dead = (submit("crash", "c", "kill"), wait_dead(5), submit("simple", "s", 0.1))
    assert describe(dead, 2).endswith("the task is LOST")
    assert "(at most 5 s): it dies running 'c'" in describe(dead, 1)
    restarted = describe(dead, 2, {"restart": True})
    assert "LOST" not in restarted and "sleeps 0.1 s" in restarted
    assert "auto-restart then starts a new one" in describe(dead, 1, {"restart": True})
    two_workers = (submit("crash", "c", "exit"), submit("simple", "s", 0.1))
    assert "queued behind" not in describe(two_workers, 0, {"workers": 2})
    assert "queued behind" not in describe(two_workers, 1, {"workers": 2})
    assert "a worker has died" in describe((wait_dead(),), 0, {"workers": 2})


def test_a_wait_names_its_tasks() -> None:
    assert describe((wait("a"),), 0) == "wait until 'a' has ended (at most 30 s)"
    assert describe((wait("a", "b"),), 0) == "wait until 'a' and 'b' have ended (at most 30 s)"
    many = describe((wait("a", "b", "c", "d", "e", seconds=math.inf),), 0)
    assert many == "wait until 'a', 'b', 'c' and 2 more have ended (however long it takes)"
    assert describe((say("hello"),), 0) == "a remark, no call to the facade: “hello”"


@pytest.mark.parametrize(
    ("steps", "index", "error", "message"),
    [
        ((say("x"),), 1, ValueError, "out of range: the scenario has 1"),
        ((say("x"),), -1, ValueError, "out of range"),
        ((), 0, ValueError, "out of range: the scenario has 0"),
        ((say("x"),), True, TypeError, "whole number"),
        ((say("x"),), "0", TypeError, "whole number"),
        ((say("x"),), 0.0, TypeError, "whole number"),
        ((Step("dance"),), 0, ValueError, "unknown step 'dance'"),
        ((submit("pickle", "p", 1),), 0, ValueError, "unknown task kind 'pickle'"),
        ((submit("pickle", "p", 1), say("x")), 1, ValueError, "unknown task kind 'pickle'"),
    ],
)
def test_bad_input_is_a_clear_error(
    steps: tuple[Step, ...], index: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        describe(steps, index)  # type: ignore[arg-type]
