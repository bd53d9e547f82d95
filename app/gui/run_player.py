"""A recorded run in the window: a finished file, or one another program is still writing.

The player reads the file (on a beat while following) into a ``RunReplay``, moves its
cursor to the instant the user picked, and tells the window with two signals: ``grown``
with the events just read (for the views built once over the whole run, the timeline),
and ``moved`` when the instant changed (the other views look at the run then). The time
bar's widgets drive it: slider, play and pause, a step either way, speed, live.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.core.replay import RunReplay
from app.core.run_folder import is_live
from app.core.runs import RunFileError, RunFollower
from app.gui.throttle import Throttle
from app.gui.time_bar import FASTEST, TimeBar

log = logging.getLogger("app.gui")

FOLLOW_MS = 100  # the recorder writes at least every 50 ms
QUIET_READS = 3  # then a run nobody writes any more, and without an end, is over
READ_BYTES = 1 << 19  # read per turn while following: about 1,800 events, a few ms
INDEX_SLICE = 2048  # events taken in per turn of the event loop: about 10 ms
CATCH_UP_MS = 500  # while a long run is taken in, the views show its end this often
PLAY_MS = 40  # a play step: 25 a second
FASTEST_EVENTS = 4000  # events per play step at "as fast as possible"


class RunPlayer(QObject):
    """Plays the run recorded at ``path``; ``follow`` keeps reading while it grows.

    Raises ``RunFileError`` or ``OSError`` at once for a file that cannot be shown.
    """

    grown = Signal(list)  # list[Event]: the events just read
    follow_stopped = Signal(str)  # why following ended before the run's end line
    moved = Signal()  # the replay's cursor moved
    followed_to_end = Signal()  # the program being watched ended its run

    def __init__(self, path: str | Path, follow: bool, bar: TimeBar, parent: QObject) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._follower = RunFollower(self.path)
        self._follower.read()
        self.following = follow and not self._follower.run.complete
        if not self.following:
            self._follower.finish()
        self.replay = RunReplay(self._follower.run)
        self.bar = bar
        self._clock = 0.0  # where play is, in seconds of the run
        self._read_beat = Throttle(FOLLOW_MS, self._read, self)
        self._play_beat = Throttle(PLAY_MS, self._play_step, self)
        self._index_beat = Throttle(0, self._take_in, self)
        self._read_soon = Throttle(0, self._read, self)
        self._end_beat = Throttle(CATCH_UP_MS, self.seek, self)
        self._played_at = 0.0
        self._stopped = False
        self._quiet = 0  # reads in a row that found nothing new, and no writer
        bar.slider.valueChanged.connect(self._slid)
        bar.step.clicked.connect(lambda: self._step(1))
        bar.step_back.clicked.connect(lambda: self._step(-1))
        bar.play.toggled.connect(self._play_toggled)
        bar.live.toggled.connect(self._live_toggled)
        bar.live.setVisible(follow)
        bar.show_live(self.following)  # the window shows the start itself (start())
        if self.following:
            self._read_beat.later()

    def start(self) -> None:
        """Shows the run as it is now: at its end (or its present, when following). A
        long run is taken in a slice at a time, the window showing it fill up."""
        self._take_in()

    @property
    def catching_up(self) -> bool:
        """Whether events read are still being taken in."""
        return self.replay.behind > 0

    def _take_in(self) -> None:
        replay = self.replay
        at_end = replay.cursor >= replay.length or self._end_beat.pending
        self.grown.emit(replay.index(INDEX_SLICE))
        if at_end:  # the view stays at the end while the run fills in, shown now and then
            self._end_beat(replay.length)
        else:
            self._show_position()  # the slider's end moves on
        if replay.behind:
            self._index_beat.later()
        elif self._end_beat.pending:
            self._end_beat.run_now(replay.length)

    def seek(self, index: int) -> None:
        """Every view as it was just after the ``index``-th event."""
        if self._stopped:
            return  # the time bar may outlive this player (a review of the window's run)
        self.replay.seek(index)
        self._clock = self.replay.time_of(self.replay.cursor)
        self._show_position()
        self.moved.emit()

    def stop(self) -> None:
        """No more reading, playing or moving (the window closes, or a review ends)."""
        self._stopped = True
        self._read_beat.cancel()
        self._read_soon.cancel()
        self._play_beat.cancel()
        self._index_beat.cancel()
        self._end_beat.cancel()
        self.following = False

    # -- the time bar -------------------------------------------------------------------
    def _show_position(self) -> None:
        replay = self.replay
        total = replay.time_of(replay.length)
        self.bar.show_position(replay.cursor, replay.length, self._clock, total)
        self.bar.step.setEnabled(replay.cursor < replay.length)
        self.bar.step_back.setEnabled(replay.cursor > 0)

    @Slot(int)
    def _slid(self, value: int) -> None:
        self._leave_live()
        self.seek(value)

    def _step(self, by: int) -> None:
        self._leave_live()
        self.bar.play.setChecked(False)
        replay = self.replay
        target = replay.cursor + by
        while by < 0 and target > 0 and replay.whole(target) >= replay.cursor:
            target -= 1  # back over a death and the fates it decided, as one step
        self.seek(target)

    def _leave_live(self) -> None:
        self._end_beat.cancel()  # the user chose an instant: the run filling in leaves it be
        if self.bar.live.isChecked():
            self.bar.live.setChecked(False)

    @Slot(bool)
    def _live_toggled(self, live: bool) -> None:
        if live:
            self.bar.play.setChecked(False)
            self.seek(self.replay.length)

    @Slot(bool)
    def _play_toggled(self, playing: bool) -> None:
        if not playing:
            self._play_beat.cancel()
            return
        if self.replay.cursor >= self.replay.length:
            if self.following:  # at the present of a run still written: that is live
                self.bar.play.setChecked(False)
                self.bar.live.setChecked(True)
                return
            self.seek(0)  # play again from the start
        self._leave_live()
        self._clock = self.replay.time_of(self.replay.cursor)
        self._played_at = time.monotonic()
        self._play_beat.later()

    def _play_step(self) -> None:
        if not self.bar.play.isChecked():
            return
        now = time.monotonic()
        speed = self.bar.speed.currentData()
        replay = self.replay
        if speed == FASTEST:
            target = replay.cursor + FASTEST_EVENTS
        else:
            self._clock += (now - self._played_at) * float(speed)
            target = max(replay.index_at(self._clock), replay.cursor)
        self._played_at = now
        clock = self._clock
        self.seek(target)
        if speed != FASTEST:
            self._clock = max(clock, self._clock)
            self._show_position()
        if replay.cursor >= replay.length and not self.following:
            self.bar.play.setChecked(False)  # the end of the run
        else:
            self._play_beat.later()

    # -- following ----------------------------------------------------------------------
    def _give_up(self, why: str) -> None:
        log.warning("stopped following %s: %s", self.path, why)
        self.following = False
        self.follow_stopped.emit(why)

    def _read(self) -> None:
        try:
            added = self._follower.read(READ_BYTES)
        except (OSError, RunFileError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._give_up(why)
            return
        if not added and self._follower.caught_up and not is_live(self.path):
            self._quiet += 1
            if self._quiet >= QUIET_READS:  # nobody writes it, and it has no end line
                self._give_up(
                    "the program stopped recording without ending its run (it was "
                    "killed, or crashed): this is all it recorded"
                )
                return
        else:
            self._quiet = 0
        run = self._follower.run
        if run.complete:
            added += self._follower.finish()
            self.following = False
            self.followed_to_end.emit()
        if added and not self._index_beat.pending:
            self._take_in()
        if self.following:
            if self._follower.caught_up:
                self._read_beat.later()
            else:  # behind a fast program: read on at the next turn, a slice at a time
                self._read_soon.later()
