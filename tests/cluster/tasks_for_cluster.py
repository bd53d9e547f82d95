"""Tasks only the cluster tests need; importable by Dask workers, never Qt."""

from __future__ import annotations

import time

from app.core import Task


class PrintTask(Task):
    """Prints ``text`` in the worker."""

    def __init__(self, ID: str, text: str) -> None:
        super().__init__(ID)
        self.text = text

    def do_task(self) -> str:
        print(self.text)
        return "printed"


class SleepTask(Task):
    """Sleeps ``seconds``, in slices (so a worker restart ends it promptly)."""

    def __init__(self, ID: str, seconds: float, **kwargs: object) -> None:
        super().__init__(ID, **kwargs)  # type: ignore[arg-type]
        self.seconds = seconds

    def do_task(self) -> float:
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            time.sleep(0.05)
        return self.seconds
