"""Initializers and calls of the attack tests: module level, so that spawned workers
import them by name."""

from __future__ import annotations

import os


def fork_and_return() -> None:
    """An initializer whose forked child returns too, as if it were the worker."""
    os.fork()


def pid_of(n: int) -> tuple[int, int]:
    return n, os.getpid()
