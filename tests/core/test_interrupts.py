"""Ctrl-C at the worst instant: just after a lock was taken, before the ``with`` body.

A ``threading.Condition``'s ``__enter__`` is Python code, so a KeyboardInterrupt can land
between its acquire and the ``with`` statement taking charge of the release: the lock
then stays held for ever, and the next log line or facade call waits for ever. These
tests raise the interrupt at exactly that instant, wherever a ``__enter__`` of
``threading`` returns, and check that nothing is left held.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

from app.core import SimpleTask, WorkingProcessFacade, console

_THREADING = threading.__file__


@contextmanager
def interrupt_after_enter() -> Iterator[list[int]]:
    """Raises KeyboardInterrupt as any ``threading`` ``__enter__`` returns, in this thread."""
    raised: list[int] = []

    def trace(frame: FrameType, event: str, _arg: Any) -> Callable[..., Any] | None:
        if frame.f_code.co_filename != _THREADING or frame.f_code.co_name != "__enter__":
            return None
        return local

    def local(frame: FrameType, event: str, _arg: Any) -> Callable[..., Any] | None:
        if event == "return" and not raised:
            raised.append(1)
            raise KeyboardInterrupt
        return local

    sys.settrace(trace)
    try:
        yield raised
    finally:
        sys.settrace(None)


@pytest.mark.timeout(30)
def test_a_ctrl_c_as_a_line_is_posted_leaves_the_console_usable() -> None:
    stream = io.StringIO()
    try:
        with interrupt_after_enter():
            console.write_line(stream, "first")
    except KeyboardInterrupt:
        pass
    console.write_line(stream, "second")
    assert console.drain(10)
    assert "second\n" in stream.getvalue()


@pytest.mark.timeout(60)
def test_a_ctrl_c_inside_a_facade_call_leaves_the_facade_usable() -> None:
    with WorkingProcessFacade() as facade:
        for call in (
            lambda: facade.poll_events(0),
            lambda: facade.process_task(SimpleTask("a", 0.0)),
            lambda: facade.cancel("a"),
        ):
            try:
                with interrupt_after_enter():
                    call()
            except KeyboardInterrupt:
                pass
        task = SimpleTask("b", 0.0)
        assert facade.process_task(task)
        done = facade.collect_tasks(timeout=30)
    assert task in done and task.state.name == "DONE"
