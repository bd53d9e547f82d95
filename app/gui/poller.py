"""The thread that listens to the facade, so the GUI thread never waits on it."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal

from app.core.events import Event
from app.core.front import FacadeFront
from app.gui.throttle import Throttle

POLL_SECONDS = 0.1  # longest wait for an event; bounds how long stop() takes
PACE_MS = 40  # at most ~25 batches a second reach the GUI, however fast results come


class FacadePoller(QThread):
    """Waits on ``poll_events`` and emits what happened, one list per batch.

    One signal per batch, never one per event: at thousands of results a second the GUI
    gets ~25 updates a second, each of which it can apply in one go.
    """

    events_polled = Signal(list)  # list[Event]

    def __init__(self, facade: FacadeFront, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._facade = facade
        self.setObjectName("facadePoller")

    def run(self) -> None:
        facade = self._facade
        emit = Throttle(PACE_MS, self._emit)
        while not self.isInterruptionRequested():
            events = facade.poll_events(POLL_SECONDS)
            if events:
                emit.run_now(events)
                emit.wait_turn()  # let events gather in the facade into the next batch
        events = facade.poll_events(0.0)  # what happened while stopping
        if events:
            self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        self.events_polled.emit(events)

    def stop(self) -> None:
        """Ends the thread and waits for it: a QThread destroyed while running aborts."""
        self.requestInterruption()
        self.wait()
