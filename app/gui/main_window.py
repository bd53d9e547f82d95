"""The monitor window: drives a facade (local or Dask) and shows its whole life, live.

The window never touches a pipe or a process: it calls the facade, a ``FacadePoller``
thread listens to it, and each batch of events updates the table, the worker panel and
the console at once. ``collect_tasks`` runs in a ``CollectThread`` so the window never
freezes while it waits.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QItemSelection, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import CrashTask, SimpleTask, TaskState
from app.core.front import FacadeFront
from app.core.task import Task
from app.gui import formatting, palette
from app.gui.backends import Backend, LocalBackend
from app.gui.collector import CollectThread
from app.gui.console_view import ConsoleView, LogBridge
from app.gui.controls import (
    MAX_DURATION,
    Controls,
    SecondsSpin,
    TableBar,
    details_view,
    explainer_view,
    shorten,
)
from app.gui.poller import FacadePoller
from app.gui.resources import icon, stylesheet
from app.gui.scenario_player import ScenarioPlayer
from app.gui.settings import SettingsReader
from app.gui.task_model import TaskTableModel
from app.gui.task_view import TaskFilterProxy, make_task_table
from app.gui.timeline_view import TimelineView
from app.gui.worker_panel import WorkerPanel
from app.teaching.explain import (
    Death,
    deaths_in,
    explain,
    explain_dask,
    explain_killed_worker,
    killed_workers_in,
)
from app.teaching.export import export, rows_as_text
from app.teaching.scenarios import SCENARIOS

log = logging.getLogger("app.gui")

TICK_MS = 250  # durations, uptimes, rates: a few refreshes a second is live enough
SLICE_SECONDS = 0.008  # longest one slice of a bulk submit holds the event loop


class CloseChoice(enum.Enum):
    COLLECT = "collect and quit"
    KILL = "quit now"
    STAY = "stay"


class MainWindow(QMainWindow):
    """The monitor. ``facade`` is the current run's facade; a new run replaces it."""

    def __init__(
        self,
        workers: int = 1,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        backend: Backend | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend: Backend = backend if backend is not None else LocalBackend()
        self.setObjectName("mainWindow")
        dask = self.backend.dask
        self.setWindowTitle(f"Worker monitor: {self.backend.name}" if dask else "Worker monitor")
        self.setWindowIcon(icon("app"))
        self._settings = settings if settings is not None else QSettings()
        self._poller: FacadePoller | None = None
        self._collector: CollectThread | None = None
        self._quit_after_collect = False
        self._shut_down = False
        self._auto_id = 0
        self._crash_id = 0
        self._to_submit: deque[tuple[int, float]] = deque()  # (count, duration) to submit
        self._rates: deque[tuple[float, int]] = deque(maxlen=8)
        self._auto_restart = False  # the current run's auto-restart, for the explainer
        self.facade: FacadeFront  # local processes or a Dask cluster

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
        self.worker_panel = WorkerPanel(self)
        self.timeline = TimelineView(self)
        self.timeline.setToolTip(
            "One row per worker process, from spawn to death: its tasks as bars coloured by "
            "outcome, a red mark where it died, a green one where its replacement began. "
            "Ctrl+wheel zooms; click a bar to select its task."
        )
        self.console = ConsoleView(self)
        self.counts_label = QLabel(self)
        self.rate_label = QLabel(self)
        self._bridge = LogBridge(self)
        self.scenario_player = ScenarioPlayer(self)
        self._layout()
        self._menus()
        self._connect()
        logging.getLogger().addHandler(self._bridge.handler)  # the console shows what follows
        self._restore_settings(workers)

        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._start_run(self.controls.workers.value())

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
        self.table_split.addWidget(self.timeline)
        self.table_split.setStretchFactor(0, 3)
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
        self.bottom_split.setStretchFactor(0, 2)
        self.bottom_split.setStretchFactor(1, 3)
        self.main_split = QSplitter(Qt.Orientation.Vertical, self)
        self.main_split.setObjectName("mainSplit")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.bottom_split)
        self.main_split.setStretchFactor(0, 3)
        self.main_split.setStretchFactor(1, 2)
        central = QWidget(self)
        layout = QVBoxLayout(central)
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
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        run = self.menuBar().addMenu("&Run")
        self._mirrors: list[tuple[QPushButton, QAction]] = []  # enabled together
        buttons = (c.submit, c.submit_many, c.crash, c.collect, c.kill_now, c.restart, c.new_run)
        for button in buttons:
            action = QAction(button.icon(), button.text(), self)
            action.setShortcut(button.shortcut())
            action.setToolTip(button.toolTip())
            action.triggered.connect(button.click)
            button.setShortcut(QKeySequence())  # the menu owns the shortcut now
            run.addAction(action)
            self._mirrors.append((button, action))
        scenarios = self.menuBar().addMenu("&Scenarios")
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

    def _connect(self) -> None:
        c = self.controls
        c.submit.clicked.connect(self._submit_one)
        c.task_id.returnPressed.connect(self._submit_one)
        c.duration.return_pressed.connect(self._submit_one)
        c.submit_many.clicked.connect(self._submit_many_clicked)
        c.crash.clicked.connect(self._crash)
        c.collect.clicked.connect(self._collect_clicked)
        c.kill_now.clicked.connect(self._kill_now)
        c.restart.clicked.connect(self._restart)
        c.new_run.clicked.connect(self._new_run)
        c.task_id.textEdited.connect(lambda _text: self._say(""))
        self.table_bar.cancel.clicked.connect(self._cancel_selected)
        self.table_bar.resubmit.clicked.connect(self._resubmit_selected)
        self.table_bar.state_filter.currentIndexChanged.connect(self._filter_states)
        self.table_bar.text_filter.textChanged.connect(self.proxy.set_text)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.counts_changed.connect(self._show_counts)
        self._bridge.record_logged.connect(self.console.add_parent_line)
        self.timeline.task_clicked.connect(self.select_task)

    # == runs =============================================================================
    def _start_run(
        self, workers: int, restart: bool | None = None, task_timeout: float | None = None
    ) -> None:
        """A new facade; restart and timeout default to the controls' choices."""
        c = self.controls
        restart = c.auto_restart.isChecked() if restart is None else restart
        timeout = task_timeout if task_timeout is not None else (c.task_timeout.value() or None)
        self.facade = self.backend.start(workers, restart, timeout)
        self._show_code(self.backend.code(workers, restart, timeout))
        self.model.set_facade(self.facade)
        self.worker_panel.set_facade(self.facade)
        self.timeline.reset(self.known_task)
        self.details.clear()
        self.explainer.clear()
        self._auto_restart = restart
        self._auto_id = 0
        self._crash_id = 0
        self._rates.clear()
        self._poller = FacadePoller(self.facade, self)
        self._poller.events_polled.connect(self._on_events)
        self._poller.start()
        self._set_mode("running")
        log.info(
            "new run: %d worker(s), auto-restart %s, task timeout %s",
            workers,
            "on" if restart else "off",
            f"{timeout} s" if timeout else "none",
        )

    def _set_mode(self, mode: str) -> None:
        """running, collecting or collected: what the user may do now."""
        c = self.controls
        running = mode == "running"
        for widget in (c.submit, c.submit_many, c.crash, c.restart, c.collect, c.task_id):
            widget.setEnabled(running)
        c.kill_now.setEnabled(mode == "collecting")
        c.new_run.setEnabled(mode == "collected")
        self.table_bar.cancel.setEnabled(running)
        self.table_bar.resubmit.setEnabled(running)
        for button, action in self._mirrors:
            action.setEnabled(button.isEnabled())
        c.mode.setText(
            {
                "running": "Running: submit tasks, crash the worker, collect when done.",
                "collecting": "Collecting: waiting for queued tasks to finish...",
                "collected": "Collected: the final states stay visible. Start a new run.",
            }[mode]
        )

    # == events ===========================================================================
    @Slot(list)
    def _on_events(self, events: list[object]) -> None:
        deaths = deaths_in(events)
        if deaths:
            self._explain(deaths)
        for given_up in killed_workers_in(events):
            self._add_story(given_up.time, explain_killed_worker(given_up))
        self.model.apply_events(events)
        self.timeline.apply_events(events)
        self.console.add_events(events)
        if self.worker_panel.note_events(events):
            self._refresh_workers()
        self._refresh_details()

    def _explain(self, deaths: list[Death]) -> None:
        """Puts the story of each death on top of the explainer, the latest first."""
        workers_left = any(info.alive for info in self.facade.worker_info())
        for d in deaths:
            story = (
                explain_dask(d)
                if self.backend.dask
                else explain(d, workers_left, self._auto_restart)
            )
            self._add_story(d.died.time, story)

    def _add_story(self, when: float, story: str) -> None:
        """Puts a story, stamped with its time, on top of the explainer, and shows it."""
        story = f"{formatting.clock(when)}\n{story}"
        old = self.explainer.toPlainText()
        self.explainer.setPlainText(f"{story}\n\n{old}" if old else story)
        self.side.setCurrentWidget(self.explainer)

    @Slot()
    def _tick(self) -> None:
        self.model.tick()
        self.timeline.tick()
        self._refresh_workers()
        now = time.monotonic()
        self._rates.append((now, self.model.finished_total))
        first_time, first_count = self._rates[0]
        if now > first_time:
            rate = (self.model.finished_total - first_count) / (now - first_time)
            self.rate_label.setText(f"{rate:,.0f} results/s")
        self._refresh_details()

    def _refresh_workers(self) -> None:
        self.worker_panel.refresh(self.model.counts[TaskState.PENDING])

    @Slot()
    def _show_counts(self) -> None:
        counts = self.model.counts
        parts = [f"{state.name} {counts[state]:,}" for state in TaskState if counts[state]]
        total = sum(counts.values())
        self.counts_label.setText(f"{total:,} tasks" + (": " + ", ".join(parts) if parts else ""))

    # == submitting =======================================================================
    def _next_auto_id(self) -> str:
        while True:
            self._auto_id += 1
            candidate = f"task-{self._auto_id}"
            try:
                self.facade.task(candidate)
            except KeyError:
                return candidate

    def _show_code(self, call: str, returned: object = ...) -> None:
        """Shows the facade call an action made, and what it returned."""
        self.controls.code.setText(call if returned is ... else f"{call}  ->  {returned!r}")

    def _say(self, message: str) -> None:
        self.controls.message.setText(message)

    def _duration_problem(self) -> str | None:
        """Text that is no duration, or a duration no demo means: said next to the field
        instead of queueing the task."""
        duration = self.controls.duration
        try:
            seconds = duration.seconds()  # exactly as typed, even beyond the box's maximum
        except ValueError as exc:
            return str(exc)
        if seconds > MAX_DURATION:
            return f"{shorten(duration.typed())} s is more than an hour: {MAX_DURATION:g} s at most"
        return None

    def _submit_one(self) -> None:
        c = self.controls
        problem = self._duration_problem()
        if problem:
            self._say(problem)
            return
        task_id = c.task_id.text().strip() or self._next_auto_id()
        task = SimpleTask(task_id, c.duration.value())
        accepted = self.facade.process_task(task)
        self._show_code(f"w.process_task(SimpleTask({task_id!r}, {c.duration.value()}))", accepted)
        if task.state is TaskState.REJECTED:
            self._say(task.error or "rejected")
            return
        c.task_id.clear()
        self._say("" if accepted else f"{task_id}: {task.state.name}: {task.error}")

    @Slot()
    def _submit_many_clicked(self) -> None:
        problem = self._duration_problem()
        if problem:
            self._say(problem)
            return
        self.submit_many(self.controls.many.value(), self.controls.duration.value())

    def submit_many(self, count: int, duration: float) -> None:
        """Submits ``count`` tasks in short slices, so the window stays smooth meanwhile."""
        self._show_code(
            f"for n in range({count}): w.process_task(SimpleTask(f'task-{{n}}', {duration}))"
        )
        already = sum(n for n, _ in self._to_submit)
        self._to_submit.append((count, duration))
        if not already:
            QTimer.singleShot(0, self._submit_slice)

    @Slot()
    def _submit_slice(self) -> None:
        if not self._to_submit:
            return
        count, duration = self._to_submit[0]
        submit = self.facade.process_task
        end = time.perf_counter() + SLICE_SECONDS
        sent = 0
        while sent < count and (sent % 64 or time.perf_counter() < end):
            task = SimpleTask(self._next_auto_id(), duration)
            if not submit(task) and task.state is TaskState.REJECTED:
                self._say(f"{task.ID}: refused: {task.error}")
                self._to_submit.clear()
                return
            sent += 1
        if count > sent:
            self._to_submit[0] = (count - sent, duration)
        else:
            self._to_submit.popleft()
        if self._to_submit:
            QTimer.singleShot(0, self._submit_slice)

    # == lifecycle ========================================================================
    @Slot()
    def _crash(self) -> None:
        how = self.controls.crash_mode.currentData()
        if how is None:
            self.kill_worker_now()
            return
        self._crash_id += 1
        task = CrashTask(f"crash-{self._crash_id}", how)
        accepted = self.facade.process_task(task)
        self._show_code(f"w.process_task(CrashTask({task.ID!r}, {how!r}))", accepted)
        if not accepted:
            self._say(f"{task.ID}: {task.state.name}: {task.error}")

    def kill_worker_now(self) -> None:
        """SIGKILL from outside, as an operator or the OOM killer would: busy worker first."""
        if not self.backend.pids_are_local:
            self._say("the cluster's workers run on other machines: no pid to signal from here")
            return
        infos = [i for i in self.facade.worker_info() if i.alive and i.pid is not None]
        if not infos:
            self._say("no worker is alive to kill")
            return
        victim = next((i for i in infos if i.task_id is not None), infos[0])
        assert victim.pid is not None
        log.info("killing worker-%d (pid %d) with SIGKILL", victim.index, victim.pid)
        self._show_code(f"os.kill({victim.pid}, signal.SIGKILL)  # from outside")
        try:
            os.kill(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            self._say(f"worker-{victim.index} had already exited")

    @Slot()
    def _restart(self) -> None:
        started = self.facade.restart_worker(requeue_lost=True)
        self._show_code("w.restart_worker(requeue_lost=True)", started)
        self._say(
            f"started {started} worker(s); lost tasks requeued"
            if started
            else "every worker is alive: nothing to restart"
        )

    @Slot()
    def _collect_clicked(self) -> None:
        if not self._refused(self.controls.collect_timeout, "collect timeout"):
            self._collect()

    def _refused(self, box: SecondsSpin, what: str) -> bool:
        """True, and says why next to the fields, if ``box`` holds text that is no value."""
        problem = box.problem()
        if problem:
            self._say(f"{what}: {problem}")
        return problem is not None

    def _collect(self) -> None:
        if self._collector is not None:
            return
        self._to_submit.clear()
        timeout = self.controls.collect_timeout.value() or None
        self._collector = CollectThread(self.facade, timeout, self)
        self._show_code(f"tasks = w.collect_tasks({f'timeout={timeout}' if timeout else ''})")
        self._collector.finished.connect(self._collect_finished)
        self._set_mode("collecting")
        log.info(
            "collecting%s", f" (workers killed after {timeout} s)" if timeout else ", no timeout"
        )
        self._collector.start()

    @Slot()
    def _kill_now(self) -> None:
        """Ends a collect now: the running task TIMED_OUT, the queued ones CANCELLED."""
        self._show_code("w.close()")
        self.facade.close()

    @Slot()
    def _collect_finished(self) -> None:
        collector = self._collector
        if collector is None:
            return
        collector.wait()
        if collector.error:
            log.error("collect failed: %s", collector.error)
        self._collector = None
        collector.deleteLater()
        if self._poller is not None:
            self._poller.stop()  # its last batch is already queued for _on_events
        self._set_mode("collected")
        self.timeline.freeze()
        self._refresh_workers()
        if self._quit_after_collect:
            self.shutdown()  # nothing is in flight any more: close without asking
            self.close()

    @Slot()
    def _new_run(self) -> None:
        if not self._refused(self.controls.task_timeout, "task timeout"):
            self.begin_run()

    def begin_run(self, workers: int | None = None, restart: bool | None = None) -> FacadeFront:
        """Ends the current run at once, whatever it is doing, and starts a fresh one."""
        self._to_submit.clear()
        self._quit_after_collect = False
        self.facade.close()  # ends a collect in progress too
        if self._collector is not None:
            self._collect_finished()
        if self._poller is not None:
            self._poller.stop()
            self._poller.deleteLater()
            self._poller = None
        self.console.clear()
        self._start_run(workers or self.controls.workers.value(), restart)
        return self.facade

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

    @Slot()
    def _cancel_selected(self) -> None:
        self._act_on_selected(self.facade.cancel, "cancelled", "only PENDING tasks can")

    @Slot()
    def _resubmit_selected(self) -> None:
        self._act_on_selected(
            self.facade.resubmit, "resubmitted", "only ended, unsuccessful tasks can"
        )

    def _act_on_selected(self, action: Callable[[str], bool], done: str, rule: str) -> None:
        ids = self.selected_ids()
        acted = sum(1 for task_id in ids if action(task_id))
        if ids:
            self._show_code(f"w.{action.__name__}({ids[0]!r})" + (" ..." if len(ids) > 1 else ""))
        skipped = len(ids) - acted
        self._say(f"{done} {acted}" + (f"; {skipped} could not be ({rule})" if skipped else ""))

    def selected_tasks(self) -> list[Task]:
        return [self.facade.task(task_id) for task_id in self.selected_ids()]

    @Slot()
    def copy_selected(self) -> None:
        """The selected rows as tab-separated text, for a bug report or a spreadsheet."""
        tasks = self.selected_tasks()
        if tasks:
            QApplication.clipboard().setText(rows_as_text(tasks))
            self._say(f"copied {len(tasks)} row(s)")

    def export_tasks(self, path: str) -> None:
        """Every task of the run to ``path`` (.csv or .json), written atomically."""
        tasks = self.facade.tasks
        export(tasks, path)
        self._say(f"exported {len(tasks)} task(s) to {path}")

    def ask_export_path(self) -> str:
        """The file to export to, with a .csv or .json suffix; "" if none (tests replace this)."""
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export tasks", "tasks.csv", "CSV (*.csv);;JSON (*.json)"
        )
        if path and not path.lower().endswith((".csv", ".json")):
            path += ".json" if "json" in chosen.lower() else ".csv"
        return path

    @Slot()
    def _export_dialog(self) -> None:
        path = self.ask_export_path()
        if not path:
            return
        try:
            self.export_tasks(path)
        except (OSError, ValueError) as exc:
            # "No such file or directory: /the/folder", not Python's repr of the error
            why = (
                f"{exc.strerror}: {exc.filename}"
                if isinstance(exc, OSError) and exc.strerror and exc.filename
                else str(exc)
            )
            QMessageBox.warning(self, "Export failed", f"Could not export to {path}\n{why}")

    @Slot(int)
    def _filter_states(self, _index: int) -> None:
        states = self.table_bar.state_filter.currentData()
        self.proxy.set_states(frozenset(states or ()))

    @Slot(QItemSelection, QItemSelection)
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.side.setCurrentWidget(self.details)
        self._refresh_details()
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

    def _refresh_details(self) -> None:
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isSelected(index):
            if self.details.property("taskId"):
                self.details.clear()
                self.details.setProperty("taskId", "")
            return
        task = self.model.task_at(self.proxy.mapToSource(index).row())
        text = _details(task)
        if text != self.details.toPlainText():
            self.details.setPlainText(text)
        self.details.setProperty("taskId", task.ID)

    # == settings, palette, closing =======================================================
    def _restore_settings(self, workers: int) -> None:
        """The last run's geometry and choices; a value that cannot be used leaves the
        default in place, with a warning, and never stops the window from opening."""
        read = SettingsReader(self._settings)
        c = self.controls
        read.restore("window/geometry", self.restoreGeometry)
        for split in (self.main_split, self.top_split, self.bottom_split, self.table_split):
            read.restore(f"window/{split.objectName()}", split.restoreState)
        for key, spin in (
            ("run/duration", c.duration),
            ("run/taskTimeout", c.task_timeout),
            ("run/collectTimeout", c.collect_timeout),
        ):
            spin.setValue(read.number(key, spin.value(), spin.minimum(), spin.maximum()))
        c.many.setValue(
            read.integer("run/many", c.many.value(), c.many.minimum(), c.many.maximum())
        )
        c.crash_mode.setCurrentIndex(
            read.integer("run/crashMode", c.crash_mode.currentIndex(), 0, c.crash_mode.count() - 1)
        )
        c.auto_restart.setChecked(read.flag("run/autoRestart", c.auto_restart.isChecked()))
        c.workers.setValue(workers)
        self.dark_action.setChecked(read.flag("view/dark", self.dark_action.isChecked()))

    def _save_settings(self) -> None:
        s = self._settings
        c = self.controls
        s.setValue("window/geometry", self.saveGeometry())
        for split in (self.main_split, self.top_split, self.bottom_split, self.table_split):
            s.setValue(f"window/{split.objectName()}", split.saveState())
        s.setValue("run/duration", c.duration.value())
        s.setValue("run/many", c.many.value())
        s.setValue("run/crashMode", c.crash_mode.currentIndex())
        s.setValue("run/autoRestart", c.auto_restart.isChecked())
        s.setValue("run/taskTimeout", c.task_timeout.value())
        s.setValue("run/collectTimeout", c.collect_timeout.value())
        s.setValue("view/dark", self.dark_action.isChecked())
        s.sync()

    @Slot(bool)
    def _set_dark(self, dark: bool) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            palette.apply(app, dark)
            app.setStyleSheet(stylesheet())

    def has_work_in_flight(self) -> bool:
        counts = self.model.counts
        return counts[TaskState.PENDING] + counts[TaskState.RUNNING] > 0

    def ask_close_choice(self) -> CloseChoice:
        """Asks what to do with the work in flight (tests replace this)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Work in flight")
        box.setText("Tasks are still queued or running.")
        box.setInformativeText(
            "Collect waits for them to finish; Quit now kills the workers "
            "(the running task ends TIMED_OUT, queued ones CANCELLED)."
        )
        collect = box.addButton("Collect and quit", QMessageBox.ButtonRole.AcceptRole)
        kill = box.addButton("Quit now", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.exec()
        clicked = box.clickedButton()
        if clicked is collect:
            return CloseChoice.COLLECT
        if clicked is kill:
            return CloseChoice.KILL
        return CloseChoice.STAY

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
                if self._collector is None:
                    self._collect()
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Leaves nothing running: no thread, no worker, no log handler."""
        if self._shut_down:
            return
        self._shut_down = True
        self._ticker.stop()
        self.scenario_player.stop()
        self._to_submit.clear()
        self._save_settings()
        self.facade.close()  # ends a collect in progress too
        if self._collector is not None:
            self._collector.wait()
            self._collector = None
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.backend.close()
        logging.getLogger().removeHandler(self._bridge.handler)


def _details(task: Task) -> str:
    lines = [f"{task.ID}", f"state      {task.state.name}"]
    for label, value in (
        ("worker pid", task.worker_pid),
        ("exit code", task.exitcode),
        ("attempts", task.attempts),
        ("timeout", task.timeout),
    ):
        if value is not None:
            lines.append(f"{label:<10} {value}")
    for label, stamp in (
        ("submitted", task.submitted_at),
        ("started", task.started_at),
        ("finished", task.finished_at),
    ):
        if stamp is not None:
            lines.append(f"{label:<10} {time.strftime('%H:%M:%S', time.localtime(stamp))}")
    if task.started_at is not None:
        end = task.finished_at if task.finished_at is not None else time.time()
        lines.append(f"{'duration':<10} {end - task.started_at:.3f} s")
    if task.progress is not None and not math.isnan(task.progress):
        lines.append(f"{'progress':<10} {task.progress:.0%}")
    if task.result is not None:
        lines += ["", "result:", str(task.result)]
    if task.error:
        lines += ["", "error:", task.error]
    if task.traceback:
        lines += ["", "traceback (from the worker):", task.traceback.rstrip()]
    return "\n".join(lines)
