"""The worker process: runs tasks one by one and reports each outcome before the next.

It never imports Qt. Everything it says to the parent goes through one pipe, written
synchronously, so a result is in the kernel before the next task starts and survives
any death of the worker right after (GUIDE, trap 2).
"""

from __future__ import annotations

import _thread
import contextlib
import io
import logging
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn

from app.core import stack_text, wire
from app.core.console import STDERR_LOGGER, STDOUT_LOGGER
from app.core.errors import describe, pickled_exception
from app.core.lifecycle import EXIT_GRACE, Lifecycle, Recycler, exit_within, run_initializer
from app.core.lines import LineSplitter
from app.core.task import Task, WorkerCrash, load_task, set_progress_sink, why_not_valid
from app.core.wire import claim


class _Outbox:
    """Thread-safe, synchronous writes to the parent (tasks may log from their threads).

    Only the worker itself writes frames: a child a task forked inherits this outbox
    (and sys.stdout, and the logging handler), and its frames would interleave with the
    worker's and corrupt the pipe. A child's lines go to its fds 1 and 2 instead, which
    the parent reads as plain lines.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def send(self, body: bytes) -> None:
        if os.getpid() != self._pid:
            return  # a forked child does not speak for the worker
        with self._lock:
            self._conn.send_bytes(body)

    def log(self, level: int, name: str, message: str, created: float) -> None:
        if os.getpid() != self._pid:
            fd = 1 if name == STDOUT_LOGGER else 2
            data = (message + "\n").encode("utf-8", "backslashreplace")
            with contextlib.suppress(OSError):
                while data:
                    data = data[os.write(fd, data) :]
            return
        self.send(wire.encode_log(level, created, name, message))


class _PipeHandler(logging.Handler):
    """Forwards the worker's log records, formatted, to the parent's console."""

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__()
        self._outbox = outbox
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # the parent is gone: nothing left to tell
            self._outbox.log(record.levelno, record.name, self.format(record), record.created)


class _LineSink(io.RawIOBase):
    """The raw layer under the worker's ``sys.stdout`` and ``sys.stderr``.

    Each whole line goes to the parent's console through the result pipe, in order with
    the worker's log records and results. ``fileno()`` is the real fd 1 or 2 (a pipe to
    the parent), for code that writes there directly (faulthandler, children).
    """

    def __init__(self, outbox: _Outbox, name: str, level: int, fd: int) -> None:
        super().__init__()
        self._outbox = outbox
        self._name = name
        self._level = level
        self._fd = fd
        self._lines = LineSplitter()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        with self._lock:
            lines = self._lines.feed(bytes(data))
        self._send(lines)
        return size

    def end_line(self) -> None:
        """The task is over: its unfinished last line goes now."""
        with self._lock:
            lines = self._lines.rest()
        self._send(lines)

    def _send(self, lines: list[str]) -> None:
        for line in lines:
            with contextlib.suppress(Exception):  # the parent is gone: nothing left to tell
                self._outbox.log(self._level, self._name, line, time.time())


class _Streams:
    """The worker's standard streams: real text streams, their bytes to the parent.

    Each task starts with them as they should be, whatever the task before did to them
    (closed them, or put its own stream in their place)."""

    def __init__(self, outbox: _Outbox, fds: tuple[Connection, Connection]) -> None:
        devnull = os.open(os.devnull, os.O_RDONLY)  # a task's child never reads the terminal
        os.dup2(devnull, 0)
        os.close(devnull)
        for fd, conn in zip((1, 2), fds, strict=True):
            os.dup2(conn.fileno(), fd)  # fds 1 and 2: pipes the parent reads, for children
            conn.close()
        self._outbox = outbox
        self._sinks = [self._sink(1), self._sink(2)]
        self._text = [self._wrap(sink) for sink in self._sinks]
        self.restore()

    def _sink(self, fd: int) -> _LineSink:
        if fd == 1:
            return _LineSink(self._outbox, STDOUT_LOGGER, logging.INFO, 1)
        return _LineSink(self._outbox, STDERR_LOGGER, logging.WARNING, 2)

    @staticmethod
    def _wrap(sink: _LineSink) -> io.TextIOWrapper:
        return io.TextIOWrapper(
            io.BufferedWriter(sink),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
            write_through=sink.fileno() == 2,
        )

    def end_task(self) -> None:
        """Sends what a task left unsent (a line with no newline) before its outcome, and
        puts the streams back for the next task."""
        for text, sink in zip(self._text, self._sinks, strict=True):
            # A try, not contextlib.suppress: this runs once a task, and a try costs nothing.
            try:  # noqa: SIM105
                text.flush()
            except Exception:  # closed, or detached by the task: restore() mends it
                pass
            sink.end_line()
        self.restore()

    def restore(self) -> None:
        for i, fd in enumerate((1, 2)):
            try:
                usable = not self._text[i].closed
            except ValueError:  # detached: a task rewrapped its buffer (to re-encode, say)
                usable = False
            if not usable:
                self._sinks[i] = self._sink(fd)
                self._text[i] = self._wrap(self._sinks[i])
        # sys.__stdout__ and sys.__stderr__ write to the pipes at fds 1 and 2 too.
        sys.stdout, sys.stderr = self._text


def _watch_parent(lifeline: Connection, parent_pid: int) -> None:
    """Exits the worker soon after its parent dies: the fallback where no watchdog
    process can be forked (it cannot run while a task holds the GIL)."""
    while True:
        if wait([lifeline], timeout=2.0) or not _alive(parent_pid):
            os._exit(0)


def _start_watchdog(lifeline: Connection, parent_pid: int) -> bool:
    """Starts a tiny process that ends the worker's whole process group (the worker, the
    processes its tasks started, itself) as soon as the parent or the worker dies.

    A thread of the worker could not: a task that holds the GIL (one long C call) stops
    every thread. Forked twice, so that it is not the worker's child (a task that waits
    for all its children never waits for it), before the worker starts any thread.
    """
    if not hasattr(os, "fork") or not hasattr(os, "killpg"):
        return False
    worker = os.getpid()
    watched = [_pidfd(worker)]
    # The parent may not be ours (forkserver starts workers); if it died already, the
    # lifeline is at its end and the watchdog acts at once, whatever this fd is.
    parent_fd = _pidfd(parent_pid)
    watched.append(parent_fd)
    try:
        middle = os.fork()
    except OSError:
        return False
    if middle == 0:
        try:
            if os.fork() == 0:
                _watchdog(lifeline.fileno(), watched, worker, parent_pid)
        finally:
            os._exit(0)
    os.waitpid(middle, 0)
    for fd in watched:
        if fd is not None:
            os.close(fd)
    return True


def _pidfd(pid: int) -> int | None:
    """A descriptor readable once ``pid`` ends (Linux 5.3+), or None."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd: int = pidfd_open(pid)
    except OSError:
        return None
    return fd


