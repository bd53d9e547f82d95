"""The window's controls, with tooltips that teach what each does in multiprocessing terms."""

from __future__ import annotations

import re
from decimal import Decimal

from PySide6.QtCore import QLocale, QSettings, Qt, Signal
from PySide6.QtGui import QFocusEvent, QFontDatabase, QKeyEvent, QKeySequence, QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core import TaskState
from app.gui.labels import ElidedLabel
from app.gui.resources import icon, state_icon
from app.gui.settings import SettingsReader

CRASH_MODES = (
    ("exception", "exception", "raises from the worker's own loop: exit code 1"),
    ("exit code 3", "exit", "os._exit(3) in the middle of the task"),
    ("exit code 0", "exit0", "os._exit(0) mid-task: a clean exit code, still a crash"),
    ("SIGKILL", "kill", "the worker sends itself SIGKILL: no cleanup at all"),
    ("segfault", "segfault", "reads address 0: the kernel kills it with SIGSEGV"),
    ("hang", "hang", "sleeps for ever and ignores SIGTERM: only a timeout or a kill ends it"),
    ("kill the worker now", None, "SIGKILL from outside, at once, as an operator would"),
)
MAX_DURATION = 3600.0  # longer than an hour is a typo in a demo, not a plan


def _button(text: str, icon_name: str, tip: str, shortcut: str = "") -> QPushButton:
    button = QPushButton(icon(icon_name), text)
    button.setToolTip(tip + (f"  ({shortcut})" if shortcut else ""))
    if shortcut:
        button.setShortcut(QKeySequence(shortcut))
    return button


class SecondsSpin(QDoubleSpinBox):
    """A box of seconds that reads plain numbers only, exactly, and keeps any other text
    as typed, with ``problem()`` saying why it is refused.

    QDoubleSpinBox drops the keys its validator refuses ("1e308" becomes 1308), reads a
    misplaced group separator as nothing ("1,5" becomes 15 where ',' groups thousands), cuts
    what it cannot hold ("1.234" becomes 1.23, "12345678" 123456), and on Enter or focus-out
    writes its previous value over text it cannot read: a click on Submit would send a number
    nobody typed. Here every key stays, ``value()`` follows only text that parses exactly,
    and the text it cannot take stays in the box until the user changes it.
    """

    return_pressed = Signal()  # Enter in the box, whatever its text: the caller decides

    def typed(self) -> str:
        """The text the user typed, without prefix and suffix."""
        return self._number_part(self.lineEdit().text())

    def seconds(self) -> Decimal:
        """The typed seconds, exactly, whatever the box's range; ValueError says why not."""
        text = self.lineEdit().text()
        if self.specialValueText() and text == self.specialValueText():
            return Decimal(0)
        return parse_seconds(self._number_part(text), self.locale(), self.decimals())

    def problem(self) -> str | None:
        """Why the text cannot stand for a value of this box, or None if it can."""
        try:
            seconds = self.seconds()
        except ValueError as exc:
            return str(exc)
        if seconds > Decimal(self.maximum()):
            return f"{shorten(self.typed())} s is more than {self.maximum():g} s"
        return None

    # -- QAbstractSpinBox's hooks ---------------------------------------------------------
    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        """Acceptable for a number it can hold; Intermediate for anything else, never Invalid,
        so no key is silently dropped."""
        if self.specialValueText() and text == self.specialValueText():
            return QValidator.State.Acceptable, text, pos
        try:
            seconds = parse_seconds(self._number_part(text), self.locale(), self.decimals())
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        in_range = Decimal(self.minimum()) <= seconds <= Decimal(self.maximum())
        state = QValidator.State.Acceptable if in_range else QValidator.State.Intermediate
        return state, text, pos

    def valueFromText(self, text: str) -> float:
        if self.specialValueText() and text == self.specialValueText():
            return self.minimum()
        try:
            return float(parse_seconds(self._number_part(text), self.locale(), self.decimals()))
        except ValueError:
            return self.value()

    def fixup(self, text: str) -> str:
        """Changes nothing: QDoubleSpinBox's fixup removes group separators, so "1,5"
        would be read as 15."""
        return text

    def focusOutEvent(self, event: QFocusEvent) -> None:
        kept = self._refused_text()
        super().focusOutEvent(event)  # puts the previous value's text back
        self._restore(kept)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        kept = (
            self._refused_text() if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) else None
        )
        super().keyPressEvent(event)  # Enter, too, puts the previous value's text back
        self._restore(kept)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.return_pressed.emit()

    # -- helpers --------------------------------------------------------------------------
    def _number_part(self, text: str) -> str:
        if self.prefix() and text.startswith(self.prefix()):
            text = text[len(self.prefix()) :]
        if self.suffix() and text.endswith(self.suffix()):
            text = text[: -len(self.suffix())]
        return text.strip()

    def _refused_text(self) -> str | None:
        text = self.lineEdit().text()
        return text if self.validate(text, 0)[0] is not QValidator.State.Acceptable else None

    def _restore(self, kept: str | None) -> None:
        if kept is not None and self.lineEdit().text() != kept:
            self.lineEdit().setText(kept)


