"""The protocol between the parent and a worker: every frame's encoder and decoder, the
messages as named types, and the layout of the shared claim ring.

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
                       I  initializing: the initializer runs now (Y follows once it
                                    returned)
                       Z  initializer failed: utf-8 one-line description
                       C  recycling: utf-8 why; the worker exits cleanly right after
                       K  stack:    request, the seq claimed while the stacks were
                                    taken (-1 if that changed meanwhile), utf-8 text

A stack request goes on a pipe of its own (the worker's main thread is busy with the task
and never reads it): one frame holding the request's number, a signed 64-bit int.

The claim ring is a shared array of signed 64-bit ints: ``[claimed seq, RING cancel
slots]``. The worker claims a task by writing its seq to slot 0; the parent takes a task
back by writing its seq to the task's cancel slot. Both do it under one shared lock, so
exactly one side wins (see ``claim`` and ``unclaim``).
"""

from __future__ import annotations

import pickle
import struct
import traceback
from collections.abc import Iterable
from typing import Any, NamedTuple

from app.core.errors import describe

_TASKS = ord("T")
_STOP = ord("S")
_READY = ord("Y")
_BEGAN = ord("B")
_RESULT = ord("R")
_FAILED = ord("F")
_PROGRESS = ord("P")
_LOG = ord("L")
_FATAL = ord("X")
_INITIALIZING = ord("I")
_INIT_FAILED = ord("Z")
_RECYCLING = ord("C")
_STACK = ord("K")

_TASK_ITEM = struct.Struct("!qI")
_TAGGED_SEQ = struct.Struct("!Bq")
_TAGGED_OUTCOME = struct.Struct("!Bqdd")  # kind, seq, started, finished
_TAGGED_PROGRESS = struct.Struct("!Bqd")
_TAGGED_LOG = struct.Struct("!Bid")
_TAGGED_STACK = struct.Struct("!Bqq")
_STACK_HEAD = struct.Struct("!qq")
_SEQ = struct.Struct("!q")
_OUTCOME = struct.Struct("!qdd")
_PROGRESS_HEAD = struct.Struct("!qd")
_LOG_HEAD = struct.Struct("!id")

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")

_STOP_BODY = bytes([_STOP])
_TASKS_TAG = bytes([_TASKS])
_OUTCOMES = (_RESULT, _FAILED)

# == the claim ring =======================================================================
RING = 1024
"""Cancel slots in the ring; a worker's window of tasks must stay well below it."""
CLAIM_TYPECODE = "q"
"""The ``array`` typecode of the ring's entries."""
CLAIM_SLOTS = 1 + RING
"""Entries in the ring: the claimed seq, then the cancel slots."""


def claim(ring: Any, seq: int) -> bool:
    """The worker's side, under the claim lock: True if it may run ``seq``; False if the
    parent took it back first."""
    if ring[1 + seq % RING] == seq:
        return False
    ring[0] = seq
    return True


def unclaim(ring: Any, seq: int) -> bool:
    """The parent's side, under the claim lock: True if ``seq`` is now taken back, so the
    worker will skip it; False if the worker has claimed it (or a later one) already."""
    claimed = ring[0]
    slot = 1 + seq % RING
    if claimed >= seq or (ring[slot] > claimed and ring[slot] != seq):
        return False
    ring[slot] = seq
    return True


def claimed(ring: Any) -> int:
    """The seq of the task the worker claimed last (0 before its first)."""
    value: int = ring[0]
    return value


# == messages =============================================================================
class Tasks(NamedTuple):
    """Parent -> worker: tasks to run in order, as (seq, pickled task) pairs."""

    items: list[tuple[int, memoryview]]


class Stop(NamedTuple):
    """Parent -> worker: leave the loop and exit cleanly."""


class Ready(NamedTuple):
    pid: int


class Began(NamedTuple):
    seq: int


class Result(NamedTuple):
    seq: int
    started: float
    finished: float
    value: Any


class Failed(NamedTuple):
    seq: int
    started: float
    finished: float
    error: str
    traceback: str | None
    exception: BaseException | None


class Progress(NamedTuple):
    seq: int
    fraction: float
    message: str


class Log(NamedTuple):
    level: int
    created: float
    name: str
    text: str


class Fatal(NamedTuple):
    seq: int
    traceback: str


class Initializing(NamedTuple):
    """The worker runs its initializer now; ``Ready`` follows once it has returned."""


class InitFailed(NamedTuple):
    """The initializer raised; the worker exits with code 1 right after."""

    error: str


class Recycling(NamedTuple):
    """The worker leaves after this outcome (``max_tasks_per_child`` or
    ``max_memory_per_child``), and says why; it exits with code 0 right after."""

    why: str


class Stack(NamedTuple):
    """The stacks of a worker's threads, taken for request ``request`` while the worker
    had claimed task ``seq``."""

    request: int
    seq: int
    text: str


class Unknown(NamedTuple):
    """A frame of a kind this side does not know: ignored."""

    kind: int


Order = Tasks | Stop
Message = (
    Ready
    | Began
    | Result
    | Failed
    | Progress
    | Log
    | Fatal
    | Initializing
    | InitFailed
    | Recycling
    | Stack
    | Unknown
)

# NamedTuple's own __new__ takes arguments by name; building from a tuple is cheaper.
_new_result = Result._make
_new_failed = Failed._make


