"""``python -m app run [--no-window] [--record FILE] SCRIPT [ARGS...]``: a program written
against ``concurrent.futures.ProcessPoolExecutor`` runs on the facade, unchanged, recorded
and watched.

The script runs as ``__main__`` in this process, as ``python SCRIPT`` would run it
(``sys.argv``, ``sys.path[0]``, its own module object), with ``ProcessPoolExecutor``
replaced by a facade-backed class for its lifetime. Its module stays ``__main__`` until
this process ends: spawned workers (and replacements started after the script's last
line) re-import it by path as ``__mp_main__``, which is how functions defined in the
script reach them. No Qt here: the window is another process (``python -m app watch``).

Each executor the script makes records its own run: the first to ``--record FILE`` (or a
new file in the runs folder), the next ones beside it (``FILE-2.jsonl``, ...; new files
in the runs folder without ``--record``). The window follows the first executor's run.
"""

from __future__ import annotations

import builtins
import concurrent.futures
import concurrent.futures.process
import contextlib
import importlib.machinery
import os
import subprocess
import sys
import types
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import app
from app.core import exit_wait
from app.core.pool_executor import ProcessPoolFacade
from app.core.run_paths import RUNS_ENV, SUFFIX, RecordChoice, Target, chosen_path, runs_folder
from app.script_checks import screen_problem, unrecordable

INTERRUPTED = 130  # what a shell reports for a program ended by Ctrl-C (128 + SIGINT)


@dataclass
class Session:
    """The executors one script made, and where each records its run."""

    record: Target | None  # --record FILE (or FOLDER), or None: the runs folder
    window: bool
    window_process: subprocess.Popen[bytes] | None = None
    paths: list[Path] = field(default_factory=list)
    executors: list[weakref.ref[ProcessPoolFacade]] = field(default_factory=list)

    def next_record(self) -> RecordChoice:
        """Where the next executor records: FILE, then FILE-2.jsonl beside it, ..."""
        if self.record is None:
            return True
        path = self.record.path
        if self.record.folder:
            return str(path) + os.sep  # a new file in it for each executor
        if not self.paths:
            return str(path)
        stem = path.name.removesuffix(SUFFIX)
        return str(path.with_name(f"{stem}-{len(self.paths) + 1}{SUFFIX}"))

    def started(self, executor: ProcessPoolFacade) -> None:
        self.executors.append(weakref.ref(executor))
        path = executor.record_path
        if path is None:
            return
        self.paths.append(path)
        if len(self.paths) == 1 and self.window:
            self.window_process = open_window(path)

    def close_all(self) -> None:
        """Ends every executor still open (the script neither shut it down nor left it
        calls to finish), so that every run file ends."""
        for ref in self.executors:
            executor = ref()
            if executor is not None:
                executor.close()


def executor_class(session: Session) -> type[ProcessPoolFacade]:
    """``ProcessPoolExecutor``'s stand-in for one script: it records into ``session``."""

    class ProcessPoolExecutor(ProcessPoolFacade):
        __doc__ = ProcessPoolFacade.__doc__

        def __init__(
            self,
            max_workers: int | None = None,
            mp_context: Any = None,
            initializer: Any = None,
            initargs: tuple[Any, ...] = (),
            *,
            max_tasks_per_child: int | None = None,
        ) -> None:
            super().__init__(
                max_workers,
                mp_context,
                initializer,
                initargs,
                max_tasks_per_child=max_tasks_per_child,
                record=session.next_record(),
            )
            session.started(self)

    ProcessPoolExecutor.__module__ = ProcessPoolFacade.__module__
    return ProcessPoolExecutor


@contextmanager
def executor_replaced(replacement: type[Any]) -> Iterator[None]:
    """``concurrent.futures.ProcessPoolExecutor`` (both names of it) is ``replacement``
    inside the block."""
    package, module = concurrent.futures, concurrent.futures.process
    original = module.ProcessPoolExecutor
    package.ProcessPoolExecutor = replacement  # type: ignore[misc]
    module.ProcessPoolExecutor = replacement  # type: ignore[misc]
    try:
        yield
    finally:
        package.ProcessPoolExecutor = original  # type: ignore[misc]
        module.ProcessPoolExecutor = original  # type: ignore[misc]


