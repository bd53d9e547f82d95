"""The Python stack of every thread of this process, as text: what ``stack()`` shows.

Runs inside a worker (a local one, or a Dask worker), on a thread that is not the task's:
it only reads ``sys._current_frames()``, so the task goes on undisturbed. Frames are
dropped as soon as they are formatted, so no local of the task is kept alive.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Collection
from types import CodeType, FrameType

MAX_FRAMES = 200
"""Calls shown per thread, the most recent: a deep recursion stays readable, and small."""


def format_threads(
    task_thread: int | None,
    *,
    start_after: CodeType | None = None,
    leave_out: Collection[int] = (),
) -> str:
    """Every thread's stack, oldest call first, the thread ``task_thread`` first.

    ``start_after``: the code of the worker's own function that calls the task; the
    task's thread shows only the frames after it (the worker's loop says nothing about
    where the task is). ``leave_out``: threads not to show (the one asking)."""
    frames = sys._current_frames()
    try:
        names = {t.ident: t.name for t in threading.enumerate()}
        order = sorted(frames, key=lambda ident: (ident != task_thread, ident))
        parts = []
        for ident in order:
            if ident in leave_out:
                continue
            name = names.get(ident)
            head = f"Thread {name!r}" if name is not None else "A thread unknown to threading"
            head += f" (id {ident})"
            chain = _chain(frames[ident])
            if ident == task_thread:
                head += ", running the task"
                chain = _after(chain, start_after)
            left_out = max(0, len(chain) - MAX_FRAMES)
            if left_out:
                head += f"\n  ... {left_out} earlier calls left out"
            shown = chain[left_out:]
            lines = traceback.StackSummary.extract((f, f.f_lineno) for f in shown).format()
            parts.append(f"{head}:\n{''.join(lines)}")
        return "\n".join(parts)
    finally:
        del frames


def _chain(frame: FrameType | None) -> list[FrameType]:
    """The frames from the thread's first call to ``frame``."""
    chain = []
    while frame is not None:
        chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    return chain


def _after(chain: list[FrameType], code: CodeType | None) -> list[FrameType]:
    """The frames after the last call of ``code``; all of them if it is not there (the
    worker is between tasks)."""
    if code is None:
        return chain
    for i in range(len(chain) - 1, -1, -1):
        if chain[i].f_code is code:
            return chain[i + 1 :] or chain
    return chain
