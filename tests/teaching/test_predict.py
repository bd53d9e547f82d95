"""Predict mode's rules, without Qt: the steps that hold, the rows asked, the scores kept
and the words that say why a guess was wrong."""

from __future__ import annotations

import pytest

from app.core import CrashTask, SimpleTask, TaskState, WorkerDied
from app.core.task import CRASH_WAYS
from app.teaching.explain import Death
from app.teaching.predict import (
    CHOICES,
    Record,
    Round,
    Row,
    Score,
    difference,
    is_risky,
    rows_to_predict,
    scenario_name,
    why_ended,
)
from app.teaching.scenarios import SCENARIOS, BigResultTask, Step, kills_worker, say, submit

D, C, L, T = TaskState.DONE, TaskState.CRASHED, TaskState.LOST, TaskState.TIMED_OUT

RISKY = {
    ("dies-before-collect", 3),
    ("keeps-sending", 1),
    ("poisonous-restart", 3),
    ("hang-timeout", 1),
}
"""Every step, of every scenario, that submits a task killing or hanging its worker."""


def test_every_step_of_every_scenario() -> None:
    found = {
        (name, index)
        for name, scenario in SCENARIOS.items()
        for index, step in enumerate(scenario.steps)
        if is_risky(step)
    }
    assert found == RISKY


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_risky_step_is_one_whose_task_the_scenario_documents_as_killing_its_worker(
    name: str,
) -> None:
    """Checked against the documented final states, not against the rule's own words."""
    scenario = SCENARIOS[name]
    for step in scenario.steps:
        if step.kind == "submit":
            blamed = scenario.expected[step.args[1]] in (C, T)
            assert is_risky(step) is blamed, step
        else:
            assert not is_risky(step), step


@pytest.mark.parametrize("how", CRASH_WAYS)
def test_every_crash_way_kills_its_worker(how: str) -> None:
    assert kills_worker(CrashTask("x", how))
    assert is_risky(submit("crash", "x", how))


def test_what_does_not_kill_its_worker() -> None:
    assert not kills_worker(CrashTask("x", "nonsense"))  # refused by process_task
    assert not kills_worker(SimpleTask("crashes", 0.1))
    assert not kills_worker(SimpleTask("crash", -1.0))  # invalid: refused
    assert not kills_worker(SimpleTask("crash", float("nan")))
    assert not kills_worker(BigResultTask("crash", 10))
    assert kills_worker(SimpleTask("CrAsH", 0.0))
    assert is_risky(submit("hang", "h", 1.5))
    assert not is_risky(say("crash"))
    assert not is_risky(Step("wait_dead", (1.0,)))


def test_the_scenario_is_known_by_its_steps() -> None:
    for name, scenario in SCENARIOS.items():
        assert scenario_name(scenario.steps) == name
        assert scenario_name(list(scenario.steps)) == name
    assert scenario_name((say("nothing"),)) is None


def test_rows_are_the_unfinished_tasks_then_those_sent_from_this_step_on() -> None:
    steps = SCENARIOS["dies-before-collect"].steps
    states = {"one": TaskState.RUNNING, "two": TaskState.PENDING}
    assert rows_to_predict(steps, 3, states) == [
        Row("one", "RUNNING"),
        Row("two", "PENDING"),
        Row("crash", "sent by this step"),
        Row("three", "sent at step 5"),
    ]
    done = {"one": D, "two": TaskState.PENDING}
    assert [r.task_id for r in rows_to_predict(steps, 3, done, guessed={"crash"})] == [
        "two",
        "three",
    ]
    for index in (-1, len(steps)):
        with pytest.raises(ValueError, match="step index"):
            rows_to_predict(steps, index, states)


def test_a_duplicate_submit_is_asked_once() -> None:
    steps = (submit("crash", "x", "exit"), submit("simple", "x", 0.1))
    assert rows_to_predict(steps, 0, {}) == [Row("x", "sent by this step")]


# == scores ==================================================================================
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3/4", Score(3, 4)),
        (" 0/1 ", Score(0, 1)),
        ("1000000/1000000", Score(1_000_000, 1_000_000)),
        ("5/4", None),
        ("0/0", None),
        ("-1/4", None),
        ("3/-4", None),
        ("3.0/4", None),
        ("a/b", None),
        ("3/4/5", None),
        ("٣/٤", None),  # Arabic-Indic digits: int() reads them, the format does not
        ("9" * 100 + "/1", None),
        ("1000001/1000001", None),
        ("", None),
        (3.5, None),
        (None, None),
        (b"3/4", None),
        (["3", "4"], None),
        (True, None),
    ],
)
def test_a_stored_score_is_read_or_ignored(raw: object, expected: Score | None) -> None:
    assert Score.parse(raw) == expected


