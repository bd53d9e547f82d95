"""A program that records its run, for the tests that follow or kill it from outside.

``python -m tests.core.recording_program PATH COUNT``: runs COUNT short tasks one after
another (0: until it is killed), recording to PATH, then collects.
"""

from __future__ import annotations

import sys
from itertools import count

from app.core import SimpleTask, WorkingProcessFacade


def main(path: str, how_many: int) -> int:
    with WorkingProcessFacade(record=path) as w:
        numbers = count() if how_many == 0 else range(how_many)
        for n in numbers:
            task = SimpleTask(f"task-{n}", 0.05)
            w.process_task(task)
            while not task.state.is_final:
                w.poll_events(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
