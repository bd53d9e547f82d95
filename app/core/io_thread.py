"""The facade's I/O thread: the only code that touches a worker's file descriptors.

It waits on every result pipe, every output pipe (the workers' fds 1 and 2), every death
fd and a wake-up pipe at once (never a sleep loop); reads results as they come, so no
worker ever blocks on a full pipe and no join waits on undrained data; writes what the
engine sends without blocking; and buries a dead worker: all it sent is read before its
tasks' fates are decided. What the bytes mean is the engine's business: each round, and
each batch of messages, goes to its ``IOOwner`` under the owner's lock.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import traceback
from typing import Any, Protocol

from app.core import console, wire
from app.core.errors import describe
from app.core.handle import KillReason, WorkerHandle

# Handled on the console thread: the I/O thread never waits for a slow terminal.
log = console.DeferredLogger("app.core")

_WAKE, _RESULTS, _OUTPUT, _DEATH, _WRITABLE = range(5)

WorkerLines = list[Any]
"""Lines for the console, as (index, pid, level, time, logger name, text)."""


class IOOwner(Protocol):
    """What the I/O thread asks of its engine: the ``*_locked`` calls hold its lock."""

    def io_stopped_locked(self) -> bool:
        """Whether the thread is to end now."""

    def io_round_locked(self) -> float | None:
        """The round's stops, dispatch and timeouts; the seconds to wait, or None."""

    def apply_messages(self, h: WorkerHandle, msgs: list[wire.Message], logs: WorkerLines) -> None:
        """Applies a worker's decoded messages (takes the lock itself, in short holds)."""

    def apply_output(
        self, h: WorkerHandle, lines: list[tuple[str, int, str]], logs: WorkerLines
    ) -> None:
        """Applies lines a worker wrote to its fds 1 and 2 (takes the lock itself)."""

    def examine_death(self, h: WorkerHandle) -> None:
        """Gathers what tells how a reaped worker died (no lock held: it reads files)."""

    def on_death_locked(self, h: WorkerHandle) -> bool:
        """Decides the fates of a buried worker's tasks; True to replace it."""

    def replace_soon(self, h: WorkerHandle) -> None:
        """Starts a replacement for a dead worker, off this thread."""

    def io_ending_locked(self) -> list[WorkerHandle]:
        """The I/O thread is ending: the workers still alive, to kill and bury."""

    def io_ended_locked(self) -> None:
        """Every worker is buried: what is still queued will never run."""


