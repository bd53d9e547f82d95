"""One-line descriptions of what went wrong, for ``Task.error`` and the console."""

from __future__ import annotations

import pickle
import signal
import sys
import traceback


def describe(exc: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``: the last line of the exception, one line."""
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return " ".join(text.split()) or type(exc).__name__


def signal_name(exitcode: int | None) -> str | None:
    """``"SIGKILL"`` for exit code -9: how ``multiprocessing`` reports a signal death."""
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, in words a person can act on."""
    name = signal_name(exitcode)
    if name is not None:
        return f"killed by {name} (exit code {exitcode})"
    if exitcode is None:
        return "ended with an unknown exit code"
    return f"exited with code {exitcode}"


def pickled_exception() -> bytes | None:
    """The exception being handled, pickled to travel back (a future re-raises it), or
    None when it cannot travel: its text and traceback still do."""
    exc = sys.exc_info()[1]
    if exc is None:
        return None
    try:
        return pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        return None
