"""Programs the hardening tests run as processes of their own, where the test needs to do
to a whole program what a user's terminal or system would: leave its output unread, or
SIGKILL it. ``python -m tests.core.hardening_scripts NAME ARGS``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from app.core import CrashTask, SimpleTask, Task, TaskState, WorkingProcessFacade, console
from tests.core.tasks_for_hardening import (
    ChattyTask,
    ChildProcessTask,
    GilHogTask,
    LoggingChattyTask,
)


def _wait(w: WorkingProcessFacade, done: list[Task], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(t.state.is_final for t in done):
        w.poll_events(0.1)


def stuck_terminal(result: str, mode: str) -> None:
    """Floods a terminal nobody reads, then checks that the facade still keeps time."""
    if mode == "console":
        console.install_console()
    w = WorkingProcessFacade()
    tasks = [
        ChattyTask("flood", 60_000),
        SimpleTask("one-second", 1.0),
        CrashTask("hang", "hang", timeout=2.0),
        SimpleTask("after", 0.1),
    ]
    for t in tasks:
        w.process_task(t)
    _wait(w, tasks, 25.0)
    start = time.monotonic()
    w.close()
    report = {
        "states": {t.ID: t.state.name for t in tasks},
        "close_seconds": time.monotonic() - start,
        "dropped": console.dropped_lines(),
    }
    tmp = result + ".tmp"
    Path(tmp).write_text(json.dumps(report))
    os.replace(tmp, result)
    os._exit(0)  # a normal exit would flush the program's own stdout: it is stuck


def stuck_respawn(result: str) -> None:
    """A terminal that does not drain, while a worker must be replaced: starting a process
    flushes stderr, which waits for the terminal for ever."""
    w = WorkingProcessFacade(restart=True)
    tasks = [
        LoggingChattyTask("chatty", 5000),  # through the last-resort handler, to stderr
        SimpleTask("pause", 1.0),
        CrashTask("die", "exit"),
        SimpleTask("after", 0.0),
    ]
    for t in tasks:
        w.process_task(t)
    start = time.monotonic()
    w.collect_tasks(timeout=10)
    report = {
        "states": {t.ID: t.state.name for t in tasks},
        "collect_seconds": time.monotonic() - start,
    }
    tmp = result + ".tmp"
    Path(tmp).write_text(json.dumps(report))
    os.replace(tmp, result)
    os._exit(0)


def parent_to_kill(task: str) -> None:
    """Starts a task, prints the pids that must not outlive this program, then waits to be
    SIGKILLed."""
    w = WorkingProcessFacade()
    pid_file = f"/tmp/hardening-{os.getpid()}.pid"
    if task == "gil-hog":
        t: Task = GilHogTask("hog")
    else:
        t = ChildProcessTask("sleeper", pid_file, ["sleep", "30"], then="wait")
    w.process_task(t)
    end = time.monotonic() + 30
    while t.state is not TaskState.RUNNING and time.monotonic() < end:
        w.poll_events(0.05)
    pids = [info.pid for info in w.worker_info()]
    if task != "gil-hog":
        while not os.path.exists(pid_file) and time.monotonic() < end:
            time.sleep(0.01)
        pids.append(int(Path(pid_file).read_text()))
        os.unlink(pid_file)
    else:
        time.sleep(0.3)  # well inside the long C call
    print(json.dumps(pids), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    scripts = {
        "stuck_terminal": stuck_terminal,
        "stuck_respawn": stuck_respawn,
        "parent_to_kill": parent_to_kill,
    }
    scripts[name](*args)
