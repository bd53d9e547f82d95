"""The byte-level protocol between the parent and a worker.

Frames use the length header of ``multiprocessing.connection.Connection`` (a signed
big-endian int, or -1 then an unsigned 64-bit length), so the worker reads and writes with
a plain blocking ``Connection`` while the parent drives the other ends without blocking.

Every frame starts with one byte saying what it is:

    parent -> worker   T  tasks:    repeated (seq: q, length: I, pickled task)
                       S  stop:     finish nothing more, exit cleanly
    worker -> parent   Y  ready:    pid
                       B  began:    seq, claimed by a worker that was idle (busy
                                    workers go from one result to the next task)
                       R  result:   seq, started, finished, pickled result
                       F  failed:   seq, started, finished, pickled (error, traceback,
                                    the exception pickled on its own, or None)
                       P  progress: seq, fraction, utf-8 message
                       L  log:      level, time, utf-8 "logger name NUL message"
                       X  fatal:    seq, utf-8 traceback of the worker's own loop
"""

from __future__ import annotations

import pickle
import struct
import traceback
from collections.abc import Iterable
from typing import Any

from app.core.errors import describe

TASKS = ord("T")
STOP = ord("S")
READY = ord("Y")
BEGAN = ord("B")
RESULT = ord("R")
FAILED = ord("F")
PROGRESS = ord("P")
LOG = ord("L")
FATAL = ord("X")

TASK_ITEM = struct.Struct("!qI")
SEQ = struct.Struct("!q")
OUTCOME = struct.Struct("!qdd")  # seq, started, finished
PROGRESS_HEAD = struct.Struct("!qd")
LOG_HEAD = struct.Struct("!id")

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")


def frame(payload: bytes) -> bytes:
    """``payload`` with the length header ``Connection.recv_bytes`` expects."""
    n = len(payload)
    if n > 0x7FFFFFFF:
        return _SHORT.pack(-1) + _LONG.pack(n) + payload
    return _SHORT.pack(n) + payload


def task_batch(items: Iterable[tuple[int, bytes]]) -> bytes:
    """One T frame body carrying several pickled tasks."""
    parts = [b"T"]
    for seq, payload in items:
        parts.append(TASK_ITEM.pack(seq, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def split_task_batch(body: memoryview) -> list[tuple[int, memoryview]]:
    """The (seq, pickled task) pairs of a T frame body."""
    items = []
    pos = 1
    end = len(body)
    size = TASK_ITEM.size
    while pos < end:
        seq, n = TASK_ITEM.unpack_from(body, pos)
        pos += size
        items.append((seq, body[pos : pos + n]))
        pos += n
    return items


class ProtocolError(Exception):
    """The bytes from a worker are not frames of this protocol: the stream is damaged."""


class FrameReader:
    """Reassembles whole frames from the chunks a non-blocking read returns."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        frames = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (n,) = _SHORT.unpack_from(buf, pos)
            head = 4
            if n < -1:
                raise ProtocolError(f"a frame with length {n}")
            if n == -1:
                if end - pos < 12:
                    break
                (n,) = _LONG.unpack_from(buf, pos + 4)
                head = 12
            if end - pos - head < n:
                break
            start = pos + head
            frames.append(bytes(buf[start : start + n]))
            pos = start + n
        if pos:
            del buf[:pos]
        return frames


def decode(frame: bytes) -> tuple[Any, ...]:
    """One frame from a worker, as a tuple; runs outside the lock (it may unpickle)."""
    kind = frame[0]
    if kind in (RESULT, FAILED):
        seq, started, finished = OUTCOME.unpack_from(frame, 1)
        body = memoryview(frame)[1 + OUTCOME.size :]
        if kind == FAILED:
            error, tb, pickled = pickle.loads(body)
            return (kind, seq, started, finished, error, (tb, _exception(pickled)))
        try:
            value = pickle.loads(body)
        except BaseException as exc:
            error = f"the result could not be unpickled in the parent: {describe(exc)}"
            return (FAILED, seq, started, finished, error, (traceback.format_exc(), exc))
        return (kind, seq, started, finished, value, None)
    if kind == PROGRESS:
        seq, fraction = PROGRESS_HEAD.unpack_from(frame, 1)
        text = frame[1 + PROGRESS_HEAD.size :].decode("utf-8", "replace")
        return (kind, seq, fraction, text)
    if kind == LOG:
        level, created = LOG_HEAD.unpack_from(frame, 1)
        name, _, text = frame[1 + LOG_HEAD.size :].decode("utf-8", "replace").partition("\0")
        return (kind, level, created, name, text)
    if kind in (READY, BEGAN):
        return (kind, SEQ.unpack_from(frame, 1)[0])
    if kind == FATAL:
        seq = SEQ.unpack_from(frame, 1)[0]
        return (kind, seq, frame[1 + SEQ.size :].decode("utf-8", "replace"))
    return (kind,)


def _exception(pickled: bytes | None) -> BaseException | None:
    """The task's own exception, when it survives the trip (its class may not import here)."""
    if pickled is None:
        return None
    try:
        exc = pickle.loads(pickled)
    except BaseException:
        return None
    return exc if isinstance(exc, BaseException) else None
