"""``ProcessPoolFacade``: the facade behind ``ProcessPoolExecutor``'s own constructor.

``python -m app run`` puts it in place of ``concurrent.futures.ProcessPoolExecutor`` for
a script's lifetime, so a program written against the standard executor runs on the
facade without a line changed; it may also be used by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from app.core.facade import WorkingProcessFacade
from app.core.room import check_room, worker_room
from app.core.run_paths import RecordChoice


class ProcessPoolFacade(WorkingProcessFacade):
    """A ``WorkingProcessFacade`` built from ``ProcessPoolExecutor``'s arguments.

    ``max_workers`` defaults to ``os.cpu_count()``; ``mp_context`` gives the start method
    (None: spawn, which the facade always uses unless told otherwise, where the standard
    executor forks on Linux before Python 3.14). Dead workers are always replaced
    (``restart=True``): one crashed call fails only its own future.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        mp_context: Any = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: int | None = None,
        record: RecordChoice = None,
    ) -> None:
        if max_workers is None:  # a machine's every core, as far as this process can hold
            max_workers = min(os.cpu_count() or 1, worker_room())
        elif isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an integer or None, not {max_workers!r}")
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        else:
            check_room(max_workers, "max_workers")
        start_method = "spawn" if mp_context is None else _start_method_of(mp_context)
        if max_tasks_per_child is not None and start_method == "fork":
            raise ValueError(
                "max_tasks_per_child is incompatible with the 'fork' multiprocessing start "
                "method; supply a different mp_context."
            )
        if initializer is None:
            initargs = ()  # never looked at then, whatever it is, as by the standard executor
        super().__init__(
            max_workers,
            start_method=start_method,
            restart=True,
            initializer=initializer,
            initargs=initargs,
            max_tasks_per_child=max_tasks_per_child,
            record=record,
        )


def _start_method_of(mp_context: Any) -> str:
    """The start method of a ``multiprocessing`` context (or a start method's name)."""
    if isinstance(mp_context, str):
        return mp_context
    get = getattr(mp_context, "get_start_method", None)
    if get is None:
        raise TypeError(f"mp_context must be a multiprocessing context or None, not {mp_context!r}")
    method = get(allow_none=False)
    if not isinstance(method, str):
        raise TypeError(f"mp_context gave no start method: {method!r}")
    return method
