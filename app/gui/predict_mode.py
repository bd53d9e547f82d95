"""Predict mode: before a scenario step that kills or hangs a worker, the play holds and
the learner says how each task will end; then the step runs, each guess is marked as its
task really ends, the explainer says what differed and why, and the scenario's score is
kept in the settings (last and best).

The rules are Qt-free (app/teaching/predict); this module wires them to the scenario
player (``hold_before``), the run's events (the deaths the explanation cites), the
Predict tab, the Scenarios menu and the window's QSettings.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from PySide6.QtCore import QObject, QSettings, QTimer, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QPlainTextEdit, QTabWidget

from app.core import TaskState
from app.core.events import Event, TaskChanged
from app.core.task import Task
from app.gui import formatting
from app.gui.predict_panel import PredictPanel
from app.gui.run_controller import RunController
from app.gui.scenario_player import ScenarioPlayer
from app.gui.settings import SettingsReader
from app.teaching.explain import Death, deaths_in
from app.teaching.predict import (
    Record,
    Round,
    Score,
    difference,
    is_risky,
    rows_to_predict,
    scenario_name,
    why_ended,
)
from app.teaching.scenarios import SCENARIOS, ScenarioPlay, Step

log = logging.getLogger("app.gui")

ON_KEY = "predict/on"
RULE = "─" * 40  # between the prediction and the stories of the deaths below it
SETTLE_MS = 100  # how often a running prediction looks at its tasks' states
RISKY = {n for n, s in SCENARIOS.items() if any(is_risky(step) for step in s.steps)}


def score_key(name: str, which: str) -> str:
    """Where a scenario's ``last`` or ``best`` score is kept."""
    return f"predict/{name}/{which}"


class PredictHost(Protocol):
    """What predict mode needs of the window."""

    scenario_player: ScenarioPlayer
    controller: RunController
    side: QTabWidget
    explainer: QPlainTextEdit
    scenarios_menu: QMenu


