"""What every benchmark shares: the no-op task, and waits on a facade that always read its
events (never a fixed sleep) and turn a facade that stopped answering into an error.

The no-op task and function live here, at module level of a module that is never run as
``__main__``, so spawned workers unpickle them under their real names.
"""

from __future__ import annotations

import operator
import sys
import time
from collections.abc import Sequence
from typing import Any

from app.core import EventsDropped, Task, TaskChanged, TaskState, WorkerDied
from app.core.front import FacadeFront

POLL = 0.05  # the poll_events wait a GUI poller would use
DRAIN_EVERY = 1_000  # submits between two reads of the events, when the caller reads them
BAD_FATES = frozenset(TaskState) - {
    TaskState.NEW,
    TaskState.PENDING,
    TaskState.RUNNING,
    TaskState.DONE,
}


_COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def met(op: str, threshold: float, value: float) -> bool:
    """Whether ``value`` meets a target that reads ``value OP threshold``."""
    return bool(_COMPARE[op](value, threshold))


def targets_met(
    report: dict[str, Any], targets: dict[str, tuple[str, float, str]]
) -> dict[str, bool]:
    """For each target ``key: (op, threshold, label)``, whether ``report[key]`` meets it."""
    return {key: met(op, limit, report[key]) for key, (op, limit, _label) in targets.items()}


class BenchError(RuntimeError):
    """A measurement could not be made (something hung, refused or ended in the wrong state)."""


class NoopTask(Task):
    """The cheapest possible task, so that what is left to time is the facade's own cost."""

    def do_task(self) -> None:
        return None


def noop(i: int) -> None:
    """The baselines' task: module level, because spawn pickles functions by reference."""


def say(message: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays one clean object."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def check_deadline(deadline: float, what: str) -> None:
    """Turn a facade that stopped answering into an error instead of a hung benchmark."""
    if time.monotonic() > deadline:
        raise BenchError(f"timed out: {what}")


def wait_ready(facade: FacadeFront, deadline: float) -> None:
    """Wait until every worker is up and ready, so spawn time stays out of the figures."""
    while not all(w.alive and w.ready for w in facade.worker_info()):
        check_deadline(deadline, f"worker never became ready: {facade.worker_info()!r}")
        facade.poll_events(POLL)


class DoneCounter:
    """Counts DONE tasks from the event stream; any other final fate is an error.

    Once ``EventsDropped`` shows that events were lost (more were submitted than the
    facade keeps unpolled), it counts the tasks' own states instead.
    """

    def __init__(self) -> None:
        self.done = 0
        self.by_state = False

    def feed(self, facade: FacadeFront, events: Sequence[Any]) -> int:
        """Takes one batch of ``facade``'s events; the DONE count so far."""
        if self.by_state or (events and isinstance(events[0], EventsDropped)):
            self.by_state = True
            tasks = facade.tasks
            bad = [t for t in tasks if t.state in BAD_FATES]
            if bad:
                raise BenchError(f"no-op task ended {bad[0].state.name}: {bad[0]!r}")
            self.done = sum(t.state is TaskState.DONE for t in tasks)
            return self.done
        for event in events:
            if isinstance(event, TaskChanged):
                if event.state is TaskState.DONE:
                    self.done += 1
                elif event.state in BAD_FATES:
                    raise BenchError(f"no-op task ended {event.state.name}: {event!r}")
        return self.done


def wait_done(
    facade: FacadeFront, expected: int, deadline: float, counter: DoneCounter | None = None
) -> None:
    """Consume the event stream until ``expected`` tasks reached DONE (counted on from
    ``counter`` when the caller already read some events)."""
    counter = counter or DoneCounter()
    while counter.done < expected:
        counter.feed(facade, facade.poll_events(POLL))
        check_deadline(deadline, f"only {counter.done} of {expected} tasks reported DONE")


def wait_died(facade: FacadeFront, pid: int, deadline: float) -> list[Any]:
    """Poll until the WorkerDied event for ``pid`` arrives; return every event seen meanwhile."""
    seen: list[Any] = []
    while not any(isinstance(e, WorkerDied) and e.pid == pid for e in seen):
        check_deadline(deadline, f"no WorkerDied event for killed worker pid {pid}")
        seen.extend(facade.poll_events(POLL))
    return seen


def check_collected(tasks: list[Task], expected: int) -> None:
    """A benchmark of a facade that loses tasks would be meaningless: make sure none were."""
    done = sum(1 for t in tasks if t.state is TaskState.DONE)
    if len(tasks) != expected or done != expected:
        raise BenchError(f"collect_tasks returned {len(tasks)} tasks, {done} DONE; {expected=}")


def submit_all(
    facade: FacadeFront, tasks: Sequence[Task], counter: DoneCounter | None = None
) -> None:
    """Submit every task; a refusal means the figure would be wrong, so it is an error.

    With ``counter``, events are read every ``DRAIN_EVERY`` submits, as a program with a
    poller would, so that none are dropped and the waits after it count events.
    """
    submit = facade.process_task
    for i, task in enumerate(tasks, 1):
        if not submit(task):
            raise BenchError(f"process_task refused {task.ID}: {task.state.name}, {task.error}")
        if counter is not None and i % DRAIN_EVERY == 0:
            counter.feed(facade, facade.poll_events(0.0))
