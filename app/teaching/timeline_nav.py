"""Moving from bar to bar on the timeline with the keyboard, as numbers: along a lane in
time, to the lane above or below (to the bar nearest in time), to a lane's first or last
bar, or to the run's. Only bars begun by ``now`` count: a replay stands at an instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.teaching.timeline import Lane, Timeline, bar_end

MOVES = ("left", "right", "up", "down", "home", "end", "first", "last")


@dataclass(frozen=True)
class Spot:
    """A bar by where it is: its lane's row and its place in that lane."""

    row: int
    index: int


def shown(lane: Lane, now: float) -> int:
    """How many of the lane's bars a view standing at ``now`` shows."""
    return lane.begun(now)


def move(timeline: Timeline, spot: Spot | None, how: str, now: float) -> Spot | None:
    """Where the move ``how`` (one of ``MOVES``) goes from ``spot``; None when there is
    no bar at all. From no spot, or one that is gone, any move starts at the run's last
    bar. A move off the end stays put."""
    if how not in MOVES:
        raise ValueError(f"unknown move {how!r}; expected one of {', '.join(MOVES)}")
    lanes = timeline.lanes
    if spot is None or not _valid(timeline, spot, now):
        return _extreme(timeline, now, last=how != "first")
    if how in ("first", "last"):
        return _extreme(timeline, now, last=how == "last")
    lane = lanes[spot.row]
    count = shown(lane, now)
    if how == "left":
        return Spot(spot.row, max(0, spot.index - 1))
    if how == "right":
        return Spot(spot.row, min(count - 1, spot.index + 1))
    if how == "home":
        return Spot(spot.row, 0)
    if how == "end":
        return Spot(spot.row, count - 1)
    step = -1 if how == "up" else 1
    bar = lane.bars[spot.index]
    end = bar_end(bar, now)
    middle = (bar.start + end) / 2
    row = spot.row + step
    while 0 <= row < len(lanes):  # the next lane in that direction with a bar to go to
        index = nearest(lanes[row], middle, now)
        if index is not None:
            return Spot(row, index)
        row += step
    return spot


def nearest(lane: Lane, when: float, now: float) -> int | None:
    """The index of the lane's bar nearest in time to ``when`` (one that spans it, if
    any), among those begun by ``now``."""
    count = shown(lane, now)
    if not count:
        return None
    after = min(lane.begun(when), count)
    best, distance = None, math.inf
    for index in (after - 1, after):
        if 0 <= index < count:
            bar = lane.bars[index]
            end = bar_end(bar, now)
            gap = max(bar.start - when, when - end, 0.0)
            if gap < distance:
                best, distance = index, gap
    return best


def _valid(timeline: Timeline, spot: Spot, now: float) -> bool:
    if not 0 <= spot.row < len(timeline.lanes):
        return False
    return 0 <= spot.index < shown(timeline.lanes[spot.row], now)


def _extreme(timeline: Timeline, now: float, last: bool) -> Spot | None:
    """The bar of the run that began last (or first)."""
    found: Spot | None = None
    best = -math.inf if last else math.inf
    for row, lane in enumerate(timeline.lanes):
        count = shown(lane, now)
        if not count:
            continue
        index = count - 1 if last else 0
        start = lane.bars[index].start
        if (start > best) if last else (start < best):
            found, best = Spot(row, index), start
    return found