class PredictMode(QObject):
    """Holds a scenario before each step that kills or hangs a worker, while predict mode
    (``action``, off by default, remembered) is on; the questions are in ``panel``."""

    def __init__(self, host: PredictHost, settings: QSettings) -> None:
        super().__init__(host.side)
        self._player = host.scenario_player
        self._side = host.side
        self._explainer = host.explainer
        self._settings = settings
        self.panel = PredictPanel(host.side)
        host.side.addTab(self.panel, "Predict")
        menu = host.scenarios_menu
        self._scenario_actions = {
            name: action
            for action in menu.actions()
            for name, scenario in SCENARIOS.items()
            if action.text() == scenario.title
        }
        self.action = QAction("&Predict before a worker dies", menu)
        self.action.setObjectName("predictAction")
        self.action.setCheckable(True)
        self.action.setToolTip(
            "A scenario holds before each step that kills or hangs a worker and asks, in "
            "the Predict tab, what each task will end as; then it runs the step and scores "
            "your guesses"
        )
        menu.addSeparator()
        menu.addAction(self.action)
        self.action.setChecked(SettingsReader(settings).flag(ON_KEY, False))
        self.action.toggled.connect(self._toggled)

        self._play: ScenarioPlay | None = None  # the play the rounds below belong to
        self._name: str | None = None  # its scenario's name
        self._round: Round | None = None  # asked, not yet settled
        self._running = False  # its step was let go
        self._guessed: set[str] = set()  # tasks guessed in this play: asked once
        self._deaths: list[Death] = []  # told by the window since the question
        self._seen: dict[str, TaskState] = {}  # each task's state, as the window was told
        self._settle_timer = QTimer(self)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self._tick)

        self._player.hold_before = self._hold_before
        self._player.finished.connect(self._finished)
        host.controller.events.connect(self._events)
        host.controller.run_replaced.connect(self._run_replaced)
        self.panel.run_requested.connect(self._run_step)
        self._idle()
        self._show_scores()

    @property
    def on(self) -> bool:
        return self.action.isChecked()

    @property
    def waiting(self) -> bool:
        """A question is asked and the play holds for its answers."""
        return self._round is not None and not self._running

    def record(self, name: str) -> Record:
        """The scores kept for scenario ``name``; a damaged one is ignored, with a warning."""
        read = SettingsReader(self._settings)
        found: list[Score | None] = []
        for which in ("last", "best"):
            key = score_key(name, which)
            raw = self._settings.value(key)
            score = Score.parse(raw)
            if raw is not None and score is None:
                read.unusable(key, raw, "no score", "a score such as 3/4")
            found.append(score)
        last, best = found
        if last is not None and last.beats(best):
            best = last  # a best below the last was edited by hand: the last is better
        return Record(last, best)

    # == holding ==========================================================================
    def _hold_before(self, index: int, step: Step) -> bool:
        """Asked by the play once before each step: True holds it for a prediction."""
        play = self._player.play
        if play is None:
            return False
        if play is not self._play:
            self._new_play(play)
        if not self.on or self._round is not None or not is_risky(step):
            return False
        tasks = play.final(self._player.facade.tasks)
        rows = rows_to_predict(
            play.steps, index, {i: t.state for i, t in tasks.items()}, self._guessed
        )
        if not rows:
            return False
        self._round = Round(index, rows)
        self._running = False
        self._seen = {}
        self._deaths = []
        kind, task_id = step.args[0], step.args[1]
        what = "hangs" if kind == "hang" else "kills"
        title = SCENARIOS[self._name].title if self._name else "this scenario"
        self.panel.ask(
            f"Step {index + 1} of '{title}' submits {task_id!r}, which {what} its worker. "
            "Before it runs: what will each task end as?",
            rows,
        )
        self._side.setCurrentWidget(self.panel)
        self._settle_timer.start()
        return True

    def _new_play(self, play: ScenarioPlay) -> None:
        self._drop("")
        self._play = play
        self._name = scenario_name(play.steps)
        self._guessed = set()
        self._idle()
        self._show_scores()

    @Slot()
    def _run_step(self) -> None:
        """The learner's guesses are in: let the held step run."""
        round_, play = self._round, self._player.play
        if round_ is None or self._running or play is None or play is not self._play:
            return
        for task_id, state in self.panel.guesses().items():
            round_.guess(task_id, state)
        if round_.missing:
            return
        self._running = True
        self._guessed.update(round_.ids)
        self.panel.status.setText("The step runs: each guess is marked as its task ends.")
        play.release()

    # == settling =========================================================================
    @Slot(list)
    def _events(self, events: list[Event]) -> None:
        """The states the window has shown: a guess is marked, and scored, only once the
        window has told the death behind it (the crash explainer is fed first)."""
        if self._round is None:
            return
        for event in events:
            if type(event) is TaskChanged:
                self._seen[event.task_id] = event.state
        self._deaths += deaths_in(events)
        self._tick()

    @Slot()
    def _tick(self) -> None:
        round_, play = self._round, self._play
        if round_ is None or play is None:
            return
        if self._running:
            self._settle(round_, play)
        elif not play.held or play.position != round_.index:
            # Resumed or stepped by another control: the step ran unpredicted.
            self._drop("The play went on without your prediction: not scored.")
        else:
            self._withdraw_ended(round_, play)

    def _states(self, play: ScenarioPlay, ended: bool) -> dict[str, TaskState]:
        """Each task's state as the window's events told it, with the tasks refused at
        once (they have no event); once the play has ended, the facade's final word."""
        states = dict(self._seen)
        for task_id, task in play.sent.items():
            if task.state is TaskState.REJECTED:
                states.setdefault(task_id, task.state)
        if ended:
            for task_id, task in play.final(self._player.facade.tasks).items():
                seen = states.get(task_id)
                if seen is None or not seen.is_final:
                    states[task_id] = task.state
        return states

    def _withdraw_ended(self, round_: Round, play: ScenarioPlay) -> None:
        """While the question waits, a task that ends is seen, not predicted: its row is
        taken out of the score; the others show where they are now."""
        states = self._states(play, ended=False)
        for task_id in round_.ids:
            state = states.get(task_id)
            if state is None:
                continue
            if state.is_final:
                round_.withdraw(task_id, state)
                self.panel.withdraw(task_id, state)
            self.panel.set_now(task_id, state.name)
        if not round_.rows:
            self._drop("Every task you were asked about ended before the step: nothing to score.")
            play.release()

    def _settle(self, round_: Round, play: ScenarioPlay, ended: bool = False) -> None:
        """Marks each guess whose task has ended; once all have, scores the round."""
        states = self._states(play, ended)
        for task_id in round_.ids:
            if task_id in states:
                self.panel.set_now(task_id, states[task_id].name)
        settled = round_.settle(states)
        tasks = play.final(self._player.facade.tasks) if settled else {}
        for task_id in settled:
            task = tasks.get(task_id)
            why = why_ended(task, self._deaths) if task is not None else ""
            self.panel.mark(task_id, round_.right(task_id), round_.real[task_id], why)
        if round_.settled:
            self._scored(round_, play, tasks)
        elif ended:
            self._drop("The scenario ended before every task you predicted did: not scored.")

    @Slot(bool)
    def _finished(self, _ok: bool) -> None:
        if self.waiting:
            self._drop("The scenario ended before the step ran: not scored.")
        round_, play = self._round, self._play
        if round_ is not None and play is not None and self._running:
            self._settle(round_, play, ended=True)

    def _scored(self, round_: Round, play: ScenarioPlay, tasks: dict[str, Task]) -> None:
        self._round, self._running = None, False
        self._settle_timer.stop()
        step = play.steps[round_.index]
        text = difference(round_, tasks, self._deaths, step=f"submit {step.args[1]!r}")
        self.panel.explain(text)
        old = self._explainer.toPlainText()
        text = f"{formatting.clock(time.time())}\n{text}\n{RULE}"
        self._explainer.setPlainText(f"{text}\n\n{old}" if old else text)
        self._explainer.moveCursor(self._explainer.textCursor().MoveOperation.Start)
        score = round_.score()
        wrong = "" if not round_.wrong else " What differed, and why: below and in Crash explained."
        self.panel.status.setText(f"{score.right} of {score.total} right.{wrong}")
        if self._name is not None:
            self._keep(self._name, score)
        self._side.setCurrentWidget(self._explainer)

    def _keep(self, name: str, score: Score) -> None:
        record = self.record(name).after(score)
        for which, value in (("last", record.last), ("best", record.best)):
            self._settings.setValue(score_key(name, which), str(value))
        self._settings.sync()
        self._show_scores()

    # == dropping, toggling ===============================================================
    def _drop(self, why: str) -> None:
        """Ends the open question, unscored; ``why`` says so in the panel."""
        if self._round is None:
            return
        self._round, self._running = None, False
        self._settle_timer.stop()
        self.panel.clear(why)

    @Slot()
    def _run_replaced(self) -> None:
        self._drop("A new run began: the prediction was dropped, not scored.")
        self._play = None

    @Slot(bool)
    def _toggled(self, on: bool) -> None:
        self._settings.setValue(ON_KEY, on)
        self._settings.sync()
        if on:
            self._idle()
            return
        play, waiting = self._player.play, self.waiting
        self._drop("")
        self._idle()
        if waiting and play is not None and play is self._play:
            play.release()  # the question is gone: the play goes on

    def _idle(self) -> None:
        """The panel's words while nothing is asked."""
        if self._round is not None:
            return
        if not self.on:
            text = (
                "Predict mode is off. Turn it on in the Scenarios menu (Predict before a "
                "worker dies): a scenario then holds before each step that kills or hangs a "
                "worker, and asks you what each task will end as."
            )
        elif self._name is not None and self._name not in RISKY:
            text = (
                f"Nothing to predict in '{SCENARIOS[self._name].title}': none of its steps "
                "kills or hangs a worker."
            )
        else:
            text = (
                "Predict mode is on: play a scenario from the Scenarios menu; before a step "
                "that kills or hangs a worker, it holds here and asks you."
            )
        self.panel.clear(text)

    def _show_scores(self) -> None:
        """Each scenario's scores, in the panel and in its Scenarios menu item's tooltip."""
        lines = []
        for name, action in self._scenario_actions.items():
            base = f"python -m app demo --scenario {name}"
            if name not in RISKY:
                action.setToolTip(f"{base}\nPredict: nothing to predict (no worker dies)")
                continue
            record = self.record(name)
            action.setToolTip(f"{base}\nPredict: {record}")
            lines.append(f"{name}: {record}")
        self.panel.score.setText("Your predictions:\n" + "\n".join(lines))
