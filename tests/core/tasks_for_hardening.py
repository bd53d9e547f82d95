"""Tasks that abuse their worker: they fork, spawn children, write to raw file descriptors
or hold the GIL. Module level, so a spawned worker can import them; no Qt here.
"""

from __future__ import annotations

import ctypes
import faulthandler
import io
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.core import Task


def _note_pid(path: str, pid: int) -> None:
    """Writes ``pid`` where the test can read it (atomically: a rename)."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(str(pid))
    os.replace(tmp, path)


def _sleep_forever() -> None:
    while True:
        time.sleep(3600)


class ForkThenDieTask(Task):
    """Forks a child that outlives the task (it sleeps), then kills its own worker.

    ``how`` is the way to make the child: ``"os.fork"``, ``"mp-fork"`` (a
    ``multiprocessing`` fork-context Process), ``"libc-fork"`` (fork from C, behind
    Python's back) or ``"setsid"`` (os.fork, then the child detaches into a session
    of its own). ``then`` is ``"kill"`` (SIGKILL itself), ``"exit"`` or ``"sleep"``.
    """

    def __init__(self, ID: str, pid_file: str, how: str = "os.fork", then: str = "kill") -> None:
        super().__init__(ID)
        self.pid_file = pid_file
        self.how = how
        self.then = then

    def do_task(self) -> None:
        if self.how == "mp-fork":
            child = multiprocessing.get_context("fork").Process(target=_sleep_forever)
            child.start()
            pid = child.pid
            assert pid is not None
        else:
            fork = ctypes.CDLL(None).fork if self.how == "libc-fork" else os.fork
            pid = fork()
            if pid == 0:  # the child: keep every inherited descriptor, outlive the task
                try:
                    if self.how == "setsid":
                        os.setsid()
                        _note_pid(self.pid_file, os.getpid())  # once out of the group
                    _sleep_forever()
                finally:
                    os._exit(0)
        if self.how != "setsid":
            _note_pid(self.pid_file, pid)
        if self.then == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.then == "exit":
            os._exit(5)
        else:
            _sleep_forever()


class ChildProcessTask(Task):
    """Starts ``argv`` as a subprocess, writes its pid, then: ``"wait"`` for it,
    ``"leave"`` it running and return, ``"crash"`` the worker with it running, or
    ``"wait-crash"``: wait for it, then crash the worker.
    ``detach`` starts it in a session of its own (``start_new_session``)."""

    def __init__(
        self,
        ID: str,
        pid_file: str,
        argv: list[str],
        then: str = "wait",
        detach: bool = False,
        timeout: float | None = None,
    ) -> None:
        super().__init__(ID, timeout=timeout)
        self.pid_file = pid_file
        self.argv = argv
        self.then = then
        self.detach = detach

    def do_task(self) -> int | None:
        child = subprocess.Popen(self.argv, start_new_session=self.detach)
        _note_pid(self.pid_file, child.pid)
        if self.then == "wait":
            return child.wait()
        if self.then == "wait-crash":
            child.wait()
            os._exit(7)
        if self.then == "crash":
            os._exit(7)
        return None


class RawOutputTask(Task):
    """Writes to its standard streams every way a task can."""

    def do_task(self) -> dict[str, object]:
        sys.stdout.buffer.write(b"through sys.stdout.buffer\n")
        sys.stdout.flush()
        os.write(1, b"through fd 1\n")
        os.write(2, b"through fd 2\n")
        subprocess.run(["echo", "from a child process"], check=True)
        subprocess.run(["sh", "-c", "echo from a shell on stderr >&2"], check=True)
        print("no newline at the end", end="")
        return {
            "stdout_encoding": sys.stdout.encoding,
            "stderr_encoding": sys.stderr.encoding,
            "stdout_fileno": sys.stdout.fileno(),
            "stderr_fileno": sys.stderr.fileno(),
            "isatty": sys.stdout.isatty(),
        }


class FaulthandlerTask(Task):
    """Enables faulthandler (it needs a real stderr file descriptor) and dumps a traceback."""

    def do_task(self) -> bool:
        faulthandler.enable()
        faulthandler.dump_traceback(all_threads=False)
        return faulthandler.is_enabled()


class PrintThenReturnTask(Task):
    """Prints one line, then returns: the line must come before the result."""

    def do_task(self) -> str:
        print(f"line of {self.ID}")
        return self.ID


class LongLineTask(Task):
    """Writes ``size`` bytes with no newline to fd 1, then one short line."""

    def __init__(self, ID: str, size: int) -> None:
        super().__init__(ID)
        self.size = size

    def do_task(self) -> int:
        data = b"x" * self.size
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]
        os.write(1, b"\nafter the long line\n")
        return self.size


class ChattyTask(Task):
    """Prints ``lines`` lines, as fast as it can."""

    def __init__(self, ID: str, lines: int) -> None:
        super().__init__(ID)
        self.lines = lines

    def do_task(self) -> int:
        for i in range(self.lines):
            print(f"chatty line {i} " + "=" * 60)
        return self.lines


class GilHogTask(Task):
    """Holds the GIL for a long time in one C call (no thread of the worker can run)."""

    def __init__(self, ID: str, n: int = 3 * 10**9) -> None:
        super().__init__(ID)
        self.n = n

    def do_task(self) -> int:
        return sum(range(self.n))


class LoggingChattyTask(Task):
    """Logs ``records`` warnings from the worker, as fast as it can."""

    def __init__(self, ID: str, records: int) -> None:
        super().__init__(ID)
        self.records = records

    def do_task(self) -> int:
        log = logging.getLogger("chatty")
        for i in range(self.records):
            log.warning("record %d %s", i, "y" * 100)
        return self.records


class LeftoverThreadTask(Task):
    """Leaves a non-daemon thread running: its worker cannot exit cleanly any more."""

    def do_task(self) -> None:
        threading.Thread(target=time.sleep, args=(300,)).start()


class FloodTask(Task):
    """Starts a child that writes to fd 1 as fast as it can, and returns."""

    def do_task(self) -> None:
        subprocess.Popen(["yes", "flood"])


class StreamAbuseTask(Task):
    """Closes ``sys.stdout``, or puts a stream of its own in its place."""

    def __init__(self, ID: str, how: str) -> None:
        super().__init__(ID)
        self.how = how

    def do_task(self) -> None:
        if self.how == "close":
            sys.stdout.close()
            sys.stderr.close()
        elif self.how == "rewrap":  # the usual way to re-encode stdout
            sys.stdout = io.TextIOWrapper(sys.stdout.detach(), encoding="latin-1")
            print("café")
        else:
            sys.stdout = io.StringIO()


class ForkAndReturnTask(Task):
    """Forks, and the child returns from do_task as the parent does (a user's bug)."""

    def do_task(self) -> int:
        return os.fork()


class ForkedChildEndsTask(Task):
    """Forks a child that ends by raising (``"raise"``) or by ``sys.exit(5)`` from inside
    do_task, as Python code often ends a child; the worker returns the child's status."""

    def __init__(self, ID: str, how: str) -> None:
        super().__init__(ID)
        self.how = how

    def do_task(self) -> int:
        pid = os.fork()
        if pid == 0:
            if self.how == "raise":
                raise RuntimeError("the child failed")
            sys.exit(5)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _print_long_lines(n: int) -> None:
    for i in range(LONG_LINES):
        print(f"child {n} line {i} " + "z" * 9000)


LONG_LINES = 300  # of 9 kB each: megabytes through the pipe, so its writers must wait


class ChildrenPrintTask(Task):
    """Forks children that print long lines (past the pipe's atomic size) at the same time
    as the worker does."""

    def do_task(self) -> int:
        children = [
            multiprocessing.get_context("fork").Process(target=_print_long_lines, args=(n,))
            for n in range(4)
        ]
        for child in children:
            child.start()
        _print_long_lines(99)
        for child in children:
            child.join()
        return len(children)


class ReapAllChildrenTask(Task):
    """Starts a child, then waits for every child it has until there is none left, as
    code that reaps "all my children" does."""

    def do_task(self) -> int:
        child = subprocess.Popen(["true"])  # kept: a dropped Popen may reap its child itself
        reaped = 0
        while True:
            try:
                os.wait()
            except ChildProcessError:
                child.returncode = 0  # reaped here: its Popen must not look for it
                return reaped
            reaped += 1


# Raw frames a task may push into its worker's result stream, bypassing the worker.
RAW_FRAMES = {
    "empty": b"\x00\x00\x00\x00",  # a frame of length 0: not even a kind byte
    "bad length": b"\xff\xff\xff\xf0",  # a length no frame has
    "short outcome": b"\x00\x00\x00\x02R\x00",  # an R frame cut short of its header
}


class RawFrameTask(Task):
    """Writes bytes of its own choosing into the worker's result pipe, as a careless C
    library or a stray ``os.write`` on the wrong descriptor might, then waits a while."""

    def __init__(self, ID: str, how: str) -> None:
        super().__init__(ID)
        self.how = how

    def do_task(self) -> None:
        handler = logging.getLogger().handlers[0]  # the worker's pipe to the parent
        fd = handler._outbox._conn.fileno()  # type: ignore[attr-defined]
        os.write(fd, RAW_FRAMES[self.how])
        time.sleep(30)  # the parent kills the worker long before this ends
