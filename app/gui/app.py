"""``python -m app``: start the monitor window as a desktop application."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QWidget

from app.cluster import INSTALL_HINT, dask_available, quiet_dask_logs
from app.core.console import install_console
from app.core.run_folder import is_live, list_runs
from app.core.run_paths import runs_folder
from app.core.runs import RunFileError, RunFollower
from app.gui import palette
from app.gui.backends import Backend, DaskBackend, LocalBackend
from app.gui.display import display_problem
from app.gui.main_window import MainWindow
from app.gui.resources import icon, stylesheet

log = logging.getLogger("app.gui")
HEADER_BYTES = 1 << 16  # enough for a run header's line


def run_window(workers: int, dask: str | None) -> int:
    """Open the window on ``workers`` local workers, or on Dask when ``dask`` is given ("" for
    a LocalCluster here, else a scheduler address); the exit status once it closes."""
    backend = choose_backend(dask)
    if isinstance(backend, str):
        print(backend, file=sys.stderr)
        return 2
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    install_console(logging.INFO)  # the terminal shows the same lines as the console pane
    try:
        qt_app, window = create_window(workers, backend=backend)
    except OSError as exc:  # the scheduler at --dask ADDRESS cannot be reached
        print(f"could not start on {backend.name}: {exc}", file=sys.stderr)
        backend.close()
        return 2
    return _serve(qt_app, window)


def run_recording(file: str | None, watch: bool) -> int:
    """``open FILE`` (followed if a program still writes it) or ``watch [FILE]`` (without
    FILE: the run being recorded in the runs folder; a list to choose from when there are
    several). Problems with the file are said before any window opens."""
    live = [entry.path for entry in list_runs() if entry.live] if file is None else []
    if file is None and not live:
        print(
            f"no run is being recorded in {runs_folder()} now: start your program with "
            "WORKER_MONITOR_RECORD=1, or give the run file to watch",
            file=sys.stderr,
        )
        return 2
    path = Path(file) if file is not None else live[0]
    if file is not None:
        try:  # its first line, to say now what is wrong; the window reads the run itself
            RunFollower(path).read(HEADER_BYTES)
        except (OSError, RunFileError) as exc:
            why = f"{path}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
            print(why, file=sys.stderr)
            return 2
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    install_console(logging.INFO)
    qt_app = make_application()
    if len(live) > 1:
        names = [p.name for p in live]
        name, chosen = QInputDialog.getItem(
            None, "Watch a run", "Runs being recorded now:", names, 0, False
        )
        if not chosen:
            return 0
        path = live[names.index(name)]
    try:
        window = MainWindow.from_run(path, follow=watch or is_live(path))
    except (OSError, RunFileError) as exc:  # it changed since it was checked
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    style(qt_app, window)
    following = window.recorded is not None and window.recorded.player.following
    return _serve(qt_app, window, f"{'watching' if following else 'replaying'} {path}")


def _serve(qt_app: QApplication, window: MainWindow, say: str = "") -> int:
    """Shows ``window`` until it closes; the exit status. ``say`` is logged once Ctrl-C
    and SIGTERM close the window properly."""
    sys.excepthook = ExceptionDialog(window)
    quit_on_signals(qt_app, window)
    if say:
        log.info("%s", say)
    window.show()
    tune_gc()
    status = qt_app.exec()
    window.shutdown()
    return status


def tune_gc() -> None:
    """With 100,000 task records alive, every full collection is a visible GUI stall:
    freeze what start-up made and collect far less often (the application's choice to
    make, never the library's)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def choose_backend(dask: str | None) -> Backend | str:
    """The backend ``--dask`` asks for, or why it cannot be had (a message to print)."""
    if dask is None:
        return LocalBackend()
    if not dask_available():
        return f"--dask: {INSTALL_HINT}"
    if dask:  # checked before a Client is made: a half-made one holds the exit for 20 s
        from distributed.comm import get_address_host_port

        try:
            get_address_host_port(dask)
        except ValueError as exc:
            return f"--dask {dask}: {exc} (an address such as tcp://host:8786)"
    quiet_dask_logs()
    return DaskBackend(dask or None)


def create_window(
    workers: int, settings: QSettings | None = None, backend: Backend | None = None
) -> tuple[QApplication, MainWindow]:
    """The application and its window, styled: shared by ``run_window`` and the smoke test."""
    qt_app = make_application()
    window = MainWindow(workers=workers, settings=settings, backend=backend)
    style(qt_app, window)
    return qt_app, window


def make_application() -> QApplication:
    QCoreApplication.setOrganizationName("worker-monitor")
    QCoreApplication.setApplicationName("worker-monitor")
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(qt_app, QApplication)
    qt_app.setWindowIcon(icon("app"))
    return qt_app


def style(qt_app: QApplication, window: MainWindow) -> None:
    """The palette the window's settings chose, and the style sheet."""
    palette.apply(qt_app, window.dark_action.isChecked())
    qt_app.setStyleSheet(stylesheet())


def quit_on_signals(qt_app: QApplication, window: MainWindow) -> None:
    """Ctrl-C or SIGTERM close the window properly: workers stopped, nothing leaked.

    Python runs signal handlers only when it has control, so a timer hands it control
    a few times a second while Qt's event loop runs.
    """

    def handler(signum: int, _frame: object) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        window.shutdown()
        # Queued: a signal that comes before exec() would find no event loop to quit.
        QTimer.singleShot(0, qt_app.quit)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)


class ExceptionDialog:
    """An uncaught exception in a slot: log it, show it, and let the application live on."""

    def __init__(self, parent: object) -> None:
        self._parent = parent

    def __call__(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("uncaught exception:\n%s", text)
        parent = self._parent if isinstance(self._parent, QWidget) else None
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", str(exc), parent=parent)
        box.setInformativeText("The application goes on; the details were logged.")
        box.setDetailedText(text)
        box.exec()
