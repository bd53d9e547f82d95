"""Plain words for a worker's death: what happened to each task, and what the standard
library's pools do in the same case (observed on this Python when its cache has a run,
else their documented behaviour: ``stdlib_quotes``). Qt-free: the window shows this
text, and a script may print it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core import TaskChanged, TaskState, WorkerDied
from app.core.events import Event
from app.teaching.stdlib_claims import CANCEL, CRASH, ENDING, INITIALIZER, RECYCLING, TIMEOUT
from app.teaching.stdlib_quotes import same_case

_SIGNALS = {
    "SIGKILL": (
        "SIGKILL (signal 9) ends a process at once: it cannot be caught or ignored, and "
        "nothing in the process runs afterwards. The worker may have sent it to itself, or "
        "an operator, a supervisor or the kernel's out-of-memory killer sent it."
    ),
    "SIGSEGV": (
        "SIGSEGV (signal 11), a segmentation fault: the process touched memory it does not "
        "own, almost always in C code (an extension module, ctypes). Python cannot turn it "
        "into an exception; the kernel ends the process."
    ),
    "SIGTERM": (
        "SIGTERM (signal 15) asks a process to end; Python's default is to end at once, "
        "without running finally blocks."
    ),
    "SIGABRT": "SIGABRT (signal 6): the process aborted itself, usually a failed C assertion.",
}


@dataclass
class Death:
    """One worker's death and what the facade did with the tasks it held."""

    died: WorkerDied
    blamed: list[tuple[str, TaskState, str]] = field(default_factory=list)  # ID, state, error
    requeued: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # Dask runs them again elsewhere
    given_up: list[str] = field(default_factory=list)  # Dask stops: KilledWorker
    lost: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def deaths_in(events: Sequence[Event]) -> list[Death]:
    """The deaths in a batch of facade events, each with the task events that follow it.

    The facade reports a death and the fate of the dead worker's tasks together, in that
    order, so the task events right after a WorkerDied are its consequences.
    """
    deaths: list[Death] = []
    current: Death | None = None
    for event in events:
        if type(event) is WorkerDied:
            current = Death(event)
            deaths.append(current)
        elif type(event) is TaskChanged and current is not None:
            state = event.state
            if state in (TaskState.CRASHED, TaskState.TIMED_OUT):
                current.blamed.append((event.task_id, state, event.message))
            elif state is TaskState.PENDING and event.message.startswith("requeued"):
                current.requeued.append(event.task_id)
            elif state is TaskState.PENDING and "Dask retries it" in event.message:
                current.retried.append(event.task_id)
            elif state is TaskState.PENDING and "Dask gives up" in event.message:
                current.given_up.append(event.task_id)
            elif state is TaskState.PENDING and "Dask computes it again" in event.message:
                current.requeued.append(event.task_id)
            elif state is TaskState.LOST:
                current.lost.append(event.task_id)
            elif state is TaskState.CANCELLED:
                current.cancelled.append(event.task_id)
            else:
                current = None
        else:
            current = None
    return deaths


_KILLED_FOR = {
    "collect": (
        "The parent killed it on purpose: collect_tasks(timeout=...) ran out of time, and a "
        "collect that runs out ends the job at once. The task it was running ends "
        "TIMED_OUT (the job's time was up, not the task's own timeout), the queued ones "
        "CANCELLED."
    ),
    "kill now": (
        "The parent killed it on purpose: Kill now called close() while collect_tasks "
        "waited, which ends the job at once instead of waiting for the work to finish. The "
        "task it was running ends TIMED_OUT (stopped by you, not by a timeout), the queued "
        "ones CANCELLED."
    ),
    "close": (
        "The parent killed it on purpose: close() ended the job while it was still busy "
        "(close() without a collect first, or a facade dropped unfinished). The task it "
        "was running ends TIMED_OUT, the queued ones CANCELLED."
    ),
    "cancel": (
        "The parent killed it on purpose: cancel(task_id, force=True) of the task it was "
        "running. A running call cannot be stopped any other way; the task ends "
        "CANCELLED and a new worker takes the slot."
    ),
    "stop": (
        "The parent killed it: the job had ended and it was asked to leave, but it did not "
        "leave in time (a task may have left a non-daemon thread running)."
    ),
}
"""What each ``WorkerDied.cause`` of a kill means, for a death whose reason is "killed"."""


