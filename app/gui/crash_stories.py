"""The crash explainer's feed: each worker death told as a story, the latest on top."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit, QTabWidget

from app.core.events import Event
from app.core.front import FacadeFront
from app.gui import formatting
from app.teaching.explain import (
    deaths_in,
    explain,
    explain_dask,
    explain_killed_worker,
    killed_workers_in,
)


class CrashStories:
    """Puts the story of each death in a batch of events on top of ``view``, stamped with
    its time, and brings the view's tab forward in ``side``."""

    def __init__(self, view: QPlainTextEdit, side: QTabWidget, dask: bool) -> None:
        self._view = view
        self._side = side
        self._dask = dask

    def tell(self, events: list[Event], facade: FacadeFront, auto_restart: bool) -> None:
        """The stories of the deaths, then of the tasks Dask gave up on, in ``events``."""
        deaths = deaths_in(events)
        if deaths:
            workers_left = any(info.alive for info in facade.worker_info())
            for d in deaths:
                story = explain_dask(d) if self._dask else explain(d, workers_left, auto_restart)
                # A recycling or a stop is routine: told, but it does not pull the tab forward.
                routine = d.died.reason in ("recycled", "stopped")
                self._add(d.died.time, story, bring_forward=not routine)
        for given_up in killed_workers_in(events):
            self._add(given_up.time, explain_killed_worker(given_up))

    def _add(self, when: float, story: str, bring_forward: bool = True) -> None:
        story = f"{formatting.clock(when)}\n{story}"
        old = self._view.toPlainText()
        self._view.setPlainText(f"{story}\n\n{old}" if old else story)
        if bring_forward:
            self._side.setCurrentWidget(self._view)