# == parent -> worker =====================================================================
def encode_tasks(items: Iterable[tuple[int, bytes]]) -> bytes:
    """One T frame body carrying several pickled tasks."""
    parts = [_TASKS_TAG]
    for seq, payload in items:
        parts.append(_TASK_ITEM.pack(seq, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def encode_stop() -> bytes:
    return _STOP_BODY


def decode_order(body: bytes) -> Order:
    """What the parent asks of the worker; tasks stay views into ``body``."""
    if body[0] == _STOP:
        return Stop()
    view = memoryview(body)
    items = []
    pos = 1
    end = len(view)
    size = _TASK_ITEM.size
    while pos < end:
        seq, n = _TASK_ITEM.unpack_from(view, pos)
        pos += size
        items.append((seq, view[pos : pos + n]))
        pos += n
    return Tasks(items)


def encode_stack_request(number: int) -> bytes:
    return _SEQ.pack(number)


def decode_stack_request(body: bytes) -> int:
    number: int = _SEQ.unpack(body)[0]
    return number


# == worker -> parent =====================================================================
def encode_ready(pid: int) -> bytes:
    return _TAGGED_SEQ.pack(_READY, pid)


def encode_began(seq: int) -> bytes:
    return _TAGGED_SEQ.pack(_BEGAN, seq)


def encode_result(seq: int, started: float, finished: float, pickled: bytes) -> bytes:
    return _TAGGED_OUTCOME.pack(_RESULT, seq, started, finished) + pickled


def encode_failed(
    seq: int,
    started: float,
    finished: float,
    error: str,
    tb: str | None,
    pickled_exception: bytes | None,
) -> bytes:
    detail = pickle.dumps((error, tb, pickled_exception), protocol=pickle.HIGHEST_PROTOCOL)
    return _TAGGED_OUTCOME.pack(_FAILED, seq, started, finished) + detail


def encode_progress(seq: int, fraction: float, message: str) -> bytes:
    text = message.encode("utf-8", "backslashreplace")
    return _TAGGED_PROGRESS.pack(_PROGRESS, seq, fraction) + text


def encode_log(level: int, created: float, name: str, message: str) -> bytes:
    text = f"{name}\0{message}".encode("utf-8", "backslashreplace")
    return _TAGGED_LOG.pack(_LOG, level, created) + text


def encode_fatal(seq: int, tb: str) -> bytes:
    return _TAGGED_SEQ.pack(_FATAL, seq) + tb.encode("utf-8", "backslashreplace")


def encode_initializing() -> bytes:
    return bytes([_INITIALIZING])


def encode_init_failed(error: str) -> bytes:
    return bytes([_INIT_FAILED]) + error.encode("utf-8", "backslashreplace")


def encode_recycling(why: str) -> bytes:
    return bytes([_RECYCLING]) + why.encode("utf-8", "backslashreplace")


def encode_stack(request: int, seq: int, text: str) -> bytes:
    return _TAGGED_STACK.pack(_STACK, request, seq) + text.encode("utf-8", "backslashreplace")


def has_outcome(frames: list[bytes]) -> bool:
    """Whether some frame ends a task (R or F), without decoding them. An empty frame is
    none (``decode`` finds it damaged)."""
    return any(frame and frame[0] in _OUTCOMES for frame in frames)


def decode(frame: bytes) -> Message:
    """One frame from a worker; runs outside the lock (it may unpickle)."""
    kind = frame[0]
    if kind in _OUTCOMES:
        head = _OUTCOME.unpack_from(frame, 1)
        body = memoryview(frame)[1 + _OUTCOME.size :]
        if kind == _FAILED:
            error, tb, pickled = pickle.loads(body)
            return _new_failed((*head, error, tb, _exception(pickled)))
        try:
            value = pickle.loads(body)
        except BaseException as exc:
            error = f"the result could not be unpickled in the parent: {describe(exc)}"
            return _new_failed((*head, error, traceback.format_exc(), exc))
        return _new_result((*head, value))
    if kind == _PROGRESS:
        seq, fraction = _PROGRESS_HEAD.unpack_from(frame, 1)
        text = frame[1 + _PROGRESS_HEAD.size :].decode("utf-8", "replace")
        return Progress(seq, fraction, text)
    if kind == _LOG:
        level, created = _LOG_HEAD.unpack_from(frame, 1)
        name, _, text = frame[1 + _LOG_HEAD.size :].decode("utf-8", "replace").partition("\0")
        return Log(level, created, name, text)
    if kind == _READY:
        return Ready(_SEQ.unpack_from(frame, 1)[0])
    if kind == _BEGAN:
        return Began(_SEQ.unpack_from(frame, 1)[0])
    if kind == _FATAL:
        seq = _SEQ.unpack_from(frame, 1)[0]
        return Fatal(seq, frame[1 + _SEQ.size :].decode("utf-8", "replace"))
    if kind == _INITIALIZING:
        return Initializing()
    if kind == _INIT_FAILED:
        return InitFailed(frame[1:].decode("utf-8", "replace"))
    if kind == _RECYCLING:
        return Recycling(frame[1:].decode("utf-8", "replace"))
    if kind == _STACK:
        request, seq = _STACK_HEAD.unpack_from(frame, 1)
        return Stack(request, seq, frame[1 + _STACK_HEAD.size :].decode("utf-8", "replace"))
    return Unknown(kind)


def _exception(pickled: bytes | None) -> BaseException | None:
    """The task's own exception, when it survives the trip (its class may not import here)."""
    if pickled is None:
        return None
    try:
        exc = pickle.loads(pickled)
    except BaseException:
        return None
    return exc if isinstance(exc, BaseException) else None


# == framing ==============================================================================
def frame(payload: bytes) -> bytes:
    """``payload`` with the length header ``Connection.recv_bytes`` expects."""
    n = len(payload)
    if n > 0x7FFFFFFF:
        return _SHORT.pack(-1) + _LONG.pack(n) + payload
    return _SHORT.pack(n) + payload


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