def exit_meaning(died: WorkerDied) -> str:
    """What the exit says about how the process ended: by whose hand, and why."""
    if died.reason == "timeout":
        return (
            "The parent killed it with SIGKILL: its task ran past its timeout. A hung task "
            "cannot be interrupted from outside any other way, and SIGTERM may be ignored."
        )
    if died.reason == "killed":
        return _KILLED_FOR.get(
            died.cause or "",
            "The parent killed it on purpose: a forced cancel (cancel(id, force=True)), a "
            "collect that ran out of time, Kill now, or close().",
        )
    if died.signal_name:
        return _SIGNALS.get(died.signal_name, f"It was killed by {died.signal_name}.")
    code = died.exitcode
    if code is None:
        return (
            "The cluster has not reported its exit code: the scheduler saw the worker leave "
            "before its nanny said how it ended (the worker panel shows the code once known)."
        )
    if code == 0:
        return (
            "Exit code 0 looks like a clean exit, but it came in the middle of a task "
            "(os._exit(0) or sys.exit(0) outside the task's own code): still a crash."
        )
    if code == 1:
        return (
            "Exit code 1: an exception escaped the worker's own loop, outside the handling "
            "that turns a task's exception into FAILED (a task that merely raises leaves its "
            "worker alive)."
        )
    return f"Exit code {code}: the process called exit({code}), typically os._exit, at once."


def memory_meaning(died: WorkerDied) -> str | None:
    """Whether the kernel's out-of-memory killer is the likely cause, ruled out or
    unknown, on what evidence, with the last memory sample; None when nothing of it is
    known (telemetry off, or a backend that does not tell)."""
    evidence = died.oom_evidence
    if evidence is not None:
        for prefix in ("ruled out: ", "unknown: "):
            evidence = evidence.removeprefix(prefix)
    if died.oom_killed is True:
        text = "The kernel's out-of-memory killer is the likely cause"
    elif died.oom_killed is False:
        text = "Not the kernel's out-of-memory killer"
    elif evidence is not None:
        text = "Whether the kernel's out-of-memory killer sent it cannot be known"
    else:
        text = ""
    if text:
        text += f": {evidence}." if evidence else "."
    if isinstance(died.rss_bytes, int) and 0 <= died.rss_bytes < 2**64:
        sample = f"Its last memory sample: {died.rss_bytes / 1e6:,.1f} MB resident."
        text = f"{text} {sample}" if text else sample
    return text or None


def explain(death: Death, workers_left: bool, restart: bool) -> str:
    """The whole story of one death, for someone learning multiprocessing."""
    d = death.died
    if d.reason == "recycled":
        return _explain_recycling(death)
    if d.reason == "initializer failed":
        return _explain_initializer_failure(death, workers_left)
    if d.reason == "stopped":
        return _explain_stop(death)
    if d.reason == "killed":
        return _explain_kill(death)
    how = d.signal_name or f"exit code {d.exitcode}"
    timed_out = d.reason == "timeout"
    lines = [f"worker-{d.index} (pid {d.pid}) died: {how}.", "", exit_meaning(d), ""]
    memory = memory_meaning(d)
    if memory is not None:
        lines[-1:-1] = ["", memory]
    if death.blamed:
        for task_id, state, error in death.blamed:
            lines.append(f"Blamed: {task_id!r} was running, so it ends {state.name}.")
            if error:
                lines.append(f"  {error}")
        lines.append(
            "It is not retried automatically: a task that kills its worker once may do it "
            "again (resubmit it on purpose if you want)."
        )
    else:
        lines.append("It was not running any task: nothing is blamed.")
    if death.requeued:
        where = "a replacement worker" if restart else "the other workers"
        lines.append(
            f"Moved: {_ids(death.requeued)} had been sent to it but had not started; they go "
            f"back to the queue, for {where}."
        )
    if death.lost:
        lines.append(
            f"Lost: {_ids(death.lost)} never ran and no worker is left to run them "
            "(restart_worker() puts them back in the queue)."
        )
    if death.cancelled:
        lines.append(f"Cancelled: {_ids(death.cancelled)}: the job was ending.")
    if not workers_left and not restart:
        lines.append("No worker is alive: a task sent now returns at once, LOST.")
    lines += ["", *same_case(TIMEOUT if timed_out else CRASH)]
    return "\n".join(lines)


