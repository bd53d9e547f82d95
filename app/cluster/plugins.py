"""Plugins that tell the client what Dask itself does not: worker pids and exit codes.

They run inside the scheduler and the nannies (so those must be able to import this
project, as the workers must to run its tasks). Each publishes on one event topic; the
client subscribes before registering them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin, SchedulerPlugin

WORKERS_TOPIC = "worker-monitor-workers"
EXITS_TOPIC = "worker-monitor-exits"


class WorkerMembership(SchedulerPlugin):
    """Publishes each worker that joins or leaves, with its pid and name.

    ``scheduler_info()`` carries neither the pid nor a push of changes; this does both.
    """

    name = "worker-monitor-membership"
    idempotent = True  # one per scheduler, however many facades share it

    def __init__(self) -> None:
        self._known: dict[str, tuple[int | None, Any, Any]] = {}
        self._fates: dict[str, tuple[list[str], list[str], bool]] = {}

    async def start(self, scheduler: Any) -> None:
        self._known = {addr: _identity(ws) for addr, ws in scheduler.workers.items()}

    def log_event(self, topic: str, msg: Any) -> None:
        """The scheduler's own account of a removal, published just before
        ``remove_worker``: which tasks the worker was processing (Dask counts the death
        against each) and which results died with it (Dask computes them again)."""
        if topic == "all" and isinstance(msg, dict) and msg.get("action") == "remove-worker":
            self._fates[msg.get("worker", "")] = (
                [str(k) for k in msg.get("processing-tasks", ())],
                [str(k) for k in msg.get("lost-computed-tasks", ())],
                bool(msg.get("expected")),
            )

    def add_worker(self, scheduler: Any, worker: str) -> None:
        pid, name, slot = self._known[worker] = _identity(scheduler.workers[worker])
        scheduler.log_event(
            WORKERS_TOPIC,
            {"action": "add", "address": worker, "pid": pid, "name": name, "slot": slot},
        )

    def remove_worker(self, scheduler: Any, worker: str, *, stimulus_id: str, **kw: Any) -> None:
        pid, name, slot = self._known.pop(worker, (None, None, None))
        processing, lost, expected = self._fates.pop(worker, ([], [], False))
        scheduler.log_event(
            WORKERS_TOPIC,
            {
                "action": "remove",
                "address": worker,
                "pid": pid,
                "name": name,
                "slot": slot,
                "processing": processing,
                "lost": lost,
                "expected": expected,
            },
        )


def _identity(ws: Any) -> tuple[int | None, Any, Any]:
    """A worker's pid, name, and what stays the same when its nanny restarts it: the
    nanny's address (a worker started without a name is named after its own address,
    which changes), else its name."""
    return ws.pid, ws.name, getattr(ws, "nanny", None) or ws.name


def scheduler_now(
    dask_scheduler: Any,
) -> tuple[dict[str, tuple[int | None, Any, Any]], int | None]:
    """Run on the scheduler: every worker's address, pid, name and slot, right now, and
    how many worker deaths a task may cause before Dask gives up on it."""
    workers = {addr: _identity(ws) for addr, ws in dask_scheduler.workers.items()}
    return workers, getattr(dask_scheduler, "allowed_failures", None)


class ExitCodes(NannyPlugin):
    """Publishes the exit code of each worker process its nanny sees die.

    Dask has no public hook for it: this wraps the nanny's ``WorkerProcess.mark_stopped``,
    which reads the exit code just before it forgets the process. When that internal
    changes, the wrap is skipped and exit codes are simply unknown.
    """

    name = "worker-monitor-exit-codes"
    idempotent = True

    def setup(self, nanny: Any, tries: int = 50) -> None:
        process = getattr(nanny, "process", None)
        if process is None and tries > 0:
            # A nanny that is still starting has no worker process yet: look again soon.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(0.2, self.setup, nanny, tries - 1)
            return
        original = getattr(process, "mark_stopped", None)
        if process is None or original is None or getattr(original, "_wrapped", False):
            return

        def mark_stopped() -> None:
            child = getattr(process, "process", None)
            running = getattr(nanny.status, "name", "") == "running"  # not at shutdown
            with contextlib.suppress(Exception):
                if running and child is not None and child.exitcode is not None:
                    nanny.log_event(
                        EXITS_TOPIC,
                        {"name": nanny.name, "pid": child.pid, "exitcode": child.exitcode},
                    )
            original()

        mark_stopped._wrapped = True  # type: ignore[attr-defined]
        process.mark_stopped = mark_stopped