def test_a_score_says_what_is_wrong_with_it() -> None:
    with pytest.raises(TypeError, match="int"):
        Score(True, 1)
    with pytest.raises(TypeError, match="int"):
        Score(1, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total"):
        Score(0, 0)
    with pytest.raises(ValueError, match="right"):
        Score(3, 2)
    with pytest.raises(ValueError, match="right"):
        Score(-1, 2)
    assert str(Score(2, 5)) == "2/5" and Score.parse(str(Score(2, 5))) == Score(2, 5)


def test_the_best_score_is_the_best_share_then_the_most_guesses() -> None:
    assert Score(4, 4).beats(Score(3, 4))
    assert Score(4, 4).beats(Score(2, 2))
    assert not Score(2, 2).beats(Score(4, 4))
    assert not Score(3, 4).beats(Score(3, 4))
    assert Score(1, 3).beats(Score(0, 5))
    assert Score(0, 1).beats(None)


def test_a_record_keeps_the_last_and_the_best() -> None:
    record = Record()
    assert str(record) == "no score yet"
    record = record.after(Score(3, 4))
    assert record == Record(Score(3, 4), Score(3, 4))
    record = record.after(Score(1, 4))
    assert record == Record(Score(1, 4), Score(3, 4))
    assert str(record) == "last 1/4, best 3/4"
    assert record.after(Score(5, 5)) == Record(Score(5, 5), Score(5, 5))
    assert str(Record(best=Score(1, 2))) == "best 1/2"


# == a round =================================================================================
def _round() -> Round:
    return Round(3, [Row("one", "RUNNING"), Row("crash", "sent by this step"), Row("three", "")])


def test_a_round_is_scored_as_its_tasks_end() -> None:
    r = _round()
    assert r.missing == ["one", "crash", "three"]
    r.guess("one", D)
    r.guess("crash", C)
    r.guess("three", D)
    assert r.missing == []
    assert r.settle({"one": TaskState.RUNNING, "crash": C}) == ["crash"]
    assert not r.settled and r.score() == Score(1, 1)
    assert r.settle({"one": D, "crash": C, "three": L}) == ["one", "three"]
    assert r.settle({"one": D, "crash": C, "three": L}) == []  # each task settles once
    assert r.settled and r.score() == Score(2, 3) and r.wrong == ["three"]


def test_a_round_refuses_what_cannot_be_a_guess() -> None:
    r = _round()
    with pytest.raises(ValueError, match="not one of this round"):
        r.guess("nobody", D)
    for state in (TaskState.RUNNING, TaskState.PENDING, TaskState.NEW):
        with pytest.raises(ValueError, match="final state"):
            r.guess("one", state)
    with pytest.raises(ValueError, match="at least one"):
        Round(0, [])
    assert set(CHOICES) == {s for s in TaskState if s.is_final}


def _task(task_id: str, state: TaskState, error: str | None = None) -> SimpleTask:
    task = SimpleTask(task_id, 0.1)
    task.state, task.error = state, error
    return task


def test_the_difference_says_why_each_wrong_guess_was_wrong() -> None:
    died = WorkerDied(index=0, pid=42, exitcode=1, signal_name=None, time=0.0)
    death = Death(died, blamed=[("crash", C, "worker-0 died: exit code 1")], lost=["three"])
    r = _round()
    for task_id, guess in (("one", D), ("crash", TaskState.FAILED), ("three", D)):
        r.guess(task_id, guess)
    r.settle({"one": D, "crash": C, "three": L})
    tasks = {
        "one": _task("one", D),
        "crash": _task("crash", C, "worker-0 died: exit code 1"),
        "three": _task("three", L, "no worker alive"),
    }
    text = difference(r, tasks, [death], step="submit 'crash'")
    assert text.startswith("Your prediction before step 4 (submit 'crash'): 1 of 3 right.")
    assert "✗ 'crash': you said FAILED; it ended CRASHED." in text
    assert "worker-0 died: exit code 1" in text
    assert "Exit code 1: an exception escaped the worker's own loop" in text  # explain.py's
    assert "Not FAILED: FAILED is for a do_task that raises" in text
    assert "✗ 'three': you said DONE; it ended LOST." in text and "no worker alive" in text
    assert "Not DONE: DONE needs a worker alive" in text
    assert "Right: ✓ 'one' DONE." in text
    assert "✗ 'one'" not in text and "Not counted" not in text


def test_a_task_that_ends_before_the_step_runs_is_not_scored() -> None:
    r = _round()
    r.guess("one", D)
    r.withdraw("one", D)
    assert r.ids == ["crash", "three"] and r.missing == ["crash", "three"]
    with pytest.raises(ValueError, match="not one of this round"):
        r.withdraw("one", D)
    with pytest.raises(ValueError, match="has not ended"):
        r.withdraw("crash", TaskState.RUNNING)
    r.guess("crash", C)
    r.guess("three", L)
    r.settle({"one": D, "crash": C, "three": L})
    assert r.settled and r.score() == Score(2, 2)
    text = difference(r, {})
    assert "2 of 2 right" in text and "Not counted, ended before the step ran: 'one' DONE." in text


def test_why_each_state() -> None:
    died = WorkerDied(
        index=1, pid=7, exitcode=-9, signal_name="SIGKILL", time=0.0, reason="timeout"
    )
    hang = Death(died, blamed=[("hang", T, "ran past 1.5 s")], requeued=["moved"])
    assert "killed its worker. Its error: ran past 1.5 s." in why_ended(
        _task("hang", T, "ran past 1.5 s"), [hang]
    )
    assert "ran past its timeout" in why_ended(_task("hang", T), [hang])  # explain.py's words
    assert "worker-1, died before it started" in why_ended(_task("moved", D), [hang])
    assert "ran it to its end" in why_ended(_task("other", D), [hang])
    assert "raised" in why_ended(_task("f", TaskState.FAILED, "ValueError: no"))
    assert "taken out of the queue" in why_ended(_task("c", TaskState.CANCELLED))
    assert "refused it at once. Its error: duplicate." in why_ended(
        _task("r", TaskState.REJECTED, "duplicate")
    )
    assert "still RUNNING" in why_ended(_task("x", TaskState.RUNNING))
