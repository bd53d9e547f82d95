"""Predict mode's rules: which scenario steps kill or hang a worker, what the learner is
asked to predict before one, how the guesses are scored and kept, and why a wrong guess
was wrong.

Qt-free, so the rules are tested on their own; the window's panel (app/gui/predict_mode)
only shows them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from app.core import Task, TaskState
from app.teaching.explain import Death, exit_meaning
from app.teaching.scenarios import SCENARIOS, Step, kills_worker, make_task

CHOICES: tuple[TaskState, ...] = (
    TaskState.DONE,
    TaskState.FAILED,
    TaskState.CRASHED,
    TaskState.LOST,
    TaskState.CANCELLED,
    TaskState.TIMED_OUT,
    TaskState.REJECTED,
)
"""The final states a learner may predict, in the order the panel offers them."""

MAX_GUESSES = 1_000_000
"""More guesses than this in one prediction is a damaged setting, not a score."""


def is_risky(step: Step) -> bool:
    """Whether ``step`` submits a task that kills or hangs its worker: predict mode holds
    the play before such a step."""
    if step.kind != "submit":
        return False
    return kills_worker(make_task(*step.args))


def scenario_name(steps: Sequence[Step]) -> str | None:
    """The name of the scenario whose steps these are, or None."""
    for name, scenario in SCENARIOS.items():
        if scenario.steps is steps or tuple(steps) == scenario.steps:
            return name
    return None


@dataclass(frozen=True)
class Row:
    """A task to predict: its ID and where it is now ("RUNNING", "sent by this step"...)."""

    task_id: str
    now: str


def rows_to_predict(
    steps: Sequence[Step],
    index: int,
    states: Mapping[str, TaskState],
    guessed: Collection[str] = (),
) -> list[Row]:
    """What to ask before step ``index``: each task not final yet, then each task this
    step and the later ones will submit (the learner predicts a task queued behind the
    crash too), leaving out the tasks already ``guessed`` in this play."""
    if not 0 <= index < len(steps):
        raise ValueError(f"step index {index} is not one of the {len(steps)} steps")
    rows = [
        Row(task_id, state.name)
        for task_id, state in states.items()
        if not state.is_final and task_id not in guessed
    ]
    seen = set(states) | set(guessed)
    for n in range(index, len(steps)):
        step = steps[n]
        if step.kind != "submit" or step.args[1] in seen:
            continue
        seen.add(step.args[1])
        rows.append(
            Row(step.args[1], "sent by this step" if n == index else f"sent at step {n + 1}")
        )
    return rows


# == scores ==================================================================================
@dataclass(frozen=True)
class Score:
    """``right`` guesses out of ``total``."""

    right: int
    total: int

    def __post_init__(self) -> None:
        for name in ("right", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Score.{name} must be an int, not {value!r}")
        if not 1 <= self.total <= MAX_GUESSES:
            raise ValueError(f"Score.total must be from 1 to {MAX_GUESSES}, not {self.total}")
        if not 0 <= self.right <= self.total:
            raise ValueError(f"Score.right must be from 0 to {self.total}, not {self.right}")

    def __str__(self) -> str:
        return f"{self.right}/{self.total}"

    @classmethod
    def parse(cls, raw: object) -> Score | None:
        """The score written as "R/T" (``str(score)``); None for anything else."""
        if not isinstance(raw, str):
            return None
        match = re.fullmatch(r"([0-9]{1,7})/([0-9]{1,7})", raw.strip())
        if match is None:
            return None
        try:
            return cls(int(match[1]), int(match[2]))
        except ValueError:
            return None

    def beats(self, other: Score | None) -> bool:
        """A better share of right guesses; at the same share, more of them."""
        if other is None:
            return True
        mine, theirs = self.right * other.total, other.right * self.total
        return (mine, self.total) > (theirs, other.total)


@dataclass(frozen=True)
class Record:
    """A scenario's scores as kept: the last prediction's and the best one's (a play
    asks once in practice: its first question covers every task it will send)."""

    last: Score | None = None
    best: Score | None = None

    def after(self, score: Score) -> Record:
        """The record once a prediction scored ``score``."""
        return Record(score, score if score.beats(self.best) else self.best)

    def __str__(self) -> str:
        if self.last is None and self.best is None:
            return "no score yet"
        parts = [f"last {self.last}" if self.last else "", f"best {self.best}" if self.best else ""]
        return ", ".join(p for p in parts if p)


# == a round of guesses ======================================================================
class Round:
    """The learner's guesses before one step, scored as each task reaches its end."""

    def __init__(self, index: int, rows: Sequence[Row]) -> None:
        if not rows:
            raise ValueError("a round needs at least one task to predict")
        self.index = index
        self.rows = tuple(rows)
        self.guesses: dict[str, TaskState] = {}
        self.real: dict[str, TaskState] = {}
        self.withdrawn: dict[str, TaskState] = {}  # ended before the step ran: not scored

    def guess(self, task_id: str, state: TaskState) -> None:
        if task_id not in self.ids:
            raise ValueError(f"{task_id!r} is not one of this round's tasks")
        if state not in CHOICES:
            raise ValueError(f"{state!r} is not a final state one can predict")
        self.guesses[task_id] = state

    def withdraw(self, task_id: str, state: TaskState) -> None:
        """``task_id`` ended (in ``state``) before the step ran: its end was seen, not
        predicted, so it is not scored."""
        if task_id not in self.ids:
            raise ValueError(f"{task_id!r} is not one of this round's tasks")
        if not state.is_final:
            raise ValueError(f"{task_id!r} has not ended: it is {state.name}")
        self.rows = tuple(row for row in self.rows if row.task_id != task_id)
        self.guesses.pop(task_id, None)
        self.real.pop(task_id, None)
        self.withdrawn[task_id] = state

    @property
    def ids(self) -> list[str]:
        return [row.task_id for row in self.rows]

    @property
    def missing(self) -> list[str]:
        """The tasks without a guess yet."""
        return [i for i in self.ids if i not in self.guesses]

    def settle(self, states: Mapping[str, TaskState]) -> list[str]:
        """Takes the final states among ``states``; returns the tasks settled just now."""
        now = [i for i in self.ids if i not in self.real and i in states and states[i].is_final]
        for task_id in now:
            self.real[task_id] = states[task_id]
        return now

    @property
    def settled(self) -> bool:
        return len(self.real) == len(self.rows)

    def right(self, task_id: str) -> bool:
        return self.guesses.get(task_id) is self.real.get(task_id)

    @property
    def wrong(self) -> list[str]:
        return [i for i in self.ids if i in self.real and not self.right(i)]

    def score(self) -> Score:
        """Right guesses out of the settled tasks."""
        return Score(sum(self.right(i) for i in self.real), len(self.real))


