"""The time controls on the window's own run: pause the view, scrub back, step, play,
and back to live, while the workers go on.

The run is recorded (unless the user turned recording off), so a review is a replay of
its own recording, followed as it grows: the first touch of the time bar pauses the
views at the present and hands them to a ``RecordedView``; **Live** hands them back to
the facade, which they read again in full. Nothing is read or indexed until a review
begins, so a window under load pays nothing for the bar it does not use.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Slot

from app.core.events import EventsDropped
from app.gui.recorded_view import RecordedView
from app.gui.time_bar import TimeBar


class LiveReview(QObject):
    """The time bar of ``window`` (the ``MainWindow``) on its own run."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.bar = TimeBar(window)
        self.view: RecordedView | None = None
        self._idle()
        self.bar.slider.sliderPressed.connect(self._begin)
        self.bar.step_back.clicked.connect(self._begin)
        self.bar.play.clicked.connect(self._begin)
        self.bar.live.toggled.connect(self._live_toggled)
        window.controller.run_replaced.connect(self.end)

    @property
    def reviewing(self) -> bool:
        return self.view is not None

    def _idle(self) -> None:
        """The bar while the views show the present: nothing to step on to."""
        bar = self.bar
        bar.show_live(True)
        bar.show_position(1, 1, 0.0, 0.0)
        bar.position.setText("live: press the slider, step back or play to review the run")
        bar.step.setEnabled(False)

    @Slot()
    def _begin(self) -> None:
        """The first touch: the views pause at the present, read from the recording."""
        if self.view is not None:
            return
        w = self.window
        path = w.facade.record_path
        if path is None:
            w.controls.message.setText(
                "This run is not recorded (File > Record every run): it cannot be reviewed"
            )
            self._idle()
            return
        w.controller.events.disconnect(w.show_events)
        w.rate_label.hide()  # a rate of results means nothing while scrubbing
        self.bar.play.setChecked(False)
        self.view = RecordedView(w, path, follow=True, bar=self.bar)
        self.bar.show_live(False)
        self.view.start()

    @Slot(bool)
    def _live_toggled(self, live: bool) -> None:
        if live:
            self.end()

    @Slot()
    def end(self) -> None:
        """Back to the present: the views read the facade again, in full."""
        view, self.view = self.view, None
        if view is None:
            return
        view.stop()
        w = self.window
        w.controller.events.connect(w.show_events)
        w.rate_label.show()
        w.model.clock = w.worker_panel.clock = time.time
        w.proxy.setDynamicSortFilter(True)
        w.table.setSortingEnabled(True)
        w.model.set_facade(w.facade)
        w.worker_panel.set_facade(w.facade)
        # Every task as the facade has it now: the table reads them all again; the
        # timeline's bars come from the recording, which holds the run's past.
        w.model.apply_events([EventsDropped(0, time.time())])
        w.timeline.reset(w.known_task)
        w.timeline.apply_events(view.replay.events_between(0, view.replay.length))
        self._idle()

    def stop(self) -> None:
        """The window closes: no more reading."""
        if self.view is not None:
            self.view.stop()
