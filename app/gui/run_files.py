"""The window's recordings: every run it makes is recorded (unless the user turns it
off), File > Open run... and File > Recent runs open one, and the runs folder is kept
under the size the user chose, oldest finished runs first, never a live one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QWidget

from app.core.run_folder import DEFAULT_MAX_BYTES, is_live, list_runs, prune_runs
from app.core.run_paths import runs_folder
from app.core.runs import RunFileError
from app.gui import formatting
from app.gui.settings import SettingsReader

log = logging.getLogger("app.gui")

RECENT = 10  # runs listed under File > Recent runs
MB = 1 << 20

OpenWindow = Callable[..., QWidget]  # (path, follow=) -> a window on that run


class RunFiles(QObject):
    """Adds the recordings' entries to ``menu`` and keeps their settings."""

    def __init__(
        self, parent: QWidget, menu: QMenu, settings: QSettings, open_window: OpenWindow
    ) -> None:
        super().__init__(parent)
        self._parent = parent
        self._settings = settings
        self._open_window = open_window
        self.windows: list[QWidget] = []  # the recordings this window opened
        read = SettingsReader(settings)
        self.max_bytes = read.integer("runs/max_mb", DEFAULT_MAX_BYTES // MB, 1, 1 << 20) * MB
        open_action = QAction("&Open run...", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.setToolTip("A recorded run, to replay; one still being written is followed")
        open_action.triggered.connect(self._open_dialog)
        menu.addAction(open_action)
        self.recent = menu.addMenu("&Recent runs")
        self.recent.setObjectName("recentRunsMenu")
        self.recent.aboutToShow.connect(self.fill_recent)
        self.record_action = QAction("Record every &run", self)
        self.record_action.setObjectName("recordAction")
        self.record_action.setCheckable(True)
        self.record_action.setChecked(read.flag("runs/record", True))
        self.record_action.setToolTip(f"Each new run is recorded in {runs_folder()}")
        self.record_action.toggled.connect(lambda on: settings.setValue("runs/record", on))
        menu.addAction(self.record_action)
        size_action = QAction("&Keep runs up to...", self)
        size_action.triggered.connect(self._ask_size)
        menu.addAction(size_action)

    @property
    def record(self) -> bool:
        return self.record_action.isChecked()

    def prune(self) -> None:
        """Keeps the runs folder under ``max_bytes`` (at each new run of the window)."""
        try:
            removed = prune_runs(self.max_bytes)
        except OSError as exc:
            log.warning("could not tidy the runs folder: %s", exc)
            return
        if removed:
            log.info("removed %d old run(s) to keep %s under its size", len(removed), runs_folder())

    def open_run(self, path: Path, follow: bool | None = None) -> QWidget | None:
        """A window on the run at ``path``, followed if it is being written; None, after
        saying why, if it cannot be read."""
        follow = is_live(path) if follow is None else follow
        try:
            window = self._open_window(path, follow=follow)
        except (OSError, RunFileError) as exc:
            why = formatting.error_text(exc) if isinstance(exc, OSError) else str(exc)
            QMessageBox.warning(self._parent, "Cannot open the run", why)
            return None
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.show()
        self.windows.append(window)
        recent = [str(path)] + [p for p in self._recent() if p != str(path)]
        self._settings.setValue("runs/recent", recent[:RECENT])
        return window

    def _recent(self) -> list[str]:
        value = self._settings.value("runs/recent", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in value if isinstance(p, str)] if isinstance(value, list) else []

    @Slot()
    def fill_recent(self) -> None:
        """The runs opened last, then the runs folder's newest; live ones marked."""
        self.recent.clear()
        paths = [Path(p) for p in self._recent() if _is_file(Path(p))]
        paths += [entry.path for entry in list_runs() if entry.path not in paths]
        for path in paths[:RECENT]:
            live = is_live(path)
            action = self.recent.addAction(f"{path.name}{'  (live)' if live else ''}")
            action.setToolTip(str(path))
            action.triggered.connect(partial(self.open_run, path, live))
        if not paths:
            self.recent.addAction("No recorded runs yet").setEnabled(False)

    @Slot()
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Open a recorded run", str(runs_folder()), "Runs (*.jsonl);;All (*)"
        )
        if path:
            self.open_run(Path(path))

    @Slot()
    def _ask_size(self) -> None:
        megabytes, chosen = QInputDialog.getInt(
            self._parent,
            "Runs folder size",
            f"Keep the recorded runs in {runs_folder()} up to (MB); the oldest finished "
            "runs are removed first, a run being written never:",
            self.max_bytes // MB,
            1,
            1 << 20,
        )
        if chosen:
            self.max_bytes = megabytes * MB
            self._settings.setValue("runs/max_mb", megabytes)
            self.prune()


def _is_file(path: Path) -> bool:
    """False too for a path that cannot be looked at (a folder no longer readable)."""
    try:
        return path.is_file()
    except OSError:
        return False