# == why =====================================================================================
_WHY_NOT = {
    TaskState.DONE: "DONE needs a worker alive to run it to its end.",
    TaskState.FAILED: (
        "FAILED is for a do_task that raises an exception the worker catches: the worker "
        "lives on. A task that kills its worker is not FAILED."
    ),
    TaskState.CRASHED: (
        "CRASHED is only for the task a worker was running when it died; the tasks queued "
        "behind it are moved to another worker or LOST, never blamed."
    ),
    TaskState.LOST: (
        "LOST is for a task accepted while no worker is left alive to run it; with a live "
        "worker (another one, or a replacement from auto-restart or a timeout) it runs."
    ),
    TaskState.CANCELLED: "CANCELLED needs a cancel() before the task starts; nothing cancelled it.",
    TaskState.TIMED_OUT: (
        "TIMED_OUT needs a timeout the task runs past: only then does the parent kill its "
        "worker for it."
    ),
    TaskState.REJECTED: (
        "REJECTED is for a task process_task refuses at once (invalid, a duplicate ID, or "
        "sent after collect); this one was accepted."
    ),
}


def death_of(task_id: str, deaths: Sequence[Death]) -> Death | None:
    """The last death that blamed, moved or lost ``task_id``."""
    for death in reversed(deaths):
        blamed = [i for i, _state, _error in death.blamed]
        if task_id in blamed or task_id in death.requeued or task_id in death.lost:
            return death
    return None


def why_ended(task: Task, deaths: Sequence[Death] = ()) -> str:
    """Why ``task`` ended in its state, in the words of the state, its error text and, for
    a death, what the explainer says about the worker's exit."""
    state = task.state
    said = f" Its error: {task.error}." if task.error else ""
    death = death_of(task.ID, deaths)
    if state is TaskState.DONE:
        if death is not None and task.ID in death.requeued:
            return (
                f"Its first worker, worker-{death.died.index}, died before it started: it "
                "went back to the queue, and a live worker ran it to its end."
            )
        return "A live worker ran it to its end and sent its result back."
    if state is TaskState.FAILED:
        return f"do_task raised; the worker caught it and lives on.{said}"
    if state in (TaskState.CRASHED, TaskState.TIMED_OUT):
        if state is TaskState.CRASHED:
            text = f"Its worker died while running it, so it is the task blamed.{said}"
        else:
            text = f"It ran past its timeout, so the parent killed its worker.{said}"
        if death is not None:
            text += " " + exit_meaning(death.died)
        return text
    if state is TaskState.LOST:
        return (
            "It was accepted but never ran: when its turn came no worker was alive, and "
            f"none would be started (auto-restart off), so nothing would ever run it.{said}"
        )
    if state is TaskState.CANCELLED:
        return f"It was taken out of the queue before it ran.{said}"
    if state is TaskState.REJECTED:
        return f"process_task refused it at once.{said}"
    return f"It is still {state.name}: not final."


def difference(
    round_: Round, tasks: Mapping[str, Task], deaths: Sequence[Death] = (), step: str = ""
) -> str:
    """The explainer's text once ``round_`` is settled: the score, then each wrong guess
    with why the task really ended as it did and why the guess could not be, then the
    right ones."""
    score = round_.score()
    before = f" before step {round_.index + 1}" + (f" ({step})" if step else "")
    lines = [f"Your prediction{before}: {score.right} of {score.total} right."]
    for task_id in round_.wrong:
        real, guess = round_.real[task_id], round_.guesses.get(task_id)
        said = guess.name if guess is not None else "nothing"
        lines += ["", f"✗ {task_id!r}: you said {said}; it ended {real.name}."]
        task = tasks.get(task_id)
        if task is not None:
            lines.append(f"  Why: {why_ended(task, deaths)}")
        if guess is not None:
            lines.append(f"  Not {guess.name}: {_WHY_NOT[guess]}")
    right = [i for i in round_.ids if i in round_.real and round_.right(i)]
    if right:
        lines += ["", "Right: " + ", ".join(f"✓ {i!r} {round_.real[i].name}" for i in right) + "."]
    if round_.withdrawn:
        seen = ", ".join(f"{i!r} {state.name}" for i, state in round_.withdrawn.items())
        lines += ["", f"Not counted, ended before the step ran: {seen}."]
    return "\n".join(lines)
