"""Plays a guided scenario in the window, one step at a time, without ever blocking it.

The steps are the same data, played by the same interpreter (``ScenarioPlay``), as
``python -m app demo --scenario`` in a terminal; here a paced tick advances them on the
run controller, so the table, the worker panel and the console stay live while the
console narrates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal, Slot

from app.core.front import FacadeFront
from app.core.task import Task
from app.gui.run_controller import COLLECTED, RunController
from app.gui.throttle import Throttle
from app.teaching.scenarios import SCENARIOS, Scenario, ScenarioPlay, Step, check

log = logging.getLogger("app.scenario")
TICK_MS = 50
STEP_DEADLINE = 60.0  # a step waiting longer than this is a failure, not a pause


class ScenarioPlayer(QObject):
    """Runs one scenario at a time on a fresh run of the controller.

    It is the interpreter's driver in the window: a collect step's first call goes
    through the controller's collect thread, and the step waits until it has ended.
    """

    finished = Signal(bool)  # True when every task ended as the scenario documents
    held = Signal(int)  # the play stopped before the step at this index (a pause, a prediction)
    started = Signal(str)  # a scenario (its name) began: ``play`` is its play, not begun yet
    moved = Signal()  # the play began or ended a step, or was held or let go
    stopped = Signal()  # a new run ended the scenario (or the window closes)

    def __init__(self, controller: RunController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._scenario: Scenario | None = None
        self._play: ScenarioPlay | None = None
        self._collect_started = False
        self._rest: tuple[int, bool] | None = None  # last seen held before: (step, by hook)
        self._seen: tuple[int, bool, bool] | None = None  # position, held, begun
        self.problems: list[str] = []
        # Given to each play: True holds it before that step (see ScenarioPlay.hold_before).
        self.hold_before: Callable[[int, Step], bool] | None = None
        self._tick = Throttle(TICK_MS, self._advance, self)
        # A new run (New run, a script) ends the scenario: it would go on in that run.
        # start() begins its own run first, then ticks.
        controller.run_replaced.connect(self.stop)

    @property
    def running(self) -> bool:
        return self._tick.pending

    @property
    def sent(self) -> dict[str, Task]:
        """Every task the scenario submitted, the refused ones too."""
        return self._play.sent if self._play is not None else {}

    @property
    def play(self) -> ScenarioPlay | None:
        """The scenario in play, to pause, resume or step (None before the first)."""
        return self._play

    @property
    def scenario(self) -> Scenario | None:
        """The scenario played last (None before the first)."""
        return self._scenario

    @property
    def facade(self) -> FacadeFront:
        return self._controller.facade

    def start(self, name: str) -> None:
        scenario = SCENARIOS[name]
        self._scenario = scenario
        self._collect_started = False
        self.problems = []
        self._play = None
        # A new run: its run_replaced stops any scenario in play (and its tick).
        self._controller.begin_run(1, bool(scenario.options.get("restart", False)))
        log.info("scenario: %s", scenario.title)
        self._play = ScenarioPlay(scenario.steps, self, patience=STEP_DEADLINE)
        self._play.hold_before = self.hold_before
        self._rest = self._seen = None
        self._tick.later()
        self.started.emit(name)

    @Slot()
    def stop(self) -> None:
        self._tick.cancel()
        self.stopped.emit()

    def collect(self) -> Sequence[Task] | None:
        """The controller's collect, on its thread: the tasks once it has ended."""
        if not self._collect_started:
            self._collect_started = True
            self._controller.collect()
            return None
        if self._controller.mode != COLLECTED:
            return None  # still collecting
        self._collect_started = False
        return self.facade.tasks

    @Slot()
    def _advance(self) -> None:
        """Plays steps until one has to wait; a waiting step is looked at again next tick."""
        self._tick()  # the next tick, TICK_MS after this one
        play, scenario = self._play, self._scenario
        assert play is not None and scenario is not None
        try:
            done = play.advance()
        except TimeoutError as exc:
            self._end([str(exc)])
            return
        seen = (play.position, play.held, play.begun)
        if seen != self._seen:
            self._seen = seen
            self.moved.emit()
        if done:
            self._end(check(scenario, play.final(self.facade.tasks)))
            return
        # Held before a step, not in one a pause let go on: said once per step and cause
        # (a pause, then a question before the same step, are two stops).
        rest = (play.position, play.held_by_hook) if play.held and not play.begun else None
        if rest is not None and rest != self._rest:
            self.held.emit(rest[0])
        self._rest = rest

    def _end(self, problems: list[str]) -> None:
        self._tick.cancel()
        self.problems = problems
        scenario = self._scenario
        name = scenario.name if scenario else "?"
        if problems:
            for problem in problems:
                log.warning("scenario %s: UNEXPECTED %s", name, problem)
        else:
            log.info("scenario %s: every task ended as documented", name)
        self.finished.emit(not problems)
