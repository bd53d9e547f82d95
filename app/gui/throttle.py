"""Pacing: a callback run at most once per interval, however often it is asked for.

Every paced thing in the window goes through ``Throttle``: the poller's batches, the
table's repaints, the refresh beat of durations and rates, the scenario's steps. Asking
too soon is never lost: the call is made when the interval is over (the trailing call),
once, however many calls came meanwhile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Generic, ParamSpec

from PySide6.QtCore import QObject, QTimer

P = ParamSpec("P")


class Throttle(Generic[P]):
    """Runs ``callback`` at most once per ``interval_ms``.

    In a thread with an event loop (the GUI thread), a call too soon after the last run
    is made by a timer when the interval is over, with the latest arguments. A thread
    that loops without an event loop (the poller), where no timer can fire, calls
    ``wait_turn()``, which sleeps out what is left of the interval, then ``run_now()``.

    A callback that calls its own throttle is run again one interval later: a steady beat
    until ``cancel()``.
    """

    def __init__(
        self, interval_ms: int, callback: Callable[P, None], parent: QObject | None = None
    ) -> None:
        self.interval_ms = interval_ms
        self._callback = callback
        self._parent = parent
        self._ran_at: float | None = None  # monotonic seconds of the last run's start
        self._timer: QTimer | None = None  # made on the first deferred call
        self._args: tuple[object, ...] = ()
        self._kwargs: dict[str, object] = {}

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Runs the callback now if the interval allows, else once when it is over."""
        self._args, self._kwargs = args, kwargs
        if self.pending:
            return  # the trailing call is already due; it takes the latest arguments
        wait = self.remaining_ms()
        if wait <= 0:
            self._run()
        else:
            self._defer(wait)

    def later(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Runs the callback one whole interval from now (the first beat of a steady one)."""
        self._args, self._kwargs = args, kwargs
        self._defer(self.interval_ms)

    def run_now(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Runs the callback at once, whatever the interval; a pending call is dropped."""
        self._args, self._kwargs = args, kwargs
        self._run()

    def wait_turn(self) -> None:
        """Sleeps until a run is allowed (for a thread that loops without an event loop)."""
        wait = self.remaining_ms()
        if wait > 0:
            time.sleep(wait / 1000)

    def cancel(self) -> None:
        """Drops the pending call, if any."""
        if self._timer is not None:
            self._timer.stop()

    @property
    def pending(self) -> bool:
        """Whether a call waits for the interval to end."""
        return self._timer is not None and self._timer.isActive()

    def remaining_ms(self) -> int:
        """How long until a call may run at once (0 or less: now)."""
        if self._ran_at is None:
            return 0
        return math.ceil(self.interval_ms - (time.monotonic() - self._ran_at) * 1000)

    def _defer(self, wait_ms: int) -> None:
        if self._timer is None:
            self._timer = QTimer(self._parent)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._run)
        self._timer.start(wait_ms)

    def _run(self) -> None:
        self.cancel()
        self._ran_at = time.monotonic()
        args, kwargs = self._args, self._kwargs
        self._args, self._kwargs = (), {}
        self._callback(*args, **kwargs)  # type: ignore[arg-type]