def parse_seconds(text: str, locale: QLocale, decimals: int) -> Decimal:
    """``text`` as seconds, exactly: digits and at most one of the locale's decimal point,
    with at most ``decimals`` decimals. Anything else raises ValueError with the reason, for
    the user: an exponent, a sign, a thousands separator or the other decimal mark is never
    guessed at."""
    shown = shorten(text)
    dp = locale.decimalPoint()
    zero = locale.zeroDigit()
    if zero != "0" and len(zero) == 1:  # a locale with its own digits: read them as 0-9
        text = text.translate({ord(zero) + n: str(n) for n in range(10)})
    number = re.fullmatch(rf"([0-9]*)(?:{re.escape(dp)}([0-9]*))?", text)
    if text and number is not None and (number[1] or number[2]):
        if len(number[2] or "") > decimals:
            raise ValueError(f"'{shown}' is not a number of seconds: {decimals} decimals at most")
        return Decimal(f"{number[1] or 0}.{number[2] or 0}")
    if not text:
        raise ValueError("type a number of seconds")
    if text.lstrip().startswith(("-", "\u2212", locale.negativeSign())):
        why = "a duration cannot be negative"
    elif re.fullmatch(r"[0-9]*[.,]?[0-9]*[eE][+-]?[0-9]+", text):
        why = "no exponents: type the seconds in full"
    else:
        marks = {",", ".", "'", locale.groupSeparator()} - {dp}
        wrong = next((m for m in sorted(marks) if m in text), None)
        if wrong is not None and re.fullmatch(r"[0-9]+", text.replace(wrong, "")):
            why = f"'{wrong}' is not the decimal point here: use '{dp}' (1{dp}5), no separators"
        else:
            why = f"type digits, with '{dp}' for a fraction"
    raise ValueError(f"'{shown}' is not a number of seconds: {why}")


