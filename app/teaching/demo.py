"""``python -m app demo``: the original scenario in a terminal, narrated on the shared console.

Two tasks, a task that kills the worker, a task sent after the death, then three calls
to ``collect_tasks``: every task comes back with its exact fate.
"""

from __future__ import annotations

import logging
import os
import time

from app.core import SimpleTask, Task, TaskChanged, TaskState, WorkerDied, WorkingProcessFacade
from app.core.console import install_console

log = logging.getLogger("app.demo")


class ChattyTask(Task):
    """Logs and prints from the worker, to show one console shared by every process."""

    def do_task(self) -> str:
        logging.getLogger("app.demo.worker").info("hello from the worker, pid %d", os.getpid())
        print(f"a line printed by task {self.ID!r} in the worker")
        return "chatted"


def _narrate(facade: WorkingProcessFacade, until: float) -> None:
    """Logs what the facade reports, as it happens, until nothing is left running."""
    while time.monotonic() < until:
        for event in facade.poll_events(0.1):
            if isinstance(event, TaskChanged) and (
                event.progress is None or event.state is not TaskState.RUNNING
            ):
                extra = f" ({event.message})" if event.message else ""
                log.info("task %-6s -> %s%s", event.task_id, event.state.name, extra)
            elif isinstance(event, WorkerDied):
                log.info("worker-%d died (exit code %s)", event.index, event.exitcode)
        if not any(t.state in (TaskState.PENDING, TaskState.RUNNING) for t in facade.tasks):
            return


def main() -> int:
    install_console(logging.INFO)
    log.info("spawning one worker; sending 'one' (1.0 s), 'two' (0.5 s), a chatty task,")
    log.info("then 'crash', which kills its worker, and 'three' queued behind it")
    facade = WorkingProcessFacade()
    for task in (
        SimpleTask("one", 1.0),
        SimpleTask("two", 0.5),
        ChattyTask("chatty"),
        SimpleTask("crash", 0.0),
        SimpleTask("three", 0.5),
    ):
        facade.process_task(task)
    _narrate(facade, time.monotonic() + 30)

    late = SimpleTask("late", 0.1)
    started = time.perf_counter()
    accepted = facade.process_task(late)
    log.info(
        "sending 'late' after the death returned %s in %.0f µs: %s (%s)",
        accepted,
        (time.perf_counter() - started) * 1e6,
        late.state.name,
        late.error,
    )

    for attempt in (1, 2, 3):
        started = time.perf_counter()
        tasks = facade.collect_tasks()
        log.info("collect_tasks() #%d took %.3f s", attempt, time.perf_counter() - started)
    for collected in tasks:
        result = collected.result or collected.error or ""
        log.info("  %-6s %-8s %s", collected.ID, collected.state.name, result)

    refused = SimpleTask("after", 0.1)
    facade.process_task(refused)
    log.info("sending after collect: %s (%s)", refused.state.name, refused.error)
    return 0
