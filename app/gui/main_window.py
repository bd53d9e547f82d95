"""The monitor window: drives a facade (local or Dask) and shows its whole life, live.

The window never touches a pipe or a process: its ``RunController`` owns the run (the
facade, the poller thread that listens to it, the collect thread, bulk submits), and each
batch of events it passes on updates the table, the worker panel and the console at once.
The window keeps the layout, the menus, the wiring, the settings and the close dialog.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from PySide6.QtCore import QItemSelection, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import TaskState
from app.core.events import Event
from app.core.front import FacadeFront
from app.core.replay import RunReplay
from app.core.task import Task
from app.gui import formatting, palette
from app.gui.backends import Backend, LocalBackend
from app.gui.close_dialog import CloseChoice, ask_close_choice, ask_force_cancel
from app.gui.compare_tab import CompareTab
from app.gui.console_view import ConsoleView, LogBridge
from app.gui.controls import (
    Controls,
    SecondsSpin,
    TableBar,
    details_view,
    explainer_view,
)
from app.gui.crash_stories import CrashStories
from app.gui.export_dialog import ask_export_path, export_or_say
from app.gui.live_review import LiveReview
from app.gui.predict_mode import PredictMode
from app.gui.recorded_view import RecordedView
from app.gui.resources import icon, stylesheet
from app.gui.row_actions import RowActions
from app.gui.run_controller import COLLECTED, COLLECTING, RUNNING, RunChoices, RunController
from app.gui.run_files import RunFiles
from app.gui.scenario_bar import ScenarioBar
from app.gui.scenario_player import ScenarioPlayer
from app.gui.settings import SettingsReader
from app.gui.stack_taker import StackTaker
from app.gui.table_keys import TableKeys
from app.gui.task_details import details_text
from app.gui.task_model import TaskTableModel
from app.gui.task_view import TaskFilterProxy, make_task_table
from app.gui.throttle import Throttle
from app.gui.timeline_legend import TimelinePane
from app.gui.timeline_view import TimelineView
from app.gui.worker_panel import WorkerPanel
from app.teaching.export import export, rows_as_text
from app.teaching.scenarios import SCENARIOS

log = logging.getLogger("app.gui")

TICK_MS = 250  # durations, uptimes, rates: a few refreshes a second is live enough


class MainWindow(QMainWindow):
    """The monitor. ``facade`` is the current run's facade; a new run replaces it."""

    def __init__(
        self,
        workers: int = 1,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        backend: Backend | None = None,
        *,
        run_file: str | Path | None = None,
        follow: bool = False,
    ) -> None:
        super().__init__(parent)
        self.backend: Backend = backend if backend is not None else LocalBackend()
        self.setObjectName("mainWindow")
        dask = self.backend.dask
        self.setWindowTitle(f"Worker monitor: {self.backend.name}" if dask else "Worker monitor")
        self.setWindowIcon(icon("app"))
        self._settings = settings if settings is not None else QSettings()
        self._quit_after_collect = False
        self._shut_down = False
        self._rate = formatting.ResultRate()

        self.controller = RunController(self.backend, self.run_choices, self)
        self.controls = Controls(self)
        self.model = TaskTableModel(self)
        self.proxy = TaskFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = make_task_table(self)
        self.table.setModel(self.proxy)
        self.table_bar = TableBar(self)
        self.details = details_view(self)
        self.explainer = explainer_view(self)
        self.side = QTabWidget(self)
        self.side.setObjectName("sideTabs")
        self.side.addTab(self.details, "Task")
        self.side.addTab(self.explainer, "Crash explained")
        self.crash_stories = CrashStories(self.explainer, self.side, dask)
        self.worker_panel = WorkerPanel(self)
        self.timeline = TimelineView(self)
        self.timeline_pane = TimelinePane(self.timeline, self)
        self.console = ConsoleView(self)
        self.counts_label = QLabel(self)
        self.rate_label = QLabel(self)
        self._bridge = LogBridge(self)
        self.scenario_player = ScenarioPlayer(self.controller, self)
        self._layout()
        self._menus()
        self.scenario_bar = ScenarioBar(self.scenario_player, self._settings, self.scenarios_menu)
        self.central_layout.insertWidget(1, self.scenario_bar)
        self._connect()
        self.predict = PredictMode(self, self._settings)  # holds scenarios for predictions
        self.compare_tab = CompareTab(self)  # the scenario played, as the stdlib pools end it
        logging.getLogger().addHandler(self._bridge.handler)  # the console shows what follows
        self.destroyed.connect(partial(_end_run, self.controller, self._bridge.handler))
        self._restore_settings(workers)

        self._ticker = Throttle(TICK_MS, self._tick, self)
        self._ticker.later()
        # A recorded run (RunFileError, OSError: the file cannot be shown) or a new one.
        self.recorded = None if run_file is None else RecordedView(self, run_file, follow)
        self.review = None if self.recorded is not None else LiveReview(self)
        self.central_layout.insertWidget(1, (self.recorded or self.review).bar)
        if self.recorded is not None:
            self.recorded.start()
        else:
            self.controller.start_run()

    @classmethod
    def from_run(
        cls, path: str | Path, settings: QSettings | None = None, follow: bool = False
    ) -> MainWindow:
        """A window on the run recorded at ``path``; ``follow`` keeps reading it while
        another program writes it. Raises RunFileError or OSError if it cannot be read."""
        return cls(settings=settings, run_file=path, follow=follow)

    @property
    def facade(self) -> FacadeFront:
        """The current run's facade: local processes or a Dask cluster."""
        return self.controller.facade

    @property
    def source(self) -> FacadeFront | RunReplay:
        """What the views show: the facade, or a recorded run at the chosen instant."""
        return self.controller.facade if self.recorded is None else self.recorded.replay

    def run_choices(self) -> RunChoices:
        """The run the controls describe: what a new run and a collect use."""
        c = self.controls
        return RunChoices(
            workers=c.workers.value(),
            restart=c.auto_restart.isChecked(),
            task_timeout=c.task_timeout.value() or None,
            collect_timeout=c.collect_timeout.value() or None,
            record=self.run_files.record,
        )

    # == building =========================================================================
    def _layout(self) -> None:
        tasks = QWidget(self)
        box = QVBoxLayout(tasks)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table_bar)
        box.addWidget(self.table, 1)
        self.table_split = QSplitter(Qt.Orientation.Vertical, self)
        self.table_split.setObjectName("tableSplit")
        self.table_split.addWidget(tasks)
        self.table_split.addWidget(self.timeline_pane)
        self.table_split.setStretchFactor(0, 2)
        self.table_split.setStretchFactor(1, 1)
        self.top_split = QSplitter(Qt.Orientation.Horizontal, self)
        self.top_split.setObjectName("topSplit")
        self.top_split.addWidget(self.table_split)
        self.top_split.addWidget(self.side)
        self.top_split.setStretchFactor(0, 3)
        self.top_split.setStretchFactor(1, 1)
        self.top_split.setSizes([900, 420])  # room for a traceback beside the table
        self.bottom_split = QSplitter(Qt.Orientation.Horizontal, self)
        self.bottom_split.setObjectName("bottomSplit")
        self.bottom_split.addWidget(self.worker_panel)
        self.bottom_split.addWidget(self.console)
        self.bottom_split.setStretchFactor(0, 1)  # room for the workers' memory and CPU
        self.bottom_split.setStretchFactor(1, 1)
        self.main_split = QSplitter(Qt.Orientation.Vertical, self)
        self.main_split.setObjectName("mainSplit")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.bottom_split)
        self.main_split.setStretchFactor(0, 3)
        self.main_split.setStretchFactor(1, 2)
        central = QWidget(self)
        layout = self.central_layout = QVBoxLayout(central)
        layout.addWidget(self.controls)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)
        self.statusBar().addWidget(self.counts_label, 1)
        self.statusBar().addPermanentWidget(self.rate_label)
        self.resize(1280, 820)

    def _menus(self) -> None:
        c = self.controls
        file_menu = self.menuBar().addMenu("&File")
        export_action = QAction("&Export tasks...", self)
        export_action.setShortcut(QKeySequence("Ctrl+E"))
        export_action.setToolTip("Every task of the run, every column, to CSV or JSON")
        export_action.triggered.connect(self._export_dialog)
        file_menu.addAction(export_action)
        copy_action = QAction("&Copy selected rows", self.table)
        copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy_action.triggered.connect(self.copy_selected)
        self.table.addAction(copy_action)
        file_menu.addAction(copy_action)
        file_menu.addSeparator()
        opener = partial(type(self).from_run, settings=self._settings)
        self.run_files = RunFiles(self, file_menu, self._settings, opener)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        run = self.menuBar().addMenu("&Run")
        self.mirrors: list[tuple[QPushButton, QAction]] = []  # enabled together
        buttons = (c.submit, c.submit_many, c.crash, c.collect, c.kill_now, c.restart, c.new_run)
        for button in buttons:
            action = QAction(button.icon(), button.text(), self)
            action.setShortcut(button.shortcut())
            action.setToolTip(button.toolTip())
            action.triggered.connect(button.click)
            button.setShortcut(QKeySequence())  # the menu owns the shortcut now
            run.addAction(action)
            self.mirrors.append((button, action))
        scenarios = self.scenarios_menu = self.menuBar().addMenu("&Scenarios")
        for name, scenario in SCENARIOS.items():
            action = QAction(scenario.title, self)
            action.setToolTip(f"python -m app demo --scenario {name}")
            action.triggered.connect(partial(self.scenario_player.start, name))
            scenarios.addAction(action)
        scenarios.setToolTipsVisible(True)
        if self.backend.dask:
            self.controls.auto_restart.setEnabled(False)
            self.controls.auto_restart.setToolTip(
                "On Dask every worker runs under a nanny, which always starts a new worker "
                "when one dies."
            )
            # Each scenario documents the local facade's rules (blame at once, LOST when
            # no worker is left); on Dask the same steps end otherwise, by design.
            scenarios.setEnabled(False)
            scenarios.setToolTip(
                "The scenarios show the local facade; for Dask's rules side by side: "
                "python -m app demo --scenario local-vs-dask"
            )
        view = self.menuBar().addMenu("&View")
        self.dark_action = QAction("&Dark palette", self)
        self.dark_action.setCheckable(True)
        self.dark_action.toggled.connect(self._set_dark)
        view.addAction(self.dark_action)
        view.addAction(self.timeline_pane.legend_action)

    def _connect(self) -> None:
        c = self.controls
        c.submit.clicked.connect(self._submit_one)
        c.task_id.returnPressed.connect(self._submit_one)
        c.duration.return_pressed.connect(self._submit_one)
        c.submit_many.clicked.connect(self._submit_many_clicked)
        c.crash.clicked.connect(self._crash)
        c.collect.clicked.connect(self._collect_clicked)
        c.kill_now.clicked.connect(self.controller.kill_now)
        c.restart.clicked.connect(self.controller.restart_workers)
        c.new_run.clicked.connect(self._new_run)
        c.task_id.textEdited.connect(lambda _text: self._say(""))
        self.row_actions = RowActions(self)
        self.stack_taker = StackTaker(self)
        pieces = (self.table, self.table_bar, self.details, self.side, self.timeline_pane)
        self.keys = TableKeys(*pieces)
        self.table_bar.state_filter.currentIndexChanged.connect(self._filter_states)
        self.table_bar.text_filter.textChanged.connect(self.proxy.set_text)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.counts_changed.connect(self._show_counts)
        self._bridge.record_logged.connect(self.console.add_parent_line)
        self.timeline.task_clicked.connect(self.select_task)
        run = self.controller
        run.events.connect(self.show_events)
        run.run_replaced.connect(self._run_replaced)
        run.run_started.connect(self._run_started)
        run.run_started.connect(self.run_files.prune)
        run.mode_changed.connect(self._set_mode)
        run.facade_called.connect(self.controls.code.setText)
        run.message_posted.connect(self._say)

    # == runs =============================================================================
    @Slot(object)
    def _run_started(self, facade: FacadeFront) -> None:
        self.model.set_facade(facade)
        self.worker_panel.set_facade(facade)
        self.timeline.reset(self.known_task)
        self.details.clear()
        self.explainer.clear()
        self._rate.clear()

    @Slot()
    def _run_replaced(self) -> None:
        self._quit_after_collect = False
        self.console.clear()

    @Slot(str)
    def _set_mode(self, mode: str) -> None:
        """running, collecting or collected: what the user may do now."""
        c = self.controls
        running = mode == RUNNING
        for widget in (c.submit, c.submit_many, c.crash, c.restart, c.collect, c.task_id):
            widget.setEnabled(running)
        c.kill_now.setEnabled(mode == COLLECTING)
        c.new_run.setEnabled(mode == COLLECTED)
        self.table_bar.cancel.setEnabled(running)
        self.table_bar.resubmit.setEnabled(running)
        for button, action in self.mirrors:
            action.setEnabled(button.isEnabled())
        c.mode.setText(
            {
                RUNNING: "Running: submit tasks, crash the worker, collect when done.",
                COLLECTING: "Collecting: waiting for queued tasks to finish...",
                COLLECTED: "Collected: the final states stay visible. Start a new run.",
            }[mode]
        )
        if mode == COLLECTED:
            self.timeline.freeze()
            self.refresh_workers()
            if self._quit_after_collect:
                self.shutdown()  # nothing is in flight any more: close without asking
                self.close()

    # == events ===========================================================================
    @Slot(list)
    def show_events(self, events: list[Event]) -> None:
        """One batch of the run's events, in every view at once."""
        self.crash_stories.tell(events, self.source, self.controller.auto_restart)
        self.model.apply_events(events)
        self.timeline.apply_events(events)
        self.console.add_events(events)
        if self.worker_panel.note_events(events):
            self.refresh_workers()
        self.refresh_details()

    @Slot()
    def _tick(self) -> None:
        self._ticker()  # the next tick, TICK_MS after this one
        self.model.tick()
        self.timeline.tick()
        self.refresh_workers()
        rate = self._rate.sample(self.model.finished_total)
        if rate is not None:
            self.rate_label.setText(f"{rate:,.0f} results/s")
        self.refresh_details()

    def refresh_workers(self) -> None:
        self.worker_panel.refresh(self.model.counts[TaskState.PENDING])

    @Slot()
    def _show_counts(self) -> None:
        self.counts_label.setText(formatting.task_counts(self.model.counts))

    # == submitting =======================================================================
    @Slot(str)
    def _say(self, message: str) -> None:
        self.controls.message.setText(message)

    def _submit_one(self) -> None:
        c = self.controls
        problem = self.controls.duration_problem()
        if problem:
            self._say(problem)
            return
        task, accepted = self.controller.submit(c.task_id.text().strip(), c.duration.value())
        if task.state is TaskState.REJECTED:
            self._say(task.error or "rejected")
            return
        c.task_id.clear()
        self._say("" if accepted else f"{task.ID}: {task.state.name}: {task.error}")

    @Slot()
    def _submit_many_clicked(self) -> None:
        problem = self.controls.duration_problem()
        if problem:
            self._say(problem)
            return
        self.submit_many(self.controls.many.value(), self.controls.duration.value())

    def submit_many(self, count: int, duration: float) -> None:
        """Submits ``count`` tasks in short slices, so the window stays smooth meanwhile."""
        self.controller.submit_many(count, duration)

    # == lifecycle ========================================================================
    @Slot()
    def _crash(self) -> None:
        self.controller.crash(self.controls.crash_mode.currentData())

    @Slot()
    def _collect_clicked(self) -> None:
        if not self._refused(self.controls.collect_timeout, "collect timeout"):
            self.controller.collect()

    def _refused(self, box: SecondsSpin, what: str) -> bool:
        """True, and says why next to the fields, if ``box`` holds text that is no value."""
        problem = box.problem()
        if problem:
            self._say(f"{what}: {problem}")
        return problem is not None

    @Slot()
    def _new_run(self) -> None:
        if not self._refused(self.controls.task_timeout, "task timeout"):
            self.begin_run()

    def begin_run(self, workers: int | None = None, restart: bool | None = None) -> FacadeFront:
        """Ends the current run at once, whatever it is doing, and starts a fresh one."""
        return self.controller.begin_run(workers, restart)

    # == the table ========================================================================
    def known_task(self, task_id: str) -> Task:
        """A task the table knows, without asking the facade (no lock, no waiting)."""
        row = self.model.row_of(task_id)
        if row is None:
            raise KeyError(task_id)
        return self.model.task_at(row)

    def selected_ids(self) -> list[str]:
        rows = {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.task_at(r).ID for r in sorted(rows)]

    def ask_force_cancel(self, running: list[str]) -> bool:
        """Whether to kill the workers of these RUNNING tasks (tests replace this)."""
        return ask_force_cancel(self, running)

    def selected_tasks(self) -> list[Task]:
        return [self.source.task(task_id) for task_id in self.selected_ids()]

    @Slot()
    def copy_selected(self) -> None:
        """The selected rows as tab-separated text, for a bug report or a spreadsheet."""
        tasks = self.selected_tasks()
        if tasks:
            QApplication.clipboard().setText(rows_as_text(tasks))
            self._say(f"copied {len(tasks)} row(s)")

    def export_tasks(self, path: str) -> None:
        """Every task of the run to ``path`` (.csv or .json), written atomically."""
        tasks = self.source.tasks
        export(tasks, path)
        self._say(f"exported {len(tasks)} task(s) to {path}")

    def ask_export_path(self) -> str:
        """The file to export to, with a .csv or .json suffix; "" if none (tests replace this)."""
        return ask_export_path(self)

    @Slot()
    def _export_dialog(self) -> None:
        path = self.ask_export_path()
        if path:
            export_or_say(self, path, self.export_tasks)

    @Slot(int)
    def _filter_states(self, _index: int) -> None:
        states = self.table_bar.state_filter.currentData()
        self.proxy.set_states(frozenset(states or ()))

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.side.setCurrentWidget(self.details)
        self.refresh_details()
        ids = self.selected_ids()
        self.timeline.select(ids[0] if len(ids) == 1 else None)

    @Slot(str)
    def select_task(self, task_id: str) -> None:
        """Selects a task's row (clicked on the timeline), clearing a filter that hides it."""
        row = self.model.row_of(task_id)
        if row is None:
            return
        self.model.flush()
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.table_bar.state_filter.setCurrentIndex(0)
            self.table_bar.text_filter.clear()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(index.row())
        self.table.scrollTo(index)

    def refresh_details(self) -> None:
        self.stack_taker.update()
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isSelected(index):
            if self.details.property("taskId"):
                self.details.clear()
                self.details.setProperty("taskId", "")
            return
        task = self.model.task_at(self.proxy.mapToSource(index).row())
        text = details_text(task, self.stack_taker.section(task.ID))
        if text != self.details.toPlainText():
            self.details.setPlainText(text)
        self.details.setProperty("taskId", task.ID)

    # == settings, palette, closing =======================================================
    def _restore_settings(self, workers: int) -> None:
        """The last run's geometry and choices; a value that cannot be used leaves the
        default in place, with a warning, and never stops the window from opening."""
        read = SettingsReader(self._settings)
        read.restore("window/geometry", self.restoreGeometry)
        for split in (self.main_split, self.top_split, self.bottom_split, self.table_split):
            read.restore(f"window/{split.objectName()}", split.restoreState)
        self.controls.restore_choices(read)
        self.controls.workers.setValue(workers)
        self.dark_action.setChecked(read.flag("view/dark", self.dark_action.isChecked()))

    def _save_settings(self) -> None:
        s = self._settings
        s.setValue("window/geometry", self.saveGeometry())
        for split in (self.main_split, self.top_split, self.bottom_split, self.table_split):
            s.setValue(f"window/{split.objectName()}", split.saveState())
        self.controls.save_choices(s)
        s.setValue("view/dark", self.dark_action.isChecked())
        s.sync()

    @Slot(bool)
    def _set_dark(self, dark: bool) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            palette.apply(app, dark)
            app.setStyleSheet(stylesheet())

    def has_work_in_flight(self) -> bool:
        """Asks the facade, not the table: the table learns of a task a moment later."""
        if self.recorded is not None:
            return False  # the run is another program's, or over
        return any(not task.state.is_final for task in self.facade.tasks)

    def ask_close_choice(self) -> CloseChoice:
        """Asks what to do with the work in flight (tests replace this)."""
        return ask_close_choice(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._shut_down:
            event.accept()
            return
        if self._quit_after_collect:
            event.ignore()  # a collect is on its way; the window closes when it ends
            return
        if self.has_work_in_flight():
            choice = self.ask_close_choice()
            if choice is CloseChoice.STAY:
                event.ignore()
                return
            if choice is CloseChoice.COLLECT:
                self._quit_after_collect = True
                self.controller.collect()  # the one in progress, if any, goes on
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Leaves nothing running: no thread, no worker, no log handler."""
        if self._shut_down:
            return
        self._shut_down = True
        self._ticker.cancel()
        self.scenario_player.stop()
        self.compare_tab.stop()  # cancels a comparison running
        for replaying in (self.recorded, self.review):
            if replaying is not None:
                replaying.stop()
        self._save_settings()
        _end_run(self.controller, self._bridge.handler)
        self.stack_taker.stop()  # after the run's end: a request to a killed worker fails


def _end_run(controller: RunController, handler: logging.Handler) -> None:
    """The end of ``shutdown()``; also what a window deleted without it (``deleteLater()``,
    ``shiboken6.delete``) does before its children go: a QThread destroyed running aborts
    the process."""
    controller.shutdown()
    logging.getLogger().removeHandler(handler)
