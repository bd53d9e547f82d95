"""The parent's side of one worker process: its pipes, its window of tasks, its fate.

The parent never blocks on a worker: the task pipe is written without blocking from an
output buffer, and the result pipe is read without blocking into a frame reader. Only the
engine's I/O thread touches these file descriptors.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import select
import signal
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.context import BaseContext
from typing import Any

from app.core import wire
from app.core.console import STDERR_LOGGER, STDOUT_LOGGER
from app.core.lifecycle import Lifecycle
from app.core.lines import LineSplitter
from app.core.task import Task
from app.core.worker import worker_main

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_SIZE = 1 << 20  # fewer wake-ups per result burst; the unprivileged maximum on Linux
_READ_CHUNK = 1 << 20
_OUTPUT_CHUNK = 1 << 16  # a whole default pipe: what fds 1 and 2 hold when the writer waits
_CLAIM_WAIT = 1.0  # longest a cancel waits for a worker's claim lock


_REAPED_ELSEWHERE_WAIT = 1.0  # seconds for another thread's waitpid to record a code


class KillReason(enum.Enum):
    """Why the parent killed a worker, and so what happens to its tasks."""

    TIMEOUT = "timeout"  # its task ran too long: TIMED_OUT, worker replaced
    COLLECT = "collect"  # collect_tasks(timeout) ran out: TIMED_OUT / CANCELLED
    CLOSE = "close"  # close(), or the facade was dropped: TIMED_OUT / CANCELLED
    KILL_NOW = "kill now"  # close() while collect_tasks waited (the window's Kill now)
    STOP = "stop"  # asked to stop at the end of a collect; was idle
    DAMAGED = "damaged"  # its result stream was not frames any more
    REAP = "reap"  # found alive when it was to be reaped
    CANCEL = "cancel"  # cancel(force=True) of its running task: CANCELLED, worker replaced


class WorkerHandle:
    """One worker process as the parent sees it."""

    def __init__(self, ctx: BaseContext, index: int, restarts: int, life: Lifecycle) -> None:
        self.index = index
        self.restarts = restarts
        self.window: deque[Task] = deque()  # sent to this worker, in order; head may run
        self.head_since = 0.0  # monotonic time the head of the window started running
        self.tasks_done = 0
        self.early_deaths = 0  # the workers before it in its slot killed while starting
        self.ready = False
        self.alive = True
        self.exitcode: int | None = None
        self.kill_reason: KillReason | None = None  # why the parent killed or stopped it
        self.replacing = False  # dead, and a replacement is on its way
        self.cancel_seq = -1  # the task cancel(force=True) killed it for
        self.stopping = False  # asked to leave its loop at the end of a collect
        self.write_registered = False  # the I/O thread waits for room in the task pipe
        self.fatal: tuple[int, str] | None = None  # the loop's own traceback, if it died so
        self.stack_at_kill: str | None = None  # its stacks, taken as its task's timeout ran out
        self.eof = False  # the result pipe reached end of file: the worker is exiting
        self.finished = 0  # outcomes this process sent (tasks_done counts the slot's)
        self.initializing = False  # its initializer runs: a death now is its failure
        self.init_error: str | None = None  # how the initializer failed, as it said
        self.recycling: str | None = None  # why it leaves after its last outcome
        self.rss_bytes: int | None = None  # telemetry's last sample of it
        self.cpu_percent: float | None = None
        self.oom: tuple[bool | None, str | None] = (None, None)  # (oom_killed, evidence)
        self._out = bytearray()
        self._reader = wire.FrameReader()
        self._forkserver = ctx.get_start_method() == "forkserver"

        task_r, task_w = ctx.Pipe(duplex=False)
        result_r, result_w = ctx.Pipe(duplex=False)
        life_r, life_w = ctx.Pipe(duplex=False)
        stdout_r, stdout_w = ctx.Pipe(duplex=False)  # the worker's fds 1 and 2, raw
        stderr_r, stderr_w = ctx.Pipe(duplex=False)
        stack_r, stack_w = ctx.Pipe(duplex=False)  # requests to the worker's stack thread
        self.shared: Any = ctx.RawArray(wire.CLAIM_TYPECODE, wire.CLAIM_SLOTS)
        self.claim: Any = ctx.Lock()
        level = logging.getLogger().getEffectiveLevel()
        self.process: Any = ctx.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(
                task_r,
                result_w,
                life_r,
                (stdout_w, stderr_w),
                self.shared,
                self.claim,
                level,
                os.getpid(),
                life,
                stack_r,
            ),
            name=f"worker-{index}",
        )
        self.spawned = time.monotonic()  # its CPU time counts from here
        try:
            self.process.start()
        finally:
            for conn in (task_r, result_w, life_r, stdout_w, stderr_w, stack_r):
                conn.close()
        self.pid: int = self.process.pid
        self.death_fd = _death_fd(self.pid, self.process.sentinel)
        self._conns = (task_w, result_r, life_w, stdout_r, stderr_r, stack_w)
        self.task_fd = task_w.fileno()
        self._stack_fd = stack_w.fileno()
        self.result_fd = result_r.fileno()
        # What the worker and its children write to fds 1 and 2, as lines for the console.
        self.output: dict[int, tuple[str, int, LineSplitter]] = {
            stdout_r.fileno(): (STDOUT_LOGGER, logging.INFO, LineSplitter()),
            stderr_r.fileno(): (STDERR_LOGGER, logging.WARNING, LineSplitter()),
        }
        self._output_poll = select.poll()  # which of them hold something, in one call
        for fd in self.output:
            self._output_poll.register(fd, select.POLLIN)
        for fd in (self.task_fd, self.result_fd, self._stack_fd, *self.output):
            os.set_blocking(fd, False)
        for fd in (self.task_fd, self.result_fd):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)

    # -- sending ----------------------------------------------------------------------
    def send(self, body: bytes) -> bool:
        """Queues a frame and writes what the pipe takes now; True if some is left over."""
        if not self.alive:
            return False
        self._out += wire.frame(body)
        return self.flush()

    def flush(self) -> bool:
        """Writes as much of the output buffer as the pipe takes; True if some is left."""
        out = self._out
        while out:
            try:
                n = os.write(self.task_fd, out)
            except BlockingIOError:
                return True
            except OSError:  # the worker is gone; its death is handled via its sentinel
                out.clear()
                return False
            del out[:n]
        return False

    def ask_stack(self, number: int) -> None:
        """Asks the worker's stack thread for request ``number``. Nothing happens when it
        cannot be asked now (reaped, or thousands of requests unread): the request's
        caller learns so from the death, or times out. One small write: a pipe takes it
        whole or not at all."""
        if self.exitcode is not None:
            return  # reaped: the fd is closed, its number may be another file's
        with contextlib.suppress(OSError):
            os.write(self._stack_fd, wire.frame(wire.encode_stack_request(number)))

    # -- receiving --------------------------------------------------------------------
    def read(self, limit: int = 4) -> tuple[list[bytes], bool]:
        """Whole frames available now (at most ``limit`` reads), and whether more may wait.

        The second value is False once the pipe is empty or at end of file.
        """
        frames: list[bytes] = []
        for _ in range(limit):
            try:
                chunk = os.read(self.result_fd, _READ_CHUNK)
            except (BlockingIOError, OSError):
                return frames, False
            if not chunk:
                self.eof = True
                return frames, False
            try:
                frames.extend(self._reader.feed(chunk))
            except wire.ProtocolError as exc:
                self.damaged(str(exc))
                return frames, False
        return frames, True

    def damaged(self, what: str) -> None:
        """The result stream is not frames any more (a process the task forked wrote into
        it, say): nothing more from it can be trusted, so the worker is killed, and its
        running task is blamed with this reason."""
        if self.kill_reason is None:
            self.fatal = (
                wire.claimed(self.shared),
                f"the worker's result stream was damaged ({what}); the parent killed it",
            )
        self.kill(KillReason.DAMAGED)

    def read_output(
        self, fd: int | None = None, *, reads: int = 1, end: bool = False, polled: bool = False
    ) -> list[tuple[str, int, str]]:
        """Lines written to the worker's fds 1 and 2, as (logger name, level, line): from
        ``fd`` alone, or from both; at most ``reads`` pipe reads of 64 KiB each, so that
        a child that floods its output waits on the pipe instead of drowning the parent.
        ``end`` also takes unfinished lines (the task that wrote them is over, or the
        worker is dead). ``polled`` first asks which pipes hold something (or are at
        their end), in one call: far cheaper than a read that finds nothing, which is
        what most reads after a result find."""
        lines: list[tuple[str, int, str]] = []
        ready = None
        if polled:
            with contextlib.suppress(OSError):
                ready = {out_fd for out_fd, _ in self._output_poll.poll(0)}
        for out_fd, (name, level, splitter) in self.output.items():
            if fd is not None and out_fd != fd:
                continue
            for _ in range(reads if ready is None or out_fd in ready else 0):
                try:
                    chunk = os.read(out_fd, _OUTPUT_CHUNK)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                lines.extend((name, level, line) for line in splitter.feed(chunk))
            if end:
                lines.extend((name, level, line) for line in splitter.rest())
        return lines

    def drain(self) -> list[bytes]:
        """Every frame left in the pipe of a dead worker: nothing it sent is lost."""
        frames: list[bytes] = []
        more = True
        while more:
            got, more = self.read(limit=64)
            frames.extend(got)
        return frames

    # -- the claim ring ---------------------------------------------------------------
    def unclaim(self, seq: int) -> bool:
        """Takes task ``seq`` back before the worker claims it; False if the worker has
        (or the claim lock cannot be had: the worker died holding it, say).

        The worker claims a task under the same lock, so exactly one side wins.
        """
        deadline = time.monotonic() + _CLAIM_WAIT
        while not self.claim.acquire(timeout=0.05):
            if not self.process_alive() or time.monotonic() > deadline:
                return False
        try:
            return wire.unclaim(self.shared, seq)
        finally:
            self.claim.release()

    # -- ending -----------------------------------------------------------------------
    def kill(self, reason: KillReason) -> None:
        """SIGKILL to the worker and every process its tasks started: the only signal a
        hung task cannot ignore."""
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.exitcode is not None:
            return  # reaped: its pid may belong to another process by now
        self.end_group()
        # Process.kill signals only a process it has not reaped; a closed one raises.
        with contextlib.suppress(ValueError, ProcessLookupError):
            self.process.kill()

    def end_group(self) -> None:
        """SIGKILLs what is left of the worker's process group: the processes its tasks
        started (those that left the group on purpose, with setsid, are their own).

        Only before the worker is reaped: its pid, and so the group's id, is still
        ours then (a zombie's pid is never reused). Once it is reaped (multiprocessing
        reaps dead children whenever it starts a process), its watchdog, a member of the
        group, ends the group instead.
        """
        popen = getattr(self.process, "_popen", None)
        if self.exitcode is not None or not hasattr(os, "killpg") or popen is None:
            return
        if self._forkserver:  # the forkserver reaps its children itself, at once
            return
        if getattr(popen, "returncode", None) is not None:
            return  # reaped by multiprocessing already: the number may be another's now
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)

    def death_reason(self) -> str:
        """Its ``WorkerDied.reason`` once it is reaped (see ``DEATH_REASONS``)."""
        kill = self.kill_reason
        clean = self.exitcode == 0
        if self.recycling is not None and clean and kill in (None, KillReason.STOP):
            return "recycled"  # it left on its own, even if a stop crossed its exit
        if kill is None:
            return "initializer failed" if self.initializing else "crashed"
        if kill == KillReason.TIMEOUT:
            return "timeout"
        if kill == KillReason.STOP:
            return "stopped" if clean else "killed"  # killed when it did not leave in time
        if kill in (KillReason.DAMAGED, KillReason.REAP):
            return "crashed"  # its task broke it; the parent only finished the job
        return "killed"  # a forced cancel, a collect that ran out, close(), a dropped facade

    def process_alive(self) -> bool:
        """Whether the process still runs (it may be dead before the parent noticed).

        Looks at the death fd instead of waiting for the process: only the I/O thread reaps.
        """
        if not self.alive:
            return False
        try:
            return not wait([self.death_fd], 0)  # poll-based: any fd number works
        except (OSError, ValueError):
            return False

    def reap(self) -> int | None:
        """Waits for the dead process and releases its resources; returns its exit code."""
        if self.process.exitcode is None and not wait([self.death_fd], 5.0):
            self.kill(self.kill_reason or KillReason.REAP)  # not dead after all: make it so
        self.process.join()  # waitpid: whatever its children still hold
        # multiprocessing's own clean-up (run by Process.start as a replacement spawns)
        # may have taken the exit status a moment before our waitpid, which then found
        # no child and left the code unset: that thread sets it just after.
        settled = time.monotonic() + _REAPED_ELSEWHERE_WAIT
        while self.process.exitcode is None and time.monotonic() < settled:
            time.sleep(0.001)
        self.exitcode = self.process.exitcode
        for conn in self._conns:
            conn.close()
        if self.death_fd != self.process.sentinel:
            os.close(self.death_fd)
        with contextlib.suppress(ValueError):  # its code never came: nothing left to free
            self.process.close()
        return self.exitcode


def _death_fd(pid: int, sentinel: int) -> int:
    """A descriptor that becomes readable when the process ends.

    The sentinel of ``multiprocessing`` is a pipe that the worker holds open: a child
    the worker forked inherits it, and would hide the worker's death while it lives.
    A pidfd (Linux 5.3+) tells the death of the process itself.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        with contextlib.suppress(OSError):
            fd: int = pidfd_open(pid)
            return fd
    return sentinel
