"""At the interpreter's exit, calls still pending on an executor that was never shut down
finish first, as ``ProcessPoolExecutor``'s do.

The standard executor joins its workers from ``threading``'s exit hooks, which run before
``atexit`` handlers and before the interpreter tears anything down; a facade's own
finalizer runs later, from ``atexit``, and kills what is left. So a facade that has taken
calls is tracked here (weakly: a facade dropped while the program runs is finalized as
before), and at exit each one waits for the calls whose futures are still unresolved.
A call that never ends holds the exit as it does with the standard executor; Ctrl-C ends
the wait (as does any exception a signal handler raises) and closes every tracked facade
at once, deaf to a second Ctrl-C meanwhile (a key held down would otherwise break into
the closing, spew a traceback and leave the facades after it to their finalizers). A
forked child (a worker started with fork runs these hooks as it ends) finishes nothing:
the facades are its parent's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Protocol

from app.core.errors import describe


class Finishes(Protocol):
    """A facade as seen from here: it can finish its pending calls."""

    def finish_calls(self) -> None: ...

    def close(self) -> None: ...


_tracked: weakref.WeakSet[Finishes] = weakref.WeakSet()
_lock = threading.Lock()
_hooked = False
_owner = os.getpid()  # a forked child inherits the hook and the set, not the facades


def _forked() -> None:
    global _owner
    _owner = os.getpid()
    _tracked.clear()


os.register_at_fork(after_in_child=_forked)


def track(facade: Finishes) -> None:
    """Has ``facade``'s pending calls finish at exit (from its first call on)."""
    global _hooked
    with _lock:
        if not _hooked:
            try:
                threading._register_atexit(finish_all)  # type: ignore[attr-defined]
            except RuntimeError:  # the interpreter is ending already: too late to wait
                return
            _hooked = True
        _tracked.add(facade)


def finish_all() -> bool:
    """Waits for every tracked facade's pending calls, then collects it when nothing else
    is left (a facade holding unfinished plain tasks is left to its finalizer). Ctrl-C,
    or any exception a signal handler raises (a SIGTERM handler's ``sys.exit``), stops
    waiting (False) and closes them all: running calls end TIMED_OUT. Said in one line:
    raised from here, python would print it as an ignored exception, traceback and all."""
    with _lock:
        facades = list(_tracked) if os.getpid() == _owner else []
        _tracked.clear()
    try:
        for facade in facades:
            facade.finish_calls()
    except BaseException as exc:  # Ctrl-C, or what a signal handler raised (sys.exit)
        with _deaf():
            how = "" if isinstance(exc, KeyboardInterrupt) else f" ({describe(exc)})"
            # On stderr as python started it, should the program have dropped its own
            # (None would send print's words to stdout, the program's output).
            stream = sys.stderr if sys.stderr is not None else sys.__stderr__
            if stream is not None:
                with contextlib.suppress(Exception):  # a stream the program closed
                    print(
                        f"interrupted while waiting for pending executor calls{how}: their "
                        "workers are killed",
                        file=stream,
                    )
            for facade in facades:
                facade.close()
        return False
    return True


@contextlib.contextmanager
def _deaf() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while the facades close (a few milliseconds; the
    process is exiting anyway): only the main thread can change them, and the exit runs
    there."""
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:  # None: a handler set from C, which Python cannot put back
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
