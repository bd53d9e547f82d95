"""Task classes the tests submit.

They live at module level in an importable package (``tests.core``) because a spawned
worker unpickles them by importing this module. Nothing here may import PySide6 or the
test configuration: the worker must stay Qt-free.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core import Task


def in_worker() -> bool:
    """True inside a spawned worker, False in the process that created the facade."""
    return multiprocessing.parent_process() is not None


class SquareTask(Task):
    """A tiny task: its result is ``n * n``."""

    def __init__(self, ID: str, n: int) -> None:
        super().__init__(ID)
        self.n = n

    def do_task(self) -> int:
        return self.n * self.n


class PidTask(Task):
    """Returns the pid of the process that runs it."""

    def do_task(self) -> int:
        return os.getpid()


class SetsResultTask(Task):
    """Sets ``self.result`` itself and returns None."""

    def do_task(self) -> None:
        self.result = ("set", os.getpid())


class RaiseTask(Task):
    """Raises ZeroDivisionError from ``do_task``."""

    def do_task(self) -> float:
        return 1 / 0


class SysExitTask(Task):
    """Calls ``sys.exit`` from ``do_task``: a task failure, not a worker death."""

    def __init__(self, ID: str, code: int = 5) -> None:
        super().__init__(ID)
        self.code = code

    def do_task(self) -> None:
        sys.exit(self.code)


class BigResultTask(Task):
    """Returns ``size`` bytes, all equal to ``fill``."""

    def __init__(self, ID: str, size: int, fill: int) -> None:
        super().__init__(ID)
        self.size = size
        self.fill = fill

    def do_task(self) -> bytes:
        return bytes([self.fill]) * self.size


class ModuleLoadedTask(Task):
    """Returns whether a module (or any of its submodules) is loaded in the worker."""

    def __init__(self, ID: str, module: str) -> None:
        super().__init__(ID)
        self.module = module

    def do_task(self) -> bool:
        prefix = self.module + "."
        return any(name == self.module or name.startswith(prefix) for name in sys.modules)


class TouchTask(Task):
    """Creates the file ``path``: proof that it ran."""

    def __init__(self, ID: str, path: str) -> None:
        super().__init__(ID)
        self.path = path

    def do_task(self) -> str:
        Path(self.path).touch()
        return "touched"


class FailOnceTask(Task):
    """Fails the first time it runs (creating ``marker``), succeeds afterwards."""

    def __init__(self, ID: str, marker: str) -> None:
        super().__init__(ID)
        self.marker = marker

    def do_task(self) -> str:
        marker = Path(self.marker)
        if not marker.exists():
            marker.touch()
            raise RuntimeError("first attempt fails on purpose")
        return "second time lucky"


class NeverValidTask(Task):
    """Overrides only ``is_valid``: always refused."""

    def is_valid(self) -> bool:
        return False

    def do_task(self) -> str:
        return "must never run"


# -- tasks that cannot travel to the worker ---------------------------------------------


class LambdaTask(Task):
    """Holds a lambda: it cannot be pickled."""

    def __init__(self, ID: str) -> None:
        super().__init__(ID)
        self.fn: Callable[[], int] = lambda: 42

    def do_task(self) -> int:
        return int(self.fn())


class LockTask(Task):
    """Holds a threading.Lock: it cannot be pickled."""

    def __init__(self, ID: str) -> None:
        super().__init__(ID)
        self.lock = threading.Lock()

    def do_task(self) -> str:
        return "must never run"


class UnpickleFailsInWorkerTask(Task):
    """Pickles fine, but unpickling it raises, and only inside the worker."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if in_worker():
            raise RuntimeError("refusing to be unpickled in the worker")
        super().__setstate__(state)

    def do_task(self) -> str:
        return "must never run"


class UnpickleKillsWorkerTask(Task):
    """Pickles fine, but unpickling it in the worker ends the worker with ``os._exit(7)``."""

    EXIT_CODE = 7

    def __setstate__(self, state: dict[str, Any]) -> None:
        if in_worker():
            os._exit(self.EXIT_CODE)
        super().__setstate__(state)

    def do_task(self) -> str:
        return "must never run"


# -- results that cannot travel back ------------------------------------------------------


class LambdaResultTask(Task):
    """Returns a lambda: the result cannot be pickled in the worker."""

    def do_task(self) -> Any:
        return lambda: 42


class LockResultTask(Task):
    """Returns a threading.Lock: the result cannot be pickled in the worker."""

    def do_task(self) -> Any:
        return threading.Lock()


def _rebuild_outside_parent(value: str) -> ParentBomb:
    """Unpickles a ParentBomb anywhere but in the process that created the facade."""
    if not in_worker():
        raise RuntimeError(f"ParentBomb {value!r} refuses to be unpickled in the parent")
    return ParentBomb(value)


class ParentBomb:
    """A result that pickles fine in the worker but fails to unpickle in the parent."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_rebuild_outside_parent, (self.value,))


class ParentBombResultTask(Task):
    """Returns a ParentBomb."""

    def do_task(self) -> ParentBomb:
        return ParentBomb(self.ID)


# -- odds and ends -----------------------------------------------------------------------


class PayloadTask(Task):
    """Carries ``data`` to the worker and returns its length."""

    def __init__(self, ID: str, data: bytes) -> None:
        super().__init__(ID)
        self.data = data

    def do_task(self) -> int:
        return len(self.data)


class ProgressMessageTask(Task):
    """Reports progress with a message, then returns."""

    def do_task(self) -> str:
        self.report_progress(0.5, "halfway there")
        return "reported"


class LogTask(Task):
    """Logs a warning through ``logging`` in the worker."""

    def do_task(self) -> str:
        import logging

        logging.getLogger("tests.worker").warning("hello from the worker %s", self.ID)
        return "logged"
