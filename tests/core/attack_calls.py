"""Initializers and calls of the attack tests: module level, so that spawned workers
import them by name."""

from __future__ import annotations

import os
import time

from app.core import Task


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


class Touchy(Task):
    """A task whose ``==`` raises when it meets another of its kind, as a dataclass with
    array fields does ("the truth value of an array is ambiguous")."""

    def __init__(self, ID: str, seconds: float) -> None:
        super().__init__(ID)
        self.seconds = seconds

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Touchy) and other is not self:
            raise ValueError("the truth value of an array is ambiguous")
        return other is self

    __hash__ = Task.__hash__

    def do_task(self) -> float:
        time.sleep(self.seconds)
        return self.seconds
