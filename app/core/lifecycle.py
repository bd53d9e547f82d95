"""A worker process's life beyond its tasks: the initializer it runs first, and when it
leaves to be replaced by a fresh one (``max_tasks_per_child``, ``max_memory_per_child``).

The parent checks the options (an initializer that cannot be pickled fails the
constructor, before any worker starts); the worker unpickles and runs it, and asks a
``Recycler`` after each task whether it is time to go.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

from app.core.errors import describe

_INIT_LOGGER = "app.core.initializer"


class InitCall:
    """An initializer and its arguments, on their way to a worker.

    They are pickled when a worker process is started, not before: the start method's
    own pickling is under way then, so ``initargs`` may hold what multiprocessing lets
    travel only to a new process (a ``Queue``, a ``Lock``, a ``Value``), as with
    ``ProcessPoolExecutor``. The worker unpickles them in ``run_initializer``, so one that
    cannot be unpickled there (a module the worker cannot import) is the initializer's
    failure, told as such, not a worker that dies before it can say anything.
    """

    def __init__(self, initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
        self._call: tuple[Callable[..., object], tuple[Any, ...]] | None = (initializer, initargs)
        self._blob = b""

    def __getstate__(self) -> bytes:
        return ForkingPickler.dumps(self._call, pickle.HIGHEST_PROTOCOL).tobytes()

    def __setstate__(self, blob: bytes) -> None:
        self._call, self._blob = None, blob

    def load(self) -> tuple[Callable[..., object], tuple[Any, ...]]:
        """The initializer and its arguments (unpickled in a spawned worker; as given
        in a forked one)."""
        if self._call is None:
            self._call = pickle.loads(self._blob)
        return self._call


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What every worker of one facade does before its first task and when it leaves.

    ``name`` names the initializer in messages.
    """

    initializer: InitCall | None = None
    name: str = ""
    max_tasks: int | None = None
    max_memory: int | None = None


def lifecycle_of(
    initializer: Callable[..., object] | None,
    initargs: Sequence[Any],
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
) -> Lifecycle:
    """The checked options; ``TypeError`` or ``ValueError`` saying what is wrong."""
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be callable or None, not {initializer!r}")
    if isinstance(initargs, str | bytes | bytearray) or not isinstance(initargs, Sequence):
        raise TypeError(
            f"initargs must be a tuple of arguments for the initializer, not {initargs!r} "
            "(for a single argument, write (value,))"
        )
    max_tasks = _positive("max_tasks_per_child", max_tasks_per_child, "a number of tasks")
    max_memory = _positive("max_memory_per_child", max_memory_per_child, "a number of bytes")
    if initializer is None:
        return Lifecycle(None, "", max_tasks, max_memory)
    name = _name_of(initializer)
    try:
        pickle.dumps(initializer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"initializer {name} cannot be pickled for the worker processes (define it at "
            f"module level): {describe(exc)}"
        ) from exc
    for arg in initargs:
        try:
            pickle.dumps(arg, protocol=pickle.HIGHEST_PROTOCOL)
        except RuntimeError as exc:
            if _INHERITED not in str(exc):
                raise _unpicklable(name, exc) from exc
        except Exception as exc:
            raise _unpicklable(name, exc) from exc
    return Lifecycle(InitCall(initializer, tuple(initargs)), name, max_tasks, max_memory)


_INHERITED = "through inheritance"
"""What multiprocessing says of a ``Queue`` or ``Lock`` pickled outside a process start:
such an argument travels when the worker starts, so it is no error here."""


def _unpicklable(name: str, exc: Exception) -> TypeError:
    return TypeError(
        f"initargs of initializer {name} cannot be pickled for the worker processes: "
        f"{describe(exc)}"
    )


def _positive(what: str, value: object, unit: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be a positive integer ({unit}) or None, not {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be a positive integer ({unit}) or None, not {value!r}")
    return int(value)


def _name_of(fn: Callable[..., object]) -> str:
    qualname = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if isinstance(qualname, str):
        return f"{module}.{qualname}" if isinstance(module, str) else qualname
    return repr(fn)


# == in the worker ==========================================================================
def run_initializer(life: Lifecycle) -> str | None:
    """Runs the initializer; None when it returned, else one line saying how it failed
    (its traceback goes to the parent's console as an ERROR log record first)."""
    if life.initializer is None:
        return None
    try:
        initializer, initargs = life.initializer.load()
        initializer(*initargs)
    except BaseException as exc:  # SystemExit too: the worker cannot run tasks
        logging.getLogger(_INIT_LOGGER).error(
            "%s%s failed:\n%s", _INIT_FAILED, life.name, traceback.format_exc().rstrip()
        )
        return describe(exc)
    return None


_INIT_FAILED = "the initializer "


def initializer_failure(message: str) -> str | None:
    """The last line of a worker's log record telling its initializer's failure (the
    exception, as "ValueError: boom"), or None when the record tells something else."""
    if not message.startswith(_INIT_FAILED) or " failed:\n" not in message:
        return None
    return message.rstrip().rsplit("\n", 1)[-1].strip()


EXIT_GRACE = 1.0
"""Seconds a recycled worker's clean exit may take before it is cut short."""


def exit_within(seconds: float, warn: Callable[[str], None], code: int = 0) -> None:
    """Makes sure the worker's exit ends within ``seconds`` (with ``code``): a thread a
    task or the initializer left running (not a daemon) would hold it for ever (the exit
    joins such threads), and the parent would wait for its death. ``warn`` says so
    before the worker ends itself."""

    def cut_short() -> None:
        threading.Event().wait(seconds)
        with contextlib.suppress(Exception):
            names = [t.name for t in threading.enumerate() if not t.daemon]
            warn(
                f"its exit did not end within {seconds} s (threads still running: "
                f"{', '.join(names) or 'none'}); ended it"
            )
        os._exit(code)

    threading.Thread(target=cut_short, name="recycling-exit", daemon=True).start()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


class Recycler:
    """Counts the tasks a worker ran and reads its memory after each; says when to go."""

    def __init__(self, life: Lifecycle) -> None:
        self._max_tasks = life.max_tasks
        self._max_memory = life.max_memory
        self._ran = 0
        self._memory = ResidentMemory() if life.max_memory is not None else None

    def after_task(self) -> str | None:
        """Why the worker leaves now, or None to go on."""
        self._ran += 1
        if self._max_tasks is not None and self._ran >= self._max_tasks:
            return f"recycled after {self._ran} task{'s' if self._ran != 1 else ''}"
        cap = self._max_memory
        if cap is not None and self._memory is not None:
            rss = self._memory.read()
            if rss is not None and rss > cap:
                return f"recycled: {_megabytes(rss)} resident above the {_megabytes(cap)} cap"
        return None


class ResidentMemory:
    """This process's resident memory, read after every task: on Linux from
    ``/proc/self/statm``, kept open and read again in place (about 1 µs, no import);
    elsewhere from psutil (imported only there)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._page = 4096
        if sys.platform == "linux":
            self._page = os.sysconf("SC_PAGE_SIZE")
            with contextlib.suppress(OSError):
                self._fd = os.open("/proc/self/statm", os.O_RDONLY)

    def read(self) -> int | None:
        """Bytes resident now; None when neither way can say."""
        if sys.platform == "linux" and self._fd is not None:
            try:
                return int(os.pread(self._fd, 128, 0).split()[1]) * self._page
            except (OSError, ValueError, IndexError):
                pass
        try:
            import psutil  # only where /proc is missing

            rss: int = psutil.Process().memory_info().rss
            return rss
        except Exception:
            return None
