"""The runs folder seen as a whole: which runs it holds, which are still being written,
and keeping it under a size by removing the oldest finished runs.

A run is live while its writer holds the exclusive lock ``run_paths`` takes on the file;
the lock ends with the writer's process, however it ends, so a program killed by SIGKILL
leaves a finished (if incomplete) run, never one that looks live for ever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from app.core.run_paths import SUFFIX, runs_folder

DEFAULT_MAX_BYTES = 500 << 20
"""What the window keeps of its runs, unless the user sets another size."""


@dataclass(frozen=True)
class RunEntry:
    path: Path
    size: int
    modified: float  # seconds since the epoch
    live: bool  # a writer is recording it now


def is_live(path: Path) -> bool:
    """Whether a facade (of any process) is recording to ``path`` now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
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
    regular ``*.jsonl`` files count: a link or a folder of that name is not a run."""
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
        if stat.S_ISREG(info.st_mode):
            entries.append(RunEntry(path, info.st_size, info.st_mtime, is_live(path)))
    entries.sort(key=lambda entry: entry.modified, reverse=True)
    return entries


def prune_runs(max_bytes: int, folder: Path | None = None) -> list[Path]:
    """Removes the oldest finished runs until the folder's runs take ``max_bytes`` or
    less; a live run is never removed, whatever its size. Returns what was removed."""
    entries = list_runs(folder)
    total = sum(entry.size for entry in entries)
    removed = []
    for entry in reversed(entries):  # oldest first
        if total <= max_bytes:
            break
        if entry.live:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(entry.path)
        total -= entry.size
    return removed