def _explain_stop(death: Death) -> str:
    d = death.died
    return (
        f"worker-{d.index} (pid {d.pid}) stopped: not a crash.\n\n"
        "The run was ending (a collect, or the end of a with block): the parent asked it to "
        f"leave once it had nothing left to run, and it exited cleanly (exit code "
        f"{d.exitcode}). Nothing is blamed, moved or lost."
    )


_KILL_CASES: dict[str, str | None] = {"cancel": CANCEL, "stop": None}
"""What the standard library is compared with for each cause of a kill: a forced
cancel, nothing for a worker that did not leave in time, else the end of a job."""


def _explain_kill(death: Death) -> str:
    """A worker the parent killed on purpose: nothing it did is blamed."""
    d = death.died
    how = d.signal_name or f"exit code {d.exitcode}"
    lines = [f"worker-{d.index} (pid {d.pid}) was killed by the parent: {how}.", ""]
    lines += [exit_meaning(d), ""]
    for task_id, state, error in death.blamed:
        lines.append(f"Stopped: {task_id!r} was running; it ends {state.name}.")
        if error:
            lines.append(f"  {error}")
    if death.cancelled:
        why = "cancelled while it ran" if d.cause == "cancel" else "the job was ending"
        lines.append(f"Cancelled: {_ids(death.cancelled)}: {why}.")
    if not (death.blamed or death.cancelled):
        lines.append("It was not running any task.")
    if death.requeued:
        lines.append(
            f"Moved: {_ids(death.requeued)} had been sent to it but had not started; they go "
            "back to the queue."
        )
    if death.lost:
        lines.append(f"Lost: {_ids(death.lost)}: no worker is left to run them.")
    case = _KILL_CASES.get(d.cause or "", ENDING)
    if case is not None:
        lines += ["", *same_case(case)]
    return "\n".join(lines)


def _explain_recycling(death: Death) -> str:
    d = death.died
    lines = [
        f"worker-{d.index} (pid {d.pid}) was recycled: not a crash.",
        "",
        "It had reached max_tasks_per_child, or its resident memory was above "
        "max_memory_per_child after its last task (the console line says which), so it "
        "finished that task, reported it, and exited cleanly (exit code "
        f"{d.exitcode}). A fresh process takes its place at once, whatever restart says: "
        "memory a task leaked, or a library's state that grows, is given back.",
        "",
        "Nothing is blamed: the task it ran last ended as it ended.",
    ]
    if death.requeued:
        lines.append(
            f"Moved: {_ids(death.requeued)} had been sent to it ahead but had not started; "
            "they go back to the queue, untouched."
        )
    lines += ["", *same_case(RECYCLING)]
    return "\n".join(lines)


