"""The runs folder seen as a whole: which runs it holds, which are still being written,
and keeping it under a size by removing the oldest finished runs.

A run is live while its writer holds the exclusive lock ``run_paths`` takes on the file;
the lock ends with the writer's process, however it ends, so a program killed by SIGKILL
leaves a finished (if incomplete) run, never one that looks live for ever.
"""

from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from app.core.run_paths import SUFFIX, begins_a_run, is_run_file, runs_folder

_LOOK = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW  # never waits on a FIFO
DEFAULT_MAX_BYTES = 500 << 20
"""What the window keeps of its runs, unless the user sets another size."""


@dataclass(frozen=True)
class RunEntry:
    path: Path
    size: int
    modified: float  # seconds since the epoch
    live: bool  # a writer is recording it now


def is_live(path: Path) -> bool:
    """Whether a facade (of any process) is recording to ``path`` now (a link is
    followed to its run)."""
    try:
        fd = os.open(os.path.realpath(path), _LOOK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a file system without locks: no run there looks live
        return False
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return False


def list_runs(folder: Path | None = None) -> list[RunEntry]:
    """The run files in ``folder`` (the runs folder by default), newest first. Only
    regular ``*.jsonl`` files that begin with a run header count: a link, a folder or
    the user's own JSON Lines of that name are not runs."""
    folder = runs_folder() if folder is None else folder
    entries = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        path = folder / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(info.st_mode) or not is_run_file(path):
                continue
        except OSError:
            continue
        entries.append(RunEntry(path, info.st_size, info.st_mtime, is_live(path)))
    entries.sort(key=lambda entry: entry.modified, reverse=True)
    return entries


def prune_runs(max_bytes: int, folder: Path | None = None) -> list[Path]:
    """Removes the oldest finished runs until the folder's runs take ``max_bytes`` or
    less. Only run recordings go (a file whose first line is a run header), never a live
    one: each is removed holding its lock, which a writer holds while it records."""
    entries = list_runs(folder)
    total = sum(entry.size for entry in entries)
    removed = []
    for entry in reversed(entries):  # oldest first
        if total <= max_bytes:
            break
        if not entry.live and _remove_finished(entry.path):
            removed.append(entry.path)
            total -= entry.size
    return removed


def _remove_finished(path: Path) -> bool:
    """Removes the run at ``path`` if it is a run that nobody records now."""
    try:
        fd = os.open(path, _LOOK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer holds it while live
        with open(fd, "rb", closefd=False) as file:
            if not begins_a_run(file.read(200)):
                return False  # not a run recording: the user's own file, left alone
        os.unlink(path)
        return True
    except OSError:  # held by a writer, or gone already
        return False
    finally:
        os.close(fd)