def _watchdog(lifeline: int, pidfds: list[int | None], worker: int, parent: int) -> NoReturn:
    """The watchdog process: waits for the parent's or the worker's end, then SIGKILLs
    its own process group: group 0 is always its own, never a reused number."""
    try:
        keep = {lifeline, *(fd for fd in pidfds if fd is not None)}
        _close_all_but(keep)
        poller = select.poll()
        for fd in keep:
            poller.register(fd, select.POLLIN)
        worker_fd, parent_fd = pidfds
        while not poller.poll(1000):
            if worker_fd is None and not _alive(worker):
                break
            if parent_fd is None and not _alive(parent):
                break
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(0)


def _close_all_but(keep: set[int]) -> None:
    """Closes every descriptor above 2 but ``keep``: holds nothing of the worker's (no
    pipe end, no sentinel). Lists the open ones where it can: a container's limit on
    descriptors may be a billion."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        limit = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else -1
        fds = list(range(3, limit if limit > 0 else 1 << 16))
    for fd in fds:
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _answer_stacks(requests: Connection, outbox: _Outbox, shared: Any) -> None:
    """The stack thread: for each request on its own pipe, every thread's stack, sent to
    the parent through the worker's one synchronous pipe, in order with the results.

    A thread rather than a signal (``faulthandler.register``): a signal would interrupt
    the task's system calls and could be taken over by a handler the task installs, and
    faulthandler's raw text would need a pipe of its own and knows no thread names. The
    price: while the task holds the GIL in one long C call, no thread runs, and the
    parent's ``stack()`` times out instead (it says so). Started with ``_thread``, not
    ``threading``: the task's ``threading.enumerate()`` does not list it, so a task that
    joins every thread it finds never waits for it. A child the task forks has no such
    thread, and its outbox never speaks for the worker.
    """
    me = _thread.get_ident()
    task_thread = threading.main_thread().ident
    run_one = _Runner._run_one.__code__
    while True:
        try:
            number = wire.decode_stack_request(requests.recv_bytes())
        except BaseException:  # end of file: the parent is done with this worker
            return
        before = wire.claimed(shared)
        try:
            text = stack_text.format_threads(task_thread, start_after=run_one, leave_out=(me,))
        except Exception as exc:
            text = f"(the stacks could not be formatted: {describe(exc)})"
        seq = before if wire.claimed(shared) == before else -1
        try:
            outbox.send(wire.encode_stack(number, seq, text))
        except BaseException:  # the parent is gone
            return


class _Runner:
    """The worker's loop: claim a task, run it, send its outcome, next."""

    def __init__(
        self,
        tasks: Connection,
        outbox: _Outbox,
        shared: Any,
        claim: Any,
        end_output: Callable[[], None],
        recycler: Recycler | None,
    ) -> None:
        self._tasks = tasks
        self._recycler = recycler
        self._outbox = outbox
        self._shared = shared
        self._claim = claim
        self._end_output = end_output
        self._pid = os.getpid()
        self._current: tuple[int, Task | None] = (0, None)

    def loop(self) -> None:
        inbox: deque[tuple[int, memoryview]] = deque()
        shared = self._shared
        idle = True  # the parent cannot know when an idle worker starts: tell it
        while True:
            if not inbox:
                try:
                    body = self._tasks.recv_bytes()
                except EOFError:
                    return  # the parent closed our pipe: nothing more will come
                order = wire.decode_order(body)
                if isinstance(order, wire.Stop):
                    return
                inbox.extend(order.items)
                idle = True
                continue
            seq, payload = inbox.popleft()
            # Claim the task under the lock the parent's cancel() takes: a task is either
            # cancelled before the worker reaches it or claimed and run, never both.
            with self._claim:
                if not claim(shared, seq):
                    continue
            if idle:
                idle = False
                self._outbox.send(wire.encode_began(seq))
            self._run_one(seq, payload)
            if self._recycler is not None:
                why = self._recycler.after_task()
                if why is not None:  # what is left in the inbox the parent requeues
                    self._outbox.send(wire.encode_recycling(why))
                    exit_within(EXIT_GRACE, self.warn)
                    return

    def _run_one(self, seq: int, payload: memoryview) -> None:
        started = time.time()
        self._current = (seq, None)
        try:
            task = load_task(payload)
        except WorkerCrash:
            raise
        except BaseException as exc:
            self._fail(seq, started, f"could not unpickle the task in the worker: {describe(exc)}")
            return
        self._current = (seq, task)
        try:
            reason = why_not_valid(task)
            if reason is not None:
                self._fail(seq, started, f"invalid in the worker: {reason}", with_tb=False)
                return
            value = task.do_task()
        except BaseException as exc:  # SystemExit too: the task fails, the worker lives on
            self.leave_if_forked(exc)
            if isinstance(exc, WorkerCrash):
                raise
            self._fail(seq, started, describe(exc))
            return
        finally:
            self._current = (seq, None)
        self.leave_if_forked(None)
        result = task.result if value is None else value
        try:
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            self._fail(seq, started, f"the result could not be pickled: {describe(exc)}")
            return
        self._end_output()
        self._outbox.send(wire.encode_result(seq, started, time.time(), data))

    def leave_if_forked(self, exc: BaseException | None) -> None:
        """Ends a child the task (or the initializer) forked that came back here instead
        of exiting, as ``sys.exit`` would have: it is not the worker, and must neither
        report the task nor take the next ones."""
        if os.getpid() == self._pid:
            return
        code = 0 if exc is None else 1
        if isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc is not None and not isinstance(exc, SystemExit):
            with contextlib.suppress(Exception):
                traceback.print_exception(exc)  # to its fd 2: the parent shows it
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    def _fail(self, seq: int, started: float, error: str, *, with_tb: bool = True) -> None:
        tb = traceback.format_exc() if with_tb else None
        self._end_output()
        body = wire.encode_failed(seq, started, time.time(), error, tb, pickled_exception())
        self._outbox.send(body)

    def warn(self, text: str) -> None:
        self._outbox.log(logging.WARNING, "app.core.worker", text, time.time())

    def report_progress(self, task: Task, fraction: float, message: str) -> None:
        seq, current = self._current
        if current is task:
            self._outbox.send(wire.encode_progress(seq, fraction, message))

    def fatal(self) -> None:
        """Tells the parent why the loop itself is dying, to attach to the running task."""
        tb = traceback.format_exc()
        with contextlib.suppress(Exception):
            self._outbox.send(wire.encode_fatal(wire.claimed(self._shared), tb))