class IOThread:
    """Owns the selector, the wake-up pipe and the thread that waits on them."""

    def __init__(self, owner: IOOwner, lock: threading.RLock) -> None:
        self._owner = owner
        self._lock = lock
        self._woken = False
        self._new_handles: list[WorkerHandle] = []
        self._done = threading.Event()  # set as the thread's very last act
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, (_WAKE, None))
        self._thread = threading.Thread(
            target=self._run, name="WorkingProcessFacade-io", daemon=True
        )

    # == from any thread ==================================================================
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Makes the thread run a round soon: cheap when it is already woken."""
        if not self._woken:
            self._woken = True
            with contextlib.suppress(OSError):  # full (already woken) or closed
                os.write(self._wake_w, b"!")

    def add(self, h: WorkerHandle) -> None:
        """Watches a new worker's pipes from the next round on (under the owner's lock)."""
        self._new_handles.append(h)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close_unstarted(self) -> None:
        """Releases the selector and the wake-up pipe of a thread that never started (its
        facade failed to start its workers): nobody else would close them."""
        assert not self._thread.is_alive()
        self._woken = True  # wake must never write to a closed, reused fd
        self._close_fds()

    def wait_done(self, timeout: float) -> bool:
        """An Event, not join(): on Python 3.11 an interrupted join() marks the thread
        as ended while it still runs (bpo-45274), and the next join would not wait."""
        return self._done.wait(timeout)

    def join(self, timeout: float) -> None:
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # == on the I/O thread ================================================================
    def send(self, h: WorkerHandle, body: bytes) -> None:
        """Queues a frame to a worker; what the pipe does not take now goes when it can."""
        if h.send(body) and not h.write_registered:
            self._selector.register(h.task_fd, selectors.EVENT_WRITE, (_WRITABLE, h))
            h.write_registered = True

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:
            log.critical("the facade's I/O thread crashed:\n%s", traceback.format_exc())
        finally:
            try:
                self._shutdown()
            finally:
                self._done.set()

    def _loop(self) -> None:
        sel = self._selector
        owner = self._owner
        while True:
            with self._lock:
                self._woken = False
                if owner.io_stopped_locked():
                    return
                self._register_new()
                timeout = owner.io_round_locked()
            ready = sel.select(timeout)
            self._handle(ready)

    def _register_new(self) -> None:
        for h in self._new_handles:
            sel = self._selector
            sel.register(h.result_fd, selectors.EVENT_READ, (_RESULTS, h))
            sel.register(h.death_fd, selectors.EVENT_READ, (_DEATH, h))
            for fd in h.output:
                sel.register(fd, selectors.EVENT_READ, (_OUTPUT, h))
        self._new_handles.clear()

    def _handle(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        logs: WorkerLines = []
        dead: list[WorkerHandle] = []
        owner = self._owner
        for key, _mask in ready:
            tag, h = key.data
            if tag == _WAKE:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            elif tag == _RESULTS:
                frames, _more = h.read()
                # What the task wrote to fds 1 and 2 came before its outcome: show it first.
                ended = wire.has_outcome(frames)
                owner.apply_output(h, h.read_output(reads=4, end=ended, polled=True), logs)
                self._apply_frames(h, frames, logs)
                if h.eof:  # dying: stop watching the pipe, its death follows at once
                    self._unregister_fd(h.result_fd)
            elif tag == _OUTPUT:
                owner.apply_output(h, h.read_output(key.fd), logs)
            elif tag == _DEATH:
                dead.append(h)
            elif tag == _WRITABLE and not h.flush():
                self._unregister_fd(h.task_fd)
                h.write_registered = False
        for h in dead:
            if self._bury(h, logs):
                owner.replace_soon(h)
        if logs:
            console.emit_worker_lines(logs)

    def _apply_frames(self, h: WorkerHandle, frames: list[bytes], logs: WorkerLines) -> None:
        """Decodes outside the lock; a damaged frame must not end the I/O thread."""
        decoded = []
        for frame in frames:
            try:
                decoded.append(wire.decode(frame))
            except Exception as exc:
                h.damaged(describe(exc))
                break
        self._owner.apply_messages(h, decoded, logs)

    def _bury(self, h: WorkerHandle, logs: WorkerLines) -> bool:
        """A worker died: apply all it sent, end what its tasks started, reap it, decide
        its tasks. True to replace it."""
        for fd in (h.result_fd, h.death_fd, h.task_fd, *h.output):
            self._unregister_fd(fd)
        h.write_registered = False
        h.end_group()  # before the reap: the group's id is the worker's pid, still ours
        self._owner.apply_output(h, h.read_output(reads=1024, end=True), logs)
        self._apply_frames(h, h.drain(), logs)
        h.reap()
        self._owner.examine_death(h)
        with self._lock:
            return self._owner.on_death_locked(h)

    def _close_fds(self) -> None:
        """The selector and the wake-up pipe, once ``wake`` can no longer write to it."""
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _unregister_fd(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def _shutdown(self) -> None:
        """Leaves nothing behind: every worker killed and reaped, every fd closed."""
        with self._lock:
            handles = self._owner.io_ending_locked()
        logs: WorkerLines = []
        for h in handles:
            h.kill(KillReason.CLOSE)
            with contextlib.suppress(Exception):
                self._bury(h, logs)
        with self._lock:
            self._owner.io_ended_locked()
            self._woken = True  # for good: wake must never write to a closed, reused fd
        self._close_fds()
        if logs:
            console.emit_worker_lines(logs)