def open_window(path: Path) -> subprocess.Popen[bytes] | None:
    """The watch window on ``path``, in a process (and session) of its own: Ctrl-C for
    the script does not close it, and it stays open once the script has ended."""
    try:
        window = subprocess.Popen(
            [sys.executable, "-m", "app", "watch", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": _with_app_root(os.environ.get("PYTHONPATH"))},
        )
    except OSError as exc:
        say(f"run: the window could not start: {exc}")
        return None
    say(f"run: the window (pid {window.pid}) follows {path}")
    return window


def _app_root() -> str:
    """The folder this ``app`` package was imported from."""
    return str(Path(app.__file__).resolve().parent.parent)


def _with_app_root(pythonpath: str | None) -> str:
    return os.pathsep.join([_app_root(), *([pythonpath] if pythonpath else [])])


def main_module(path: Path) -> types.ModuleType:
    """A fresh ``__main__`` for the script, as ``python SCRIPT`` makes it."""
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    module.__cached__ = None  # type: ignore[attr-defined]
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", str(path))
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    return module


def run(script: str, args: list[str], record: str | None, window: bool) -> int:
    """Runs ``script`` with ``args`` under the facade; the script's exit status."""
    if script == "-":
        say(
            "run: the script must be a file (standard input cannot be read again by the "
            "spawned workers, which re-import the script by its path)"
        )
        return 2
    path = Path(script)
    try:
        source = path.read_bytes()
        code = compile(source, str(path), "exec", dont_inherit=True)
    except OSError as exc:
        say(f"run: cannot open {script!r}: {exc.strerror or exc}")
        return 2
    except (SyntaxError, ValueError) as exc:  # told as python tells it: no runner frame
        _print_exception(exc.with_traceback(None))
        return 1
    screen = screen_problem() if window else None
    if screen is not None:
        say(
            f"run: no screen to show the window on ({screen}; QT_QPA_PLATFORM=offscreen or "
            "xvfb-run give one); the run's report follows it instead"
        )
        window = False
    try:
        target = None if record is None else chosen_path(record)
    except (ValueError, OSError) as exc:  # an empty path; a name too long to look at
        say(f"run: --record {record!r}: {getattr(exc, 'strerror', None) or exc}")
        return 2
    problem = unrecordable(Target(runs_folder(), True) if target is None else target)
    if problem is not None:
        where = f"--record {record}" if record is not None else f"the runs folder ({RUNS_ENV})"
        say(f"run: {where}: {problem}")
        return 2
    session = Session(target, window)
    module = main_module(path.resolve())
    # For good: pickling finds the script's functions here, and spawned workers, started
    # at any time, re-import it by path. What workers send back names it __mp_main__,
    # which multiprocessing aliased to the __main__ of its import time.
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module
    sys.argv = [script, *args]
    # sys.path[0] is the script's folder, as python makes it. The folder this package
    # came from stays reachable (it was sys.path[0], python -m's current folder, in a
    # checkout), so that spawned workers, which get this sys.path, import the same one.
    rest = sys.path[1:]
    root = _app_root()
    sys.path[:] = [str(path.resolve().parent), *([] if root in rest else [root]), *rest]
    runner = os.getpid()
    status = _execute(code, module, session)
    if os.getpid() != runner:  # a child the script forked, leaving: its parent reports
        return status
    shown = session.window_process
    if shown is not None and shown.poll() not in (None, 0):
        say(
            f"run: the window ended with status {shown.returncode}; "
            f"`python -m app watch {session.paths[0]}` says why"
        )
        window = False
    if not window:
        _report(session)
    return status


def _execute(code: types.CodeType, module: types.ModuleType, session: Session) -> int:
    """Runs the script's code, then what its exit would run for its executors; the exit
    status as python gives it."""
    status = 0
    try:
        with executor_replaced(executor_class(session)):
            exec(code, module.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except KeyboardInterrupt as exc:
        _print_exception(exc)
        status = INTERRUPTED
    except BaseException as exc:
        _print_exception(exc)
        status = 1
    _flush(sys.stdout)
    if status != INTERRUPTED:  # Ctrl-C: the executors close now, their calls unfinished
        try:
            if not exit_wait.finish_all():
                status = INTERRUPTED
        except KeyboardInterrupt:
            status = INTERRUPTED
    session.close_all()
    return status


def _exit_status(code: object) -> int:
    """``sys.exit(code)``'s status, as python gives it: None 0; an int its low byte (one
    beyond a C ``long long``: 255); anything else printed to stderr, and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if -(2**63) <= code < 2**63 else 255
    try:
        text = str(code)
    except Exception:  # python prints an empty line then
        text = ""
    try:
        print(text, file=sys.stderr if sys.stderr is not None else sys.__stderr__)
    except (OSError, ValueError, AttributeError):  # a stream the script closed or dropped
        say(text)
    return 1


def _print_exception(exc: BaseException) -> None:
    """The traceback python would print (on the script's ``sys.stderr``, nothing when it
    is None), without this runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is _execute.__code__:
        tb = tb.tb_next
    _flush(sys.stdout)
    with contextlib.suppress(Exception):  # a stream the script closed: python says nothing
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _flush(stream: Any) -> None:
    """Flushes a stream the script may have closed, dropped or broken (python's own exit
    flushes it once more, and says so when that fails)."""
    with contextlib.suppress(Exception):
        stream.flush()


def say(text: str) -> None:
    """The runner's own words, on this process's stderr (file descriptor 2), whatever the
    script did with ``sys.stderr`` (closed it, or set it to None, which would send
    ``print``'s words to the script's stdout); after what the script wrote."""
    _flush(sys.stdout)
    _flush(sys.stderr)
    data = (text + "\n").encode(errors="backslashreplace")
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(2, data) :]


def _report(session: Session) -> None:
    """Each recorded run's report, on stderr once the script's own output is out."""
    from app.core import RunFileError, read_run
    from app.reports.report import as_table

    if not session.paths:
        say("run: the script made no ProcessPoolExecutor: nothing was recorded")
        return
    for path in session.paths:
        try:
            text = as_table(read_run(path))
        except (OSError, RunFileError) as exc:
            text = f"run: {path}: {exc}"
        say(f"\n{text}")
