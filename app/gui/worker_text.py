"""The words of the worker panel: what a worker does, what it uses, and why it ended.

Qt-free, so each row's text can be checked as strings, and the same words serve the
panel's cells, their tooltips and the console's line of a recorded death.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from app.core.errors import signal_name
from app.core.events import WorkerDied, WorkerInfo, WorkerStats
from app.gui import formatting
from app.teaching.timeline import MARKS


@dataclass(frozen=True)
class Usage:
    """A worker's memory and CPU cells: live, or the last sample of a dead process."""

    memory: str = ""
    cpu: str = ""
    tip: str = ""
    last: bool = False  # a dead process's last sample, shown dimmed


def how_it_ended(death: WorkerDied, exitcode: int | None = None) -> str:
    """The signal or exit code: from the event, else from a later snapshot's ``exitcode``
    (a cluster may tell the code after the death); "" when neither says."""
    if death.exitcode is not None:
        return death.signal_name or f"exit code {death.exitcode}"
    if exitcode is None:
        return ""
    return signal_name(exitcode) or f"exit code {exitcode}"


def reason_of(death: WorkerDied) -> str:
    """Why it ended, one of ``DEATH_REASONS`` ("crashed" for a reason nobody knows)."""
    reason = death.reason
    return reason if isinstance(reason, str) and reason in MARKS else "crashed"


_KILLED_BY = {
    "collect": "collect ran out",
    "kill now": "Kill now",
    "close": "close()",
    "cancel": "forced cancel",
    "stop": "did not leave",
}
"""What a ``WorkerDied.cause`` says of a parent's kill, in two words."""


def killed_words(cause: object) -> str:
    """A kill's ``cause`` in two words ("Kill now"); "" for none or one not known."""
    return _KILLED_BY.get(cause, "") if isinstance(cause, str) else ""


def death_words(death: WorkerDied, exitcode: int | None = None) -> str:
    """Short, for a cell: "recycled", "timeout", "killed: Kill now", "crashed: SIGSEGV",
    "crashed: SIGKILL, likely out of memory"."""
    reason = reason_of(death)
    killed_by = killed_words(death.cause) if reason == "killed" else ""
    if killed_by:
        return f"killed: {killed_by}"
    if reason != "crashed":
        return reason
    how = how_it_ended(death, exitcode)
    words = f"crashed: {how}" if how else "crashed"
    return words + ", likely out of memory" if death.oom_killed is True else words


_ENDED = {
    "timeout": "was killed: its task ran past its timeout",
    "killed": "was killed by the parent",
    "recycled": "was recycled (a clean exit; a new process takes its place)",
    "stopped": "stopped",
    "initializer failed": "died: its initializer failed",
}


def ended_words(death: WorkerDied) -> str:
    """A sentence's end, for the console: "died: SIGSEGV", "was recycled (...)"."""
    reason = reason_of(death)
    if reason == "crashed":
        words = death_words(death)
        return "died" + words.removeprefix("crashed").replace(": ", ": ", 1)
    killed_by = killed_words(death.cause) if reason == "killed" else ""
    if killed_by:
        return f"{_ENDED[reason]} ({killed_by})"
    return _ENDED[reason]


def death_story(death: WorkerDied, exitcode: int | None = None) -> str:
    """Long, for a tooltip: the reason's meaning, the last memory sample, the OOM verdict."""
    how = how_it_ended(death, exitcode)
    lines = [
        f"worker-{death.index} (pid {death.pid}) {death_words(death, exitcode)}"
        + (f" ({how})" if how and reason_of(death) != "crashed" else "")
        + f" at {formatting.clock(death.time)}",
        textwrap.fill(MARKS[reason_of(death)].meaning, 90),
    ]
    return "\n".join(lines + memory_lines(death.rss_bytes, death.oom_killed))


def memory_lines(rss_bytes: int | None, oom_killed: bool | None) -> list[str]:
    """What a death's tooltip says of memory: its last sample, and the OOM verdict."""
    lines = []
    memory = formatting.size(rss_bytes)
    if memory:
        lines.append(f"Its last memory sample: {memory}.")
    if oom_killed is True:
        lines.append("The kernel's out-of-memory killer is the likely cause.")
    elif oom_killed is False:
        lines.append("The kernel's out-of-memory killer is ruled out.")
    return lines


def usage(info: WorkerInfo, sample: WorkerStats | None, death: WorkerDied | None = None) -> Usage:
    """The memory and CPU cells of a slot: the snapshot's figures, else the last
    ``WorkerStats`` of the same process; for a dead one, the last memory it had."""
    pid = death.pid if death is not None and not info.alive else info.pid
    if sample is not None and sample.pid != pid:
        sample = None  # an earlier process of the slot
    if info.alive:
        rss, cpu = info.rss_bytes, info.cpu_percent
        if sample is not None:
            rss = sample.rss_bytes if rss is None else rss
            cpu = sample.cpu_percent if cpu is None else cpu
        memory = formatting.size(rss)
        tip = f"resident memory {memory}, CPU {formatting.percent(cpu) or 'unknown'}"
        return Usage(memory, formatting.percent(cpu), tip if memory else "")
    rss = death.rss_bytes if death is not None else None
    if rss is None and sample is not None:
        rss = sample.rss_bytes
    memory = formatting.size(rss)
    tip = f"{memory}: the last sample before the process ended" if memory else ""
    return Usage(memory, "", tip, last=True)
