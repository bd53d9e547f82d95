"""At the interpreter's exit, calls still pending on an executor that was never shut down
finish first, as ``ProcessPoolExecutor``'s do.

The standard executor joins its workers from ``threading``'s exit hooks, which run before
``atexit`` handlers and before the interpreter tears anything down; a facade's own
finalizer runs later, from ``atexit``, and kills what is left. So a facade that has taken
calls is tracked here (weakly: a facade dropped while the program runs is finalized as
before), and at exit each one waits for the calls whose futures are still unresolved.
A call that never ends holds the exit as it does with the standard executor; Ctrl-C ends
the wait, and the finalizer then kills the workers. A forked child (a worker started
with fork runs these hooks as it ends) finishes nothing: the facades are its parent's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from typing import Protocol


class Finishes(Protocol):
    """A facade as seen from here: it can finish its pending calls."""

    def finish_calls(self) -> None: ...


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
    is left (a facade holding unfinished plain tasks is left to its finalizer). Ctrl-C
    stops waiting (False): the facades' finalizers kill their workers."""
    with _lock:
        facades = list(_tracked) if os.getpid() == _owner else []
        _tracked.clear()
    try:
        for facade in facades:
            facade.finish_calls()
    except KeyboardInterrupt:
        # On stderr as python started it, should the program have dropped its own (None
        # would send print's words to stdout, the program's output).
        stream = sys.stderr if sys.stderr is not None else sys.__stderr__
        if stream is not None:
            with contextlib.suppress(Exception):  # a stream the program closed
                print(
                    "interrupted while waiting for pending executor calls: their workers "
                    "are killed",
                    file=stream,
                )
        return False
    return True