def shorten(text: str, limit: int = 24) -> str:
    """``text`` cut to ``limit`` characters, for a message that must stay on one line."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _seconds_spin(name: str, maximum: float, special: str = "") -> SecondsSpin:
    spin = SecondsSpin()
    spin.setObjectName(name)
    spin.setRange(0.0, maximum)
    spin.setDecimals(2)
    spin.setSuffix(" s")
    spin.setAccelerated(True)
    if special:
        spin.setSpecialValueText(special)  # shown at 0: "none"
    return spin


class Controls(QWidget):
    """Submit, crash, lifecycle and next-run settings, in three groups."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task_id = QLineEdit()
        self.task_id.setObjectName("taskIdEdit")
        self.task_id.setPlaceholderText("task ID (blank: automatic)")
        self.task_id.setClearButtonEnabled(True)
        self.task_id.setToolTip("A unique ID; leave it blank for task-1, task-2, ...")
        self.duration = _seconds_spin("durationSpin", 1_000_000.0)  # checked on submit
        self.duration.setValue(1.0)
        self.duration.setToolTip(
            "estimated_processing_time of a SimpleTask: it sleeps this long in the worker, "
            f"reporting progress ({MAX_DURATION:.0f} s at most)"
        )
        self.submit = _button(
            "Submit",
            "submit",
            "process_task(): pickles the task here and queues it. It never blocks: the "
            "worker gets it over a pipe when it is free.",
            "Ctrl+Return",
        )
        self.submit.setObjectName("submitButton")
        self.message = ElidedLabel(lines=3)  # IDs and paths in it can be any length
        self.message.setObjectName("submitMessage")
        self.many = QSpinBox()
        self.many.setObjectName("manyCountSpin")
        self.many.setRange(1, 1_000_000)
        self.many.setValue(100)
        self.many.setGroupSeparatorShown(True)
        self.submit_many = _button(
            "Submit many",
            "submit_many",
            "Queues that many tasks at once, in short slices so the window stays smooth: "
            "watch the results stream in.",
        )
        self.submit_many.setObjectName("submitManyButton")

        self.crash_mode = QComboBox()
        self.crash_mode.setObjectName("crashModeCombo")
        for text, how, tip in CRASH_MODES:
            self.crash_mode.addItem(text, how)
            self.crash_mode.setItemData(self.crash_mode.count() - 1, tip, 3)  # ToolTipRole
        self.crash_mode.setToolTip("How the worker process dies")
        self.crash = _button(
            "Crash",
            "crash",
            "Sends a CrashTask that kills the worker when it runs (or kills it now). Watch "
            "the running task end CRASHED and the queued ones be requeued or LOST.",
            "Ctrl+K",
        )
        self.crash.setObjectName("crashButton")

        self.collect = _button(
            "Collect",
            "collect",
            "collect_tasks(): accepts no more tasks, waits for the queue to drain while "
            "reading every result (draining before joining avoids the join-before-drain "
            "deadlock), then stops and joins the workers.",
            "Ctrl+Shift+C",
        )
        self.collect.setObjectName("collectButton")
        self.collect_timeout = _seconds_spin("collectTimeoutSpin", 86400.0, "no timeout")
        self.collect_timeout.setToolTip(
            "collect_tasks(timeout): after this long the workers are killed; the running "
            "task ends TIMED_OUT, queued ones CANCELLED"
        )
        self.kill_now = _button(
            "Kill now",
            "kill",
            "close(): ends the job now with SIGKILL; the running task ends TIMED_OUT and the "
            "queued ones CANCELLED.",
        )
        self.kill_now.setObjectName("killNowButton")
        self.restart = _button(
            "Restart worker",
            "restart",
            "restart_worker(): spawns a new process in each dead worker's slot and puts the "
            "LOST tasks back in the queue.",
        )
        self.restart.setObjectName("restartButton")
        self.new_run = _button(
            "New run",
            "new_run",
            "A fresh WorkingProcessFacade with the worker count, auto-restart and timeout "
            "chosen here.",
        )
        self.new_run.setObjectName("newRunButton")
        self.workers = QSpinBox()
        self.workers.setObjectName("workersSpin")
        self.workers.setRange(1, 64)
        self.workers.setPrefix("workers: ")
        self.workers.setToolTip("How many worker processes the next run spawns")
        self.auto_restart = QCheckBox("auto-restart")
        self.auto_restart.setObjectName("autoRestartCheck")
        self.auto_restart.setToolTip(
            "restart=True: a dead worker is replaced at once and its queued tasks requeued; "
            "the task that killed it is not retried (it may kill the next one too)"
        )
        self.task_timeout = _seconds_spin("taskTimeoutSpin", 86400.0, "no task timeout")
        self.task_timeout.setToolTip(
            "task_timeout: a task that runs longer ends TIMED_OUT; its worker is killed "
            "(SIGKILL) and always replaced"
        )
        self.mode = QLabel()
        self.mode.setObjectName("modeLabel")

        submit_box = QGroupBox("Submit")
        grid = QGridLayout(submit_box)
        grid.addWidget(self.task_id, 0, 0)
        grid.addWidget(self.duration, 0, 1)
        grid.addWidget(self.submit, 0, 2)
        grid.addWidget(self.many, 1, 1)
        grid.addWidget(self.submit_many, 1, 2)
        grid.addWidget(self.message, 1, 0)
        grid.setColumnStretch(0, 1)

        crash_box = QGroupBox("Crash")
        crash_row = QGridLayout(crash_box)
        crash_row.addWidget(self.crash_mode, 0, 0)
        crash_row.addWidget(self.crash, 0, 1)
        crash_row.addWidget(self.restart, 1, 0, 1, 2)

        life_box = QGroupBox("Lifecycle")
        life = QGridLayout(life_box)
        life.addWidget(self.collect, 0, 0)
        life.addWidget(self.collect_timeout, 0, 1)
        life.addWidget(self.kill_now, 0, 2)
        life.addWidget(self.new_run, 1, 0)
        life.addWidget(self.workers, 1, 1)
        next_run = QHBoxLayout()
        next_run.addWidget(self.auto_restart)
        next_run.addWidget(self.task_timeout)
        life.addLayout(next_run, 1, 2)
        life.addWidget(self.mode, 2, 0, 1, 3)

        self.code = ElidedLabel("w = WorkingProcessFacade()", mode=Qt.TextElideMode.ElideMiddle)
        self.code.setObjectName("codeView")
        self.code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code.setToolTip(
            "The facade call the last action made: the same line in a script does the same"
        )

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(submit_box, 3)
        row.addWidget(crash_box, 2)
        row.addWidget(life_box, 3)
        outer.addLayout(row)
        outer.addWidget(self.code)

    def duration_problem(self) -> str | None:
        """Text that is no duration, or a duration no demo means: said next to the field
        instead of queueing the task."""
        try:
            seconds = self.duration.seconds()  # exactly as typed, even beyond the maximum
        except ValueError as exc:
            return str(exc)
        if seconds > MAX_DURATION:
            typed = shorten(self.duration.typed())
            return f"{typed} s is more than an hour: {MAX_DURATION:g} s at most"
        return None

    def restore_choices(self, read: SettingsReader) -> None:
        """The last run's choices; a value that cannot be used leaves the default."""
        for key, spin in (
            ("run/duration", self.duration),
            ("run/taskTimeout", self.task_timeout),
            ("run/collectTimeout", self.collect_timeout),
        ):
            spin.setValue(read.number(key, spin.value(), spin.minimum(), spin.maximum()))
        many = self.many
        many.setValue(read.integer("run/many", many.value(), many.minimum(), many.maximum()))
        crash = self.crash_mode
        crash.setCurrentIndex(
            read.integer("run/crashMode", crash.currentIndex(), 0, crash.count() - 1)
        )
        self.auto_restart.setChecked(read.flag("run/autoRestart", self.auto_restart.isChecked()))

    def save_choices(self, settings: QSettings) -> None:
        settings.setValue("run/duration", self.duration.value())
        settings.setValue("run/many", self.many.value())
        settings.setValue("run/crashMode", self.crash_mode.currentIndex())
        settings.setValue("run/autoRestart", self.auto_restart.isChecked())
        settings.setValue("run/taskTimeout", self.task_timeout.value())
        settings.setValue("run/collectTimeout", self.collect_timeout.value())


