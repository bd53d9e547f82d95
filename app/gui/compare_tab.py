"""The Compare tab: a scenario's tasks, each as it ended under this facade, under
``concurrent.futures.ProcessPoolExecutor`` and under ``multiprocessing.Pool``, observed
on this Python (``python -m app compare NAME`` in the window).

It shows the scenario played last in the window, or the one chosen in its combo: from
the cache at once when this Python's result is stored, else from a run on a thread of
its own (``CompareRun``), started by its button or, once a scenario has been played,
by itself. A run takes each contender's deadline and a little more; the GUI thread never
waits for one but when the window closes, and then only for its cancel (its processes
killed), a fraction of a second.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import QModelIndex, QSignalBlocker, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import describe
from app.gui.compare_model import DIFFERS, CompareModel
from app.gui.scenario_player import ScenarioPlayer
from app.teaching.compare_cells import Observed, header, rows, stored
from app.teaching.scenarios import SCENARIOS
from app.teaching.stdlib_cache import store
from app.teaching.stdlib_contender import task_ids
from app.teaching.stdlib_runs import DEADLINE, OUTER_GRACE, Cancelled, cached, run_compare

log = logging.getLogger("app.gui")

CANCEL_WAIT_MS = 5000
"""How long the window's close waits for a cancelled run: killing and reaping its
processes takes a fraction of a second."""
PROGRESS_MS = 250
RUN_TEXT = "Run on this P&ython"
AGAIN_TEXT = "Run again on this P&ython"
HINT = "Move through the cells with the arrow keys: each one is told here whole."
LEGEND = (
    f"{DIFFERS} in bold on an amber ground: the task ended otherwise than under the facade "
    "(another end, exception type or value; the messages' words aside)."
)
_OUTLIVED: list[CompareRun] = []
"""Runs still going after the close's bounded wait: kept until the process ends, since a
QThread destroyed running aborts it (their processes end with this one: a lifeline)."""


class CompareRun(QThread):
    """One ``run_compare`` of a scenario, stored in the cache, off the GUI thread;
    ``cancel`` ends it early (its processes killed), saying nothing."""

    observed = Signal(str, object, float)  # scenario, result, each contender's deadline
    failed = Signal(str, str)  # scenario, why

    def __init__(self, name: str, deadline: float = DEADLINE) -> None:
        super().__init__()  # no parent: the tab keeps it, and ends it before it goes
        self.name = name
        self.deadline = deadline
        self.cancel = threading.Event()
        self.began = time.monotonic()

    @property
    def at_most(self) -> float:
        """Seconds the run can take: its deadline, and the outer deadline's grace."""
        return self.deadline + OUTER_GRACE

    def run(self) -> None:
        try:
            result = run_compare(self.name, self.deadline, self.cancel)
            store(result, self.deadline)
        except Cancelled:
            return  # the window closes: nobody to tell
        except RuntimeError as exc:  # a contender ended without a report: its stderr says why
            self.failed.emit(self.name, str(exc))
        except Exception as exc:  # anything else is shown too, never lost with the thread
            self.failed.emit(self.name, describe(exc))
        else:
            self.observed.emit(self.name, result, self.deadline)


class CompareHost(Protocol):
    """What the tab needs of the window."""

    side: QTabWidget
    scenario_player: ScenarioPlayer


