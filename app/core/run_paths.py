"""Where a run is recorded: what ``record=`` and the environment ask for, the runs
folder, and a run file opened safely (``0600``, in a ``0700`` folder when it makes one).

Every problem with the path is found here, on the caller's thread, while the facade is
being built: a run that cannot be recorded says so at once instead of failing later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from typing import NamedTuple

RECORD_ENV = "WORKER_MONITOR_RECORD"
"""``1`` records to the runs folder, a path to that file or folder; unset, empty or ``0``
means no recording. Read only when ``record=None`` (the default)."""
RUNS_ENV = "WORKER_MONITOR_RUNS"
"""The runs folder, when set; else ``$XDG_STATE_HOME/worker-monitor/runs`` or
``~/.local/state/worker-monitor/runs``."""
SUFFIX = ".jsonl"
FORMAT = "worker-monitor-run"
"""The header's ``format``: what tells a run file from any other JSON Lines file."""

RecordChoice = str | os.PathLike[str] | bool | None
_CLAIM_TRIES = 20  # 100 ms in all before a held file is another facade's


def runs_folder() -> Path:
    """The folder ``record=True`` and ``WORKER_MONITOR_RECORD=1`` record into."""
    given = os.environ.get(RUNS_ENV)
    if given:
        return Path(given).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "worker-monitor" / "runs"


class Target(NamedTuple):
    """Where ``record=`` asks to record: a file, or a folder for a new file in it."""

    path: Path
    folder: bool


def chosen_path(record: RecordChoice) -> Target | None:
    """What ``record`` asks for, the environment's when None; None: no recording.

    A path names a folder when it is one already or ends with a separator, else a file.
    """
    if record is None:
        value = os.environ.get(RECORD_ENV, "").strip()
        if value in ("", "0"):
            return None
        return Target(runs_folder(), True) if value == "1" else _given(value)
    if record is True:
        return Target(runs_folder(), True)
    if record is False:
        return None
    if isinstance(record, str | os.PathLike):
        return _given(record)
    raise TypeError(f"record must be a path, True, False or None, not {type(record).__name__}")


def _given(given: str | os.PathLike[str]) -> Target:
    text = os.fspath(given)
    if not text:
        raise ValueError("record must name a file or folder, not an empty path")
    path = Path(text).expanduser()
    return Target(path, text.endswith(os.sep) or path.is_dir())


def open_run_file(target: Target) -> tuple[int, Path]:
    """Opens the run file for ``target`` for writing: the file it names, or a new file in
    the folder it names (made ``0700`` when missing, its missing parents too).

    Returns the descriptor and the file's path. Raises ``OSError`` with a message that
    names the path and the problem: a folder that cannot be made, a file that cannot be
    written, or an existing file that is not a run recording (never overwritten).
    """
    path = target.path
    try:
        if target.folder:
            _make_folder(path)
            return _new_file_in(path)
        _make_folder(path.parent)
        return _replace_file(path), path
    except OSError as exc:
        if str(path) in str(exc):
            raise
        reason = exc.strerror or str(exc)
        raise OSError(exc.errno, f"cannot record the run to {str(path)!r}: {reason}") from exc


def _make_folder(folder: Path) -> None:
    """Makes a missing folder ``0700``, its missing parents too; an existing one stays as it is."""
    if folder.is_dir():
        return
    missing = []
    parent = folder
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # the umask may have taken more


def _new_file_in(folder: Path) -> tuple[int, Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for n in range(1, 1000):
        extra = "" if n == 1 else f"-{n}"
        path = folder / f"run-{stamp}-{os.getpid()}{extra}{SUFFIX}"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        _claim(fd, path)
        return fd, path
    raise OSError(errno.EEXIST, f"no free run file name in {str(folder)!r}")


def _replace_file(path: Path) -> int:
    """Creates ``path``, or empties it when it is an empty file or an earlier run."""
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        _claim(fd, path)
        os.set_blocking(fd, True)
        return fd
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(
            errno.EINVAL, f"{str(path)!r} is not a regular file: no run is recorded there"
        )
    if info.st_size and not is_run_file(path):
        raise OSError(
            errno.EEXIST,
            f"{str(path)!r} exists and is not a run recording: it is left as it is",
        )
    fd = os.open(path, flags)
    _claim(fd, path)
    try:
        os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _claim(fd: int, path: Path) -> None:
    """Holds the file for this run until its descriptor is closed, so that a second
    facade (of any process) asking for it is refused (closing ``fd``) instead of emptying
    a run in progress, and makes it ``0600`` whatever the umask took. A file system that
    supports neither (some network and FUSE ones) is recorded to without them."""
    for attempt in range(_CLAIM_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt + 1 < _CLAIM_TRIES:
                time.sleep(0.005)  # a reader's brief shared lock (is_live) is let go
                continue
            os.close(fd)
            raise OSError(
                errno.EBUSY,
                f"{str(path)!r} is being recorded by another facade: choose another file",
            ) from None
        except OSError:
            break
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)


def is_run_file(path: Path) -> bool:
    """Whether the file at ``path`` begins with a run header (``OSError`` if it cannot be
    opened; opened without waiting on a FIFO or following a link)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    with open(fd, "rb") as file:
        return begins_a_run(file.read(200))


def begins_a_run(start: bytes) -> bool:
    """Whether a file's first bytes are a run header's."""
    return f'"format":"{FORMAT}"'.encode() in start.replace(b" ", b"")