class TableBar(QWidget):
    """Filters and row actions above the task table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_filter = QComboBox()
        self.state_filter.setObjectName("stateFilterCombo")
        self.state_filter.addItem("All states", None)
        self.state_filter.addItem("Unfinished", (TaskState.PENDING, TaskState.RUNNING))
        self.state_filter.addItem(
            "Problems",
            (TaskState.FAILED, TaskState.CRASHED, TaskState.LOST, TaskState.TIMED_OUT),
        )
        for state in TaskState:
            if state not in (TaskState.NEW, TaskState.REJECTED):
                self.state_filter.addItem(state_icon(state.name.lower()), state.name, (state,))
        self.text_filter = QLineEdit()
        self.text_filter.setObjectName("textFilterEdit")
        self.text_filter.setPlaceholderText("filter by ID, result or error")
        self.text_filter.setClearButtonEnabled(True)
        self.cancel = _button(
            "Cancel",
            "cancel",
            "cancel(): takes the selected PENDING tasks out of the queue. A RUNNING task "
            "cannot be cancelled: only killing its worker would stop it.",
        )
        self.cancel.setObjectName("cancelButton")
        self.resubmit = _button(
            "Resubmit",
            "resubmit",
            "resubmit(): queues the selected FAILED, CRASHED, LOST, CANCELLED or TIMED_OUT "
            "tasks again (attempts + 1).",
        )
        self.resubmit.setObjectName("resubmitButton")
        self.stack = _button("Stack", "stack", "stack(): where the selected RUNNING task is.")
        self.stack.setObjectName("stackButton")
        self.stack.setEnabled(False)  # until one running row is selected
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Show:"))
        row.addWidget(self.state_filter)
        row.addWidget(self.text_filter, 1)
        row.addWidget(self.cancel)
        row.addWidget(self.resubmit)
        row.addWidget(self.stack)


def details_view(parent: QWidget | None = None) -> QPlainTextEdit:
    """The side pane: everything about the selected task, its worker traceback included."""
    view = QPlainTextEdit(parent)
    view.setObjectName("detailsView")
    view.setReadOnly(True)
    view.setPlaceholderText("Select a task to see its details and traceback.")
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return view


def explainer_view(parent: QWidget | None = None) -> QPlainTextEdit:
    """The crash explainer: the story of each worker death, newest first."""
    view = QPlainTextEdit(parent)
    view.setObjectName("crashExplainer")
    view.setReadOnly(True)
    view.setPlaceholderText(
        "When a worker dies, this says what happened to each of its tasks, what its exit "
        "code means, and what ProcessPoolExecutor and multiprocessing.Pool would have done."
    )
    return view