def worker_main(
    tasks: Connection,
    results: Connection,
    lifeline: Connection,
    output: tuple[Connection, Connection],
    shared: Any,
    claim: Any,
    log_level: int,
    parent_pid: int,
    life: Lifecycle,
    stack_requests: Connection,
) -> None:
    """Entry point of a worker process (spawned; module level so it pickles by name)."""
    # Ctrl-C reaches the whole process group; the parent decides how to shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setsid"):
        # A process group of its own: the parent ends the worker and every process its
        # tasks started in one killpg; and no terminal signal reaches them behind its back.
        with contextlib.suppress(OSError):
            os.setsid()
    outbox = _Outbox(results)
    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(outbox)]
    root.setLevel(log_level)
    streams = _Streams(outbox, output)
    if not _start_watchdog(lifeline, parent_pid):
        threading.Thread(target=_watch_parent, args=(lifeline, parent_pid), daemon=True).start()
    recycler = None if life.max_tasks is None and life.max_memory is None else Recycler(life)
    _thread.start_new_thread(_answer_stacks, (stack_requests, outbox, shared))
    runner = _Runner(tasks, outbox, shared, claim, streams.end_task, recycler)
    set_progress_sink(runner.report_progress)
    if life.initializer is not None:
        # Said first, so that a death inside it (os._exit, a signal) is told as its failure.
        outbox.send(wire.encode_initializing())
        failure = run_initializer(life)
        streams.end_task()
        # A child the initializer forked that returned too is not the worker: it must not
        # take the worker's tasks from its pipe.
        runner.leave_if_forked(None if failure is None else SystemExit(1))
        if failure is not None:
            outbox.send(wire.encode_init_failed(failure))
            exit_within(EXIT_GRACE, runner.warn, code=1)
            raise SystemExit(1)
    outbox.send(wire.encode_ready(os.getpid()))
    try:
        runner.loop()
    except BaseException:
        runner.fatal()
        raise
