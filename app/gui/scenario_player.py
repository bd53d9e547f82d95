"""Plays a guided scenario in the window, one step at a time, without ever blocking it.

The steps are the same data ``python -m app demo --scenario`` plays in a terminal; here a
timer advances them, so the table, the worker panel and the console stay live while the
console narrates.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core.task import Task
from app.teaching.scenarios import SCENARIOS, Scenario, check, make_task

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

log = logging.getLogger("app.scenario")
TICK_MS = 50
STEP_DEADLINE = 60.0  # a wait step longer than this is a failure, not a pause


class ScenarioPlayer(QObject):
    """Runs one scenario at a time on a fresh run of the window."""

    finished = Signal(bool)  # True when every task ended as the scenario documents

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._scenario: Scenario | None = None
        self._step = 0
        self._waiting_since = 0.0
        self._collects_left = 0
        self.sent: dict[str, Task] = {}
        self.problems: list[str] = []
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._advance)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self, name: str) -> None:
        scenario = SCENARIOS[name]
        self._timer.stop()
        self._scenario = scenario
        self._step = 0
        self._waiting_since = 0.0
        self._collects_left = 0
        self.sent = {}
        self.problems = []
        self._window.begin_run(1, bool(scenario.options.get("restart", False)))
        log.info("scenario: %s", scenario.title)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _advance(self) -> None:
        """Plays steps until one has to wait; a waiting step is looked at again next tick."""
        scenario = self._scenario
        assert scenario is not None
        while self._step < len(scenario.steps):
            step = scenario.steps[self._step]
            if not self._play(step.kind, step.args):
                if time.monotonic() - self._waiting_since > STEP_DEADLINE:
                    self._end([f"step {self._step + 1} ({step.kind}) did not finish"])
                return
            self._step += 1
            self._waiting_since = time.monotonic()
        final = {t.ID: t for t in self._window.facade.tasks}
        for task_id, task in self.sent.items():
            final.setdefault(task_id, task)  # refused tasks are not recorded
        self._end(check(scenario, final))

    def _play(self, kind: str, args: tuple[object, ...]) -> bool:
        """Plays one step; False while it must wait."""
        window = self._window
        facade = window.facade
        if kind == "say":
            log.info("%s", args[0])
        elif kind == "submit":
            task = make_task(*args)  # type: ignore[arg-type]
            accepted = facade.process_task(task)
            self.sent[task.ID] = task
            extra = f" ({task.error})" if task.error else ""
            log.info("process_task(%r) -> %s: %s%s", task.ID, accepted, task.state.name, extra)
        elif kind == "wait":
            ids = args[0]
            return all(facade.task(i).state.is_final for i in ids)  # type: ignore[attr-defined]
        elif kind == "wait_dead":
            return not any(info.alive for info in facade.worker_info())
        elif kind == "collect":
            return self._collect(int(args[0]))  # type: ignore[call-overload]
        return True

    def _collect(self, calls: int) -> bool:
        """The first call through the window's Collect; the others straight to the facade."""
        window = self._window
        if not self._collects_left:
            self._collects_left = calls
            window.controls.collect.click()
            return False
        if not window.controls.new_run.isEnabled():
            return False  # still collecting
        for call in range(2, self._collects_left + 1):
            started = time.perf_counter()
            tasks = window.facade.collect_tasks()
            took = time.perf_counter() - started
            log.info("collect_tasks() #%d returned %d tasks in %.6f s", call, len(tasks), took)
        self._collects_left = 0
        return True

    def _end(self, problems: list[str]) -> None:
        self._timer.stop()
        self.problems = problems
        scenario = self._scenario
        name = scenario.name if scenario else "?"
        if problems:
            for problem in problems:
                log.warning("scenario %s: UNEXPECTED %s", name, problem)
        else:
            log.info("scenario %s: every task ended as documented", name)
        self.finished.emit(not problems)