def _explain_initializer_failure(death: Death, workers_left: bool) -> str:
    d = death.died
    how = d.signal_name or f"exit code {d.exitcode}"
    lines = [
        f"worker-{d.index} (pid {d.pid}) never ran a task: its initializer failed ({how}).",
        "",
        "initializer(*initargs) runs in each worker before its first task. This one raised "
        "(its traceback is in the console, logged by the worker) or ended the process "
        "inside it. A new worker would run the same initializer and fail the same way, so "
        "this one is not restarted, whatever restart says (restart_worker() tries again "
        "on request, once the cause is fixed).",
        "",
        "Nothing is blamed: no task had started.",
    ]
    if death.requeued:
        lines.append(f"Moved: {_ids(death.requeued)} go back to the queue, for other workers.")
    if death.lost:
        lines.append(
            f"Lost: {_ids(death.lost)}: no worker is left; their error names the initializer."
        )
    if not workers_left:
        lines.append("No worker is alive: a task sent now returns at once, LOST.")
    lines += ["", *same_case(INITIALIZER)]
    return "\n".join(lines)


def _ids(task_ids: list[str], shown: int = 8) -> str:
    names = ", ".join(repr(i) for i in task_ids[:shown])
    more = len(task_ids) - shown
    return names + (f" and {more} more" if more > 0 else "")


DASK_DIFFERENCES = """\
What changes on a Dask cluster:
- Retries on other workers: a task whose worker dies is not blamed at once. The \
scheduler marks it suspicious and runs it on another worker; only after \
allowed-failures + 1 deaths (3 + 1 by default) does it give up with KilledWorker. Every \
task the dead worker was processing counts, so a harmless task queued beside a killer \
can end KilledWorker too.
- Restarts: each worker runs under a nanny process that starts a new worker (same name, \
new pid) as soon as one dies; nothing is ever LOST for want of a worker.
- Serialization: Dask pickles with pickle and falls back to cloudpickle (lambdas and \
closures travel). This facade pickles each task itself first, as the local one does, so \
a task that cannot travel is refused at once, the same on both.
- Where logs go: a task's print() goes to its worker process's stdout (the terminal of \
whoever started the cluster), not to the client. This facade also forwards each line and \
log record to this console; without it you would read them in the workers' logs.
- Cancelling: Dask cannot interrupt a running task; a timed-out task's worker is \
restarted through its nanny."""


def explain_dask(death: Death) -> str:
    """One worker death on a Dask cluster, in Dask's terms."""
    d = death.died
    how = d.signal_name or (f"exit code {d.exitcode}" if d.exitcode is not None else "left")
    lines = [f"worker-{d.index} (pid {d.pid}) died: {how}.", "", exit_meaning(d), ""]
    if death.retried:
        lines.append(
            f"Retried: {_ids(death.retried)}: the scheduler had given it to this worker "
            "(running, or next in line). Dask counts this death against each of them and "
            "runs them on other workers; a task that keeps killing workers ends CRASHED "
            "with KilledWorker, and so may a harmless one that kept it company."
        )
    if death.given_up:
        lines.append(
            f"Given up: {_ids(death.given_up)}: one death past allowed-failures; Dask stops "
            "trying and it ends CRASHED with KilledWorker."
        )
    if death.requeued:
        lines.append(
            f"Recomputed: {_ids(death.requeued)} had finished, but their results lived only "
            "on this worker: Dask runs them again."
        )
    if not (death.retried or death.given_up or death.requeued):
        lines.append("It held none of this facade's tasks.")
    lines += ["Its nanny starts a replacement under the same name.", "", DASK_DIFFERENCES]
    return "\n".join(lines)


def killed_workers_in(events: Sequence[Event]) -> list[TaskChanged]:
    """Tasks a Dask scheduler gave up on: CRASHED with KilledWorker."""
    return [
        e
        for e in events
        if type(e) is TaskChanged and e.state is TaskState.CRASHED and "KilledWorker" in e.message
    ]


def explain_killed_worker(event: TaskChanged) -> str:
    return (
        f"{event.task_id!r} ended CRASHED: {event.message}.\n\n"
        "Dask's scheduler stopped retrying it: every worker that ran it died. That is "
        "Dask's way to blame a task, after several deaths instead of the first one; the "
        "local facade blames the running task at once, since its worker says which task "
        "it was running. Resubmit it to try again."
    )
