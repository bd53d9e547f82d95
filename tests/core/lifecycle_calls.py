"""Initializers and calls for the initializer and recycling tests: module level, so that
spawned workers import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path

SETTING: object = None  # what the initializer set, in the worker
_HELD: list[bytearray] = []  # memory a task keeps alive after it returns


def remember(value: object, other: object = None) -> None:
    global SETTING
    SETTING = (value, other)


def setting() -> object:
    return SETTING


def fail_init(message: str) -> None:
    raise ValueError(message)


def exit_in_init(code: int) -> None:
    os._exit(code)


def fail_if_first(folder: str) -> None:
    """Fails in the one worker that wins the creation of ``folder``/first."""
    try:
        fd = os.open(Path(folder) / "first", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    raise RuntimeError("this worker won the file")


def wait_for_file_in_init(path: str) -> None:
    """Waits (at most 60 s) for ``path`` to exist: keeps the worker initializing."""
    end = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.01)


def pid_of(n: int) -> tuple[int, int]:
    return n, os.getpid()


def slow_pid_of(n: int, seconds: float) -> tuple[int, int]:
    time.sleep(seconds)
    return n, os.getpid()


def hold_memory(megabytes: int) -> int:
    """Keeps ``megabytes`` MB alive after it returns (touched, so resident)."""
    block = bytearray(megabytes * 1_000_000)
    for i in range(0, len(block), 4096):
        block[i] = 1
    _HELD.append(block)
    return os.getpid()


def kill_self_in_init(_: int) -> None:
    os.kill(os.getpid(), 9)


def wait_then_fail(path: str, message: str) -> None:
    wait_for_file_in_init(path)
    raise RuntimeError(message)


def kill_me_at_exit(n: int) -> tuple[int, int]:
    """Registers a finalizer that SIGKILLs the worker as it exits (after its last task)."""
    from multiprocessing import util

    util.Finalize(None, os.kill, args=(os.getpid(), 9), exitpriority=100)
    return n, os.getpid()


def leave_a_thread_running(n: int) -> tuple[int, int]:
    """Starts a non-daemon thread that outlives the task (a clean exit would wait for it)."""
    import threading

    threading.Thread(target=threading.Event().wait, args=(120,), name="left-behind").start()
    return n, os.getpid()


def start_a_thread_then_fail() -> None:
    import threading

    threading.Thread(target=threading.Event().wait, args=(120,), name="left-behind").start()
    raise ValueError("after starting a thread")


_SHARED: tuple[object, object] | None = None  # the queue and lock the initializer was given


def keep_shared(queue: object, lock: object) -> None:
    """Keeps a multiprocessing queue and lock given by initargs, as a pool's initializer
    often does, and says hello through the queue."""
    global _SHARED
    _SHARED = (queue, lock)
    queue.put(("hello", os.getpid()))  # type: ignore[attr-defined]


def put_under_lock(value: object) -> int:
    assert _SHARED is not None
    queue, lock = _SHARED
    with lock:  # type: ignore[attr-defined]
        queue.put(value)  # type: ignore[attr-defined]
    return os.getpid()
