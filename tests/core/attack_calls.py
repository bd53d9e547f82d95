"""Initializers and calls of the attack tests: module level, so that spawned workers
import them by name."""

from __future__ import annotations

import os


def fork_and_return() -> None:
    """An initializer whose forked child returns too, as if it were the worker."""
    os.fork()


def pid_of(n: int) -> tuple[int, int]:
    return n, os.getpid()


class InterruptingID(str):
    """A task ID whose ``armed``-th hash, counted in this process only, raises
    KeyboardInterrupt: Ctrl-C landing at that very point of a submission."""

    armed = 0  # a class attribute: a worker unpickling the ID finds it disarmed

    def __hash__(self) -> int:
        if InterruptingID.armed > 0:
            InterruptingID.armed -= 1
            if InterruptingID.armed == 0:
                raise KeyboardInterrupt
        return str.__hash__(self)
