"""Collecting off the GUI thread: ``collect_tasks`` may wait for minutes."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread

from app.core.front import FacadeFront


class CollectThread(QThread):
    """Runs ``collect_tasks(timeout)``; ``finished`` tells the window it is over.

    While it waits, the poller goes on reporting every result, so the table stays live;
    ``facade.close()`` from the GUI thread ends the wait at once.
    """

    def __init__(
        self, facade: FacadeFront, timeout: float | None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("collectThread")
        self._facade = facade
        self._timeout = timeout
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._facade.collect_tasks(self._timeout)
        except Exception as exc:  # reported by the window, never lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