class CompareTab(QWidget):
    """The tab, added to ``host.side``; ``stop()`` when the window closes."""

    auto_run = True
    """Compare a scenario played to its end with nothing at hand. Three interpreters and
    their pools: window tests of other things turn it off."""

    def __init__(self, host: CompareHost) -> None:
        super().__init__(host.side)
        self.setObjectName("compareTab")
        self._player = host.scenario_player
        self._name = next(iter(SCENARIOS))
        self._fresh: dict[str, tuple[dict[str, Any], Observed]] = {}  # run in this window
        self._errors: dict[str, str] = {}  # scenario -> why its last run gave nothing
        self._problem: str | None = None  # why the result at hand cannot be shown
        self._runs: list[CompareRun] = []  # at most one going; a list the finalizer can hold
        self._pending: str | None = None  # a scenario played while another was being run
        self._closed = False
        self._build()
        host.side.addTab(self, "Compare")
        self._player.started.connect(self._played)
        self._player.finished.connect(self._played_to_the_end)
        self.destroyed.connect(partial(_end_all, self._runs))
        self._timer = QTimer(self)
        self._timer.setInterval(PROGRESS_MS)
        self._timer.timeout.connect(self._refresh_status)
        self.show_scenario(self._name)

    def _build(self) -> None:
        chooser = QLabel("Scenar&io:", self)
        self.combo = QComboBox(self)
        self.combo.setObjectName("compareScenario")
        self.combo.setAccessibleName("Scenario to compare")
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(16)
        for name, scenario in SCENARIOS.items():
            self.combo.addItem(scenario.title, name)
            self.combo.setItemData(self.combo.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        chooser.setBuddy(self.combo)
        self.button = QPushButton(RUN_TEXT, self)
        self.button.setObjectName("compareRun")
        self.button.setAccessibleName("Run the comparison on this Python")
        self.model = CompareModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("compareTable")
        self.table.setAccessibleName("Each task's outcome under each contender")
        self.table.setModel(self.model)
        self.table.setWordWrap(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; the arrows move in it
        self.table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        rows = self.table.verticalHeader()
        rows.hide()
        # A few rows: their wrapped cells whole, fitted again whenever the columns change.
        rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        columns = self.table.horizontalHeader()
        columns.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        columns.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.heading = _label("compareHeading", self)
        self.status = _label("compareStatus", self)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("compareProgress")
        self.progress.setAccessibleName("Time the comparison has run")
        self.progress.setFormat("%v s (at most %m s)")
        self.progress.hide()
        self.detail = _label("compareDetail", self, keyboard=True)
        self.detail.setAccessibleName("The current cell, whole")
        self.legend = _label("compareLegend", self)
        self.legend.setText(LEGEND)
        top = QHBoxLayout()
        top.addWidget(chooser)
        top.addWidget(self.combo, 1)
        top.addWidget(self.button)
        box = QVBoxLayout(self)
        box.addLayout(top)
        for widget in (self.heading, self.status, self.progress):
            box.addWidget(widget)
        box.addWidget(self.table, 1)
        box.addWidget(self.detail)
        box.addWidget(self.legend)
        self.combo.currentIndexChanged.connect(self._chosen)
        self.button.clicked.connect(self._run_clicked)
        self.table.selectionModel().currentChanged.connect(self._current_changed)

    # == what is shown ====================================================================
    @property
    def scenario(self) -> str:
        """The scenario shown."""
        return self._name

    @property
    def running(self) -> str | None:
        """The scenario being run now, if any: until the tab has taken in its end."""
        going = self._going()
        return None if going is None else going.name

    def _going(self) -> CompareRun | None:
        return self._runs[0] if self._runs else None

    def show_scenario(self, name: str) -> None:
        """Shows scenario ``name``: its result at once if one is at hand."""
        task_ids(name)  # a clear TypeError or ValueError for a name that is no scenario's
        index = self.combo.findData(name)
        if index != self.combo.currentIndex():
            self.combo.setCurrentIndex(index)  # _chosen shows it
        else:
            self._show(name)

    @Slot(int)
    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if isinstance(name, str):
            self._show(name)

    def _show(self, name: str) -> None:
        self._name = name
        result: Any = None
        observed = Observed(None, False, None)
        if name in self._fresh:
            result, observed = self._fresh[name]
        else:
            try:
                result = cached(name)
            except Exception as exc:  # the cache never stops the tab: it says why
                self._errors[name] = f"the stored result could not be read: {describe(exc)}"
            if result is not None:
                observed = stored(name)
        self.show_result(name, result, observed)

    def show_result(self, name: str, result: Any, observed: Observed) -> None:
        """Shows ``result`` (None: nothing observed yet) as scenario ``name``'s; one that
        is not a comparison of it is refused in the tab, with the reason."""
        task_ids(name)  # a clear TypeError or ValueError for a name that is no scenario's
        self._name = name
        self._problem = None
        with QSignalBlocker(self.combo):  # the combo says which, without showing it again
            self.combo.setCurrentIndex(self.combo.findData(name))
        found = []
        if result is not None:
            try:
                found = rows(result, name)
                lines = header(result, observed)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self._problem = f"This result cannot be shown: {exc}"
                found = []
        if not found:
            lines = [f"{name}: {SCENARIOS[name].title}"]
        self.heading.setText("\n".join(lines))
        self.model.set_rows(found)
        self.detail.setText(HINT if found else "")
        self._refresh_status()

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.detail.setText(self.model.describe(current) or (HINT if self._shown() else ""))

    @Slot()
    def _shown(self) -> bool:
        """Whether a result is in the table."""
        return self.model.rowCount() > 0

    def _refresh_status(self) -> None:
        run = self._going()
        running = None if run is None else run.name
        name = self._name
        if run is not None:
            elapsed = time.monotonic() - run.began
            self.progress.setRange(0, round(run.at_most))
            self.progress.setValue(min(round(elapsed), round(run.at_most)))
            self.progress.show()
            other = running != name
            text = (
                f"Running{f' {running}' if other else ''} under ProcessPoolExecutor, Pool and "
                f"the facade, at most {run.at_most:g} s.{' One run at a time.' if other else ''}"
            )
        else:
            self.progress.hide()
            text = self._problem or self._idle_text(name)
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.button.setEnabled(running is None and not self._closed)
        self.button.setText(AGAIN_TEXT if self._shown() else RUN_TEXT)
        self.button.setToolTip(
            "A comparison is running: one at a time."
            if running is not None
            else f"python -m app compare {name}: the scenario's tasks under the three, "
            f"each given {DEADLINE:g} s (at most {DEADLINE + OUTER_GRACE:g} s in all), "
            "stored for this Python  (Alt+Y)"
        )

    def _idle_text(self, name: str) -> str:
        error = self._errors.get(name)
        if error is not None:
            return f"The last run gave nothing to show: {error}"
        if self._shown():
            return ""
        return (
            f"Not observed yet on Python {platform.python_version()}: Run on this Python runs "
            f"the scenario's tasks under the three (about {DEADLINE:g} s); a scenario played "
            "in the window is run once it ends."
        )

    # == runs =============================================================================
    def run(self, name: str | None = None) -> bool:
        """Starts a run of scenario ``name`` (the one shown by default); False when one
        is going already, or the window closes."""
        name = self._name if name is None else name
        task_ids(name)  # a clear TypeError or ValueError for a name that is no scenario's
        if self.running is not None or self._closed:
            return False
        self._errors.pop(name, None)
        run = CompareRun(name)
        run.observed.connect(self._observed)
        run.failed.connect(self._failed)
        run.finished.connect(self._ended)
        self._runs.append(run)
        run.start()
        self._timer.start()
        self._refresh_status()
        log.info("compare: running %s under the three contenders", name)
        return True

    @Slot()
    def _run_clicked(self) -> None:
        self.run()

    @Slot(str)
    def _played(self, name: str) -> None:
        if name in SCENARIOS:
            self.show_scenario(name)

    @Slot(bool)
    def _played_to_the_end(self, _ok: bool) -> None:
        """A scenario played in the window ended: its comparison, unless one is at hand
        (a run going for another scenario runs it next)."""
        scenario = self._player.scenario
        if not self.auto_run or scenario is None or self._closed or self._at_hand(scenario.name):
            return
        if not self.run(scenario.name):
            self._pending = scenario.name

    def _at_hand(self, name: str) -> bool:
        if name in self._fresh or self.running == name:
            return True
        try:
            return cached(name) is not None
        except Exception:  # an unreadable cache: a run replaces it
            return False

    @Slot(str, object, float)
    def _observed(self, name: str, result: object, deadline: float) -> None:
        if self._closed or not isinstance(result, dict):
            return
        self._errors.pop(name, None)
        self._fresh[name] = (result, Observed(time.time(), True, deadline))
        if name == self._name:
            self._show(name)

    @Slot(str, str)
    def _failed(self, name: str, why: str) -> None:
        log.warning("compare %s: %s", name, why)
        self._errors[name] = why
        if name == self._name:
            self._refresh_status()

    @Slot()
    def _ended(self) -> None:
        for run in [r for r in self._runs if r.isFinished()]:
            run.wait()  # returns at once: only then may the thread object go
            self._runs.remove(run)
        if not self._runs:
            self._timer.stop()
        pending, self._pending = self._pending, None
        if pending is not None and not self._closed and not self._at_hand(pending):
            self.run(pending)
        self._refresh_status()

    def stop(self) -> None:
        """The window closes: a run going is cancelled (its processes killed) and
        waited for, a bounded while."""
        self._closed = True
        self._pending = None
        self._timer.stop()
        _end_all(self._runs)
        self._ended()


def _label(name: str, parent: QWidget, keyboard: bool = False) -> QLabel:
    """A wrapped label whose text can be selected and copied (with the keyboard too:
    then Tab stops on it)."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    flags = Qt.TextInteractionFlag.TextSelectableByMouse
    if keyboard:
        flags |= Qt.TextInteractionFlag.TextSelectableByKeyboard
    label.setTextInteractionFlags(flags)
    return label


def _end_all(runs: list[CompareRun], *_args: object) -> None:
    """Cancels the runs going and waits for them (a QThread destroyed running aborts the
    process); one that outlives the wait is kept until the process ends."""
    for run in runs:
        run.cancel.set()
    for run in list(runs):
        if not run.wait(CANCEL_WAIT_MS):
            log.warning("compare: the run of %s did not end when cancelled", run.name)
            _OUTLIVED.append(run)
            runs.remove(run)
