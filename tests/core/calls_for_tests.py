"""Plain functions the executor tests submit; module level, so workers import them by name.

Nothing here may import PySide6 or the test configuration: the worker stays Qt-free.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path


def square(n: int) -> int:
    return n * n


def add(a: int, b: int = 0, *, c: int = 0) -> int:
    return a + b + c


def divide(a: float, b: float) -> float:
    return a / b


class OddError(Exception):
    """An exception whose class the parent can import: it travels back as itself."""


def raise_odd(message: str) -> None:
    raise OddError(message)


def die(code: int) -> None:
    """Ends the worker in the middle of the call."""
    os._exit(code)


def wait_for_file(path: str, limit: float = 30.0) -> str:
    """Blocks until ``path`` exists (the test's way to hold a worker busy), then returns."""
    end = time.monotonic() + limit
    while not Path(path).exists():
        if time.monotonic() > end:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)
    return "released"


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pid() -> int:
    return os.getpid()


class Box:
    """A result or argument the tests hold a weak reference to."""

    def __init__(self, n: int) -> None:
        self.n = n

    def get(self) -> int:
        return self.n


def box(n: int) -> Box:
    return Box(n)


def unbox(b: Box) -> int:
    return b.n


def touch_after(path: str, seconds: float) -> str:
    """Sleeps, then creates ``path``: proof that the call ran to its end."""
    time.sleep(seconds)
    Path(path).touch()
    return path


def write_pid_then_sleep(path: str, seconds: float) -> None:
    """Says which process runs it, then holds its worker."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


INITIALIZED = "not initialized"


def initialize(value: str) -> None:
    """An executor's initializer: runs in each worker before its first call."""
    global INITIALIZED
    INITIALIZED = value


def initialized() -> str:
    return INITIALIZED


class RefusesPickling:
    """An argument that cannot be pickled, saying why."""

    def __reduce__(self) -> str:
        raise pickle.PicklingError("not this one")
