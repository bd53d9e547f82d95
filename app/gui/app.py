"""``python -m app``: start the monitor window as a desktop application."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import traceback
from types import TracebackType

from app.core.console import install_console
from app.gui.display import display_problem

log = logging.getLogger("app.gui")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="The worker monitor.")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.gui import palette
    from app.gui.main_window import MainWindow
    from app.gui.resources import stylesheet

    install_console(logging.INFO)  # the terminal shows the same lines as the console pane
    QCoreApplication.setOrganizationName("worker-monitor")
    QCoreApplication.setApplicationName("worker-monitor")
    qt_app = QApplication(sys.argv[:1])
    window = MainWindow(workers=args.workers)
    palette.apply(qt_app, window.dark_action.isChecked())
    qt_app.setStyleSheet(stylesheet())
    sys.excepthook = _ExceptionDialog(window)
    window.show()
    # 100,000 task records make every full collection a long GUI stall: collect rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    return qt_app.exec()


class _ExceptionDialog:
    """An uncaught exception in a slot: log it, show it, and let the application live on."""

    def __init__(self, parent: object) -> None:
        self._parent = parent

    def __call__(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("uncaught exception:\n%s", text)
        from PySide6.QtWidgets import QMessageBox, QWidget

        parent = self._parent if isinstance(self._parent, QWidget) else None
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", str(exc), parent=parent)
        box.setInformativeText("The application goes on; the details were logged.")
        box.setDetailedText(text)
        box.exec()
