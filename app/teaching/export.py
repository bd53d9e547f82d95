"""Export of a run's tasks: CSV and JSON with every column, written atomically.

Qt-free, so a script can export what ``collect_tasks`` returned as well as the window.
A file is written next to its destination, flushed to disk, then renamed over it: a
crash mid-write leaves the old file or none, never half of one.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.task import Task

FIELDS = (
    "ID",
    "state",
    "worker_pid",
    "exitcode",
    "attempts",
    "timeout",
    "submitted_at",
    "started_at",
    "finished_at",
    "duration",
    "progress",
    "result",
    "error",
    "traceback",
)


def task_record(task: Task) -> dict[str, Any]:
    """One task as plain values, JSON-ready (a result JSON cannot hold becomes its repr)."""
    duration = None
    if task.started_at is not None and task.finished_at is not None:
        duration = round(task.finished_at - task.started_at, 6)
    return {
        "ID": task.ID,
        "state": task.state.name,
        "worker_pid": task.worker_pid,
        "exitcode": task.exitcode,
        "attempts": task.attempts,
        "timeout": task.timeout,
        "submitted_at": task.submitted_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "duration": duration,
        "progress": task.progress,
        "result": _plain(task.result),
        "error": task.error,
        "traceback": task.traceback,
    }


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def to_csv(tasks: Iterable[Task]) -> str:
    """Every column; empty cells for None; newlines inside cells quoted, as CSV allows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for task in tasks:
        record = task_record(task)
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def to_json(tasks: Iterable[Task]) -> str:
    return json.dumps([task_record(t) for t in tasks], ensure_ascii=False, indent=1) + "\n"


def rows_as_text(tasks: Iterable[Task]) -> str:
    """Tab-separated lines for the clipboard: ID, state, worker, result or error."""
    lines = []
    for task in tasks:
        outcome = task.error if task.error else ("" if task.result is None else str(task.result))
        cells = (task.ID, task.state.name, str(task.worker_pid or ""), outcome)
        lines.append("\t".join(" ".join(cell.split()) for cell in cells))
    return "\n".join(lines)


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` (UTF-8) so that ``path`` is either the old file or the whole new one;
    a ``path`` that is there and is no regular file is refused.

    The new file gets the mode a plain ``open(path, "w")`` would give it: the old file's,
    or 0o666 less the umask (and the folder's default ACL) for a new one. An error names
    the folder or the file the user chose, never the temporary file.
    """
    target = Path(path)
    try:
        status: os.stat_result | None = os.stat(target)
    except OSError:
        status = None  # none yet (or unreadable: os.replace will say why)
    if status is not None and not stat.S_ISREG(status.st_mode):
        # Moving a file over a device, FIFO or folder would destroy it (/dev/null, for root).
        code = errno.EISDIR if stat.S_ISDIR(status.st_mode) else errno.EINVAL
        raise OSError(code, "not a regular file: nothing is written there", str(target))
    old_mode = None if status is None else stat.S_IMODE(status.st_mode)
    try:
        fd, temp = _create_beside(target)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target.parent)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            if old_mode is not None:
                os.fchmod(handle.fileno(), old_mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(target)) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new, empty hidden file in ``target``'s folder, opened for writing.

    Created by ``os.open`` with mode 0o666, so the kernel applies the umask and any default
    ACL exactly as for ``open()``; ``tempfile.mkstemp`` would force 0o600.
    """
    stem = target.name if len(os.fsencode(target.name)) <= 200 else "export"  # NAME_MAX
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = target.parent / f".{stem}.{secrets.token_hex(4)}"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target.parent))


def export(tasks: Iterable[Task], path: str | os.PathLike[str]) -> None:
    """CSV or JSON, by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        write_atomically(path, to_json(tasks))
    elif suffix == ".csv":
        write_atomically(path, to_csv(tasks))
    else:
        raise ValueError(f"export to .csv or .json, not {suffix or 'a file without suffix'!r}")
