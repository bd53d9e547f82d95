"""``Executor.map`` for the facades: the standard one's results in order, with
``chunksize`` checked as ``ProcessPoolExecutor`` checks it, and Python 3.14's
``buffersize``: at most that many calls in flight, the iterables read only as results
are taken, so an endless generator works."""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from app.core.timeouts import is_seconds, limit


def mapped(
    submit: Callable[..., Future[Any]],
    fn: Callable[..., Any],
    iterables: tuple[Iterable[Any], ...],
    timeout: float | None,
    chunksize: int,
    buffersize: int | None,
) -> Iterator[Any]:
    """Submits ``fn`` over the zipped ``iterables`` (all now, or ``buffersize`` ahead)
    and returns an iterator of the results in order. Closing the iterator (or dropping it)
    after its first result cancels the calls that have not started; one never started
    cancels nothing, as with the standard executor's."""
    if isinstance(chunksize, bool) or not isinstance(chunksize, int):
        raise TypeError(f"chunksize must be an integer, not {chunksize!r}")
    if chunksize < 1:
        raise ValueError("chunksize must be >= 1.")
    if buffersize is not None:
        if isinstance(buffersize, bool) or not isinstance(buffersize, int):
            raise TypeError(f"buffersize must be an integer or None, not {buffersize!r}")
        if buffersize < 1:
            raise ValueError("buffersize must be None or > 0.")
    if timeout is not None and not is_seconds(timeout, zero=True):
        raise ValueError(f"timeout must be >= 0 seconds, inf or None, not {timeout!r}")
    seconds = limit(timeout)
    until = None if seconds is None else time.monotonic() + seconds
    calls = zip(*iterables, strict=False)
    ahead = calls if buffersize is None else itertools.islice(calls, buffersize)
    futures = deque(submit(fn, *args) for args in ahead)
    return _results(submit, fn, futures, calls if buffersize is not None else None, until)


def _results(
    submit: Callable[..., Future[Any]],
    fn: Callable[..., Any],
    futures: deque[Future[Any]],
    more: Iterator[tuple[Any, ...]] | None,
    until: float | None,
) -> Iterator[Any]:
    try:
        while futures:
            if more is not None:  # one taken, one more in flight: the buffer stays full
                args = next(more, None)
                if args is not None:
                    futures.append(submit(fn, *args))
            # No name holds the future across the yield: once its result is taken, the
            # result is the caller's alone (CPython #14406).
            yield _result(futures.popleft(), until)
    finally:
        for future in futures:
            future.cancel()


def _result(future: Future[Any], until: float | None) -> Any:
    """The future's result, waiting until ``until`` (monotonic) at most."""
    if until is None:
        return future.result()
    return future.result(max(0.0, until - time.monotonic()))
