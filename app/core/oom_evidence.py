"""Was a dead worker killed by the kernel's out-of-memory killer? Pure functions over the
texts the kernel gives, so that each rule is tested on its own, on any machine.

The OOM killer only ever sends SIGKILL. A SIGKILL the parent did not send is then blamed
on it when the kernel says so (its log, ``/dev/kmsg``: "Killed process PID"), or when
the ``oom_kill`` count of the worker's memory cgroup rose during the worker's life
(cgroup v2 ``memory.events``, cgroup v1 ``memory.oom_control``). Otherwise, a kernel log
read without a gap over the worker's whole life that names no such kill rules it out;
short of that, an unexplained SIGKILL stays unknown. Every verdict comes with its evidence in
words, for the crash explainer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.errors import signal_name

SIGKILL_EXIT = -9  # how multiprocessing reports a death by SIGKILL
INIT_PID_NAMESPACE = "pid:[4026531836]"
"""``/proc/self/ns/pid`` in the first pid namespace (the kernel's PROC_PID_INIT_INO):
only there are the pids of the kernel's log the pids this process sees."""

_KILLED = re.compile(r"Killed process (\d+)\b")
_COUNT = re.compile(r"^oom_kill (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CgroupFile:
    """Where a process's memory cgroup counts its OOM kills."""

    version: int  # 1 or 2
    path: str  # memory.oom_control (v1) or memory.events (v2)


def memory_cgroup(proc_cgroup: str, mountinfo: str) -> CgroupFile | None:
    """The OOM counter file of a process, from its ``/proc/PID/cgroup`` and the
    ``/proc/self/mountinfo`` of the reader; None when no memory cgroup is mounted.

    A v1 ``memory`` hierarchy wins over the v2 one: on a hybrid system the memory
    controller is in v1, and the v2 tree then counts nothing.
    """
    v1 = v2 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if "memory" in controllers.split(","):
            v1 = path
        elif parts[0] == "0" and controllers == "":
            v2 = path
    mounts = cgroup_mounts(mountinfo)
    if v1 is not None and "v1" in mounts:
        root, mount = mounts["v1"]
        return CgroupFile(1, _join(mount, _relative(v1, root), "memory.oom_control"))
    if v2 is not None and "v2" in mounts:
        root, mount = mounts["v2"]
        return CgroupFile(2, _join(mount, _relative(v2, root), "memory.events"))
    return None


def cgroup_mounts(mountinfo: str) -> dict[str, tuple[str, str]]:
    """``{"v1": (root, mount point)}`` for the v1 memory hierarchy, ``"v2"`` for cgroup2."""
    found: dict[str, tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 1:
            continue
        root, mount, fstype = fields[3], _unescaped(fields[4]), tail[0]
        if fstype == "cgroup2":
            found.setdefault("v2", (root, mount))
        elif fstype == "cgroup" and len(tail) >= 3 and "memory" in tail[2].split(","):
            found.setdefault("v1", (root, mount))
    return found


def _unescaped(path: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as an octal escape."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _relative(path: str, root: str) -> str:
    if root != "/" and (path == root or path.startswith(root + "/")):
        return path[len(root) :]
    return path


def _join(mount: str, path: str, name: str) -> str:
    inside = path.strip("/")
    return f"{mount.rstrip('/')}/{inside}/{name}" if inside else f"{mount.rstrip('/')}/{name}"


def oom_kill_count(text: str) -> int | None:
    """The ``oom_kill N`` line of a ``memory.events`` or ``memory.oom_control`` file."""
    match = _COUNT.search(text)
    return int(match.group(1)) if match else None


def kmsg_record(record: str) -> tuple[int, str] | None:
    """A ``/dev/kmsg`` record (``"6,1171,13567707460,-;message"``, then continuation
    lines) as (microseconds since boot, message); None if it is not one."""
    prefix, sep, rest = record.partition(";")
    fields = prefix.split(",")
    if not sep or len(fields) < 3 or not fields[2].isdigit():
        return None
    return int(fields[2]), rest.split("\n", 1)[0]


def killed_pid(message: str) -> int | None:
    """The pid an OOM-kill message of the kernel names ("Out of memory: Killed process
    1234 (python) ..." or "Memory cgroup out of memory: Killed process 1234 ..."), or
    None for any other message."""
    match = _KILLED.search(message)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class Clues:
    """What is known about one worker's death, gathered by whoever could read it."""

    exitcode: int | None
    parent_kill: str | None = None  # why the parent killed it, when it did
    count_before: int | None = None  # its cgroup's oom_kill count early in its life
    count_after: int | None = None  # the same count, read after its death
    counter: str | None = None  # the file those counts come from
    kernel_line: str | None = None  # the kernel's log line of its OOM kill, if any
    kernel_log_whole: bool = False  # the kernel's log was read without a gap over its life


def verdict(clues: Clues) -> tuple[bool | None, str]:
    """``(oom_killed, evidence)``: True when the OOM killer is the likely cause, False
    when it is ruled out, None when it cannot be known; the evidence in one sentence."""
    code = clues.exitcode
    if code != SIGKILL_EXIT:
        how = "an unknown exit code" if code is None else _ended(code)
        return False, f"ruled out: it ended with {how}, and the OOM killer only sends SIGKILL"
    if clues.parent_kill is not None:
        return False, f"ruled out: the parent sent the SIGKILL ({clues.parent_kill})"
    if clues.kernel_line is not None:
        return True, f"the kernel's log says: {clues.kernel_line.strip()}"
    rose = (
        clues.count_before is not None
        and clues.count_after is not None
        and clues.count_after > clues.count_before
    )
    count = (
        f"the oom_kill count of its memory cgroup ({clues.counter}) went from "
        f"{clues.count_before} to {clues.count_after} during its life"
    )
    if rose:
        # The kernel counts the kill before it sends the signal, and logs it just after:
        # a log that does not name the worker yet does not outweigh the count.
        evidence = f"a SIGKILL the parent did not send, and {count}"
        if clues.kernel_log_whole:
            evidence += (
                " (the kernel's log does not name it: another process of that cgroup may "
                "have been the one killed)"
            )
        return True, evidence
    if clues.kernel_log_whole:
        return False, (
            "ruled out: a SIGKILL the parent did not send, but the kernel's log, read over "
            "its whole life, names no OOM kill of it"
        )
    if clues.count_after is not None and clues.count_before is not None:
        return None, (
            "unknown: a SIGKILL the parent did not send (another process, or a user); "
            f"the oom_kill count of its memory cgroup ({clues.counter}) stayed at "
            f"{clues.count_after}, and the kernel's log could not be read"
        )
    return None, (
        "unknown: a SIGKILL the parent did not send, and neither its memory cgroup's "
        "oom_kill count nor the kernel's log could be read"
    )


def _ended(code: int) -> str:
    name = signal_name(code)
    return name if name is not None else f"exit code {code}"
