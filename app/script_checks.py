"""What ``python -m app run`` checks before the script starts: that its run can be
recorded where ``--record`` says, and that a window can be shown at all.

Both fail late otherwise, and badly: a path that cannot be written raises from the
script's own ``ProcessPoolExecutor(...)`` line, half-way through it; a ``DISPLAY`` no X
server answers on makes the window's process abort inside Qt, after the script may have
ended, and the user gets neither the window nor the report printed in its stead.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import sys
import tempfile
from pathlib import Path

from app.core.run_folder import is_live
from app.core.run_paths import Target, is_run_file

_LOCAL_DISPLAY = re.compile(r"(?:unix)?:(\d+)(?:\.\d+)?")
_X_SOCKETS = "/tmp/.X11-unix/X{}"


def unrecordable(target: Target) -> str | None:
    """Why the run cannot be recorded to ``target``, or None. A missing folder is fine
    when the nearest one that exists can be written in (the recorder makes the rest)."""
    path = target.path
    folder = path if target.folder else path.parent
    try:
        if not target.folder and _there(path):
            # As the recorder looks: a link is not followed, even to a run.
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return "not a regular file"
            if path.stat().st_size and not is_run_file(path):
                return "exists and is not a run recording: it is left as it is"
            if is_live(path):
                return "another program is recording its run there now: choose another file"
        while not _there(folder) and folder != folder.parent:
            folder = folder.parent
        if not stat.S_ISDIR(os.stat(folder).st_mode):  # a link loop raises here
            return f"{folder} is not a folder"
        # Writing is the only sure test (root, read-only mounts, /proc): a nameless file.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"cannot write in {exc.filename or folder}: {exc.strerror or exc}"
    return None


def _there(path: Path) -> bool:
    """Whether anything is at ``path``, a broken or looping link too (``Path.exists``
    says False for those, and the recorder then fails on them)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing, or a file on the way
        return False
    return True


def screen_problem() -> str | None:
    """Why no window can be shown, by the environment alone, or None (the window's own
    process checks the rest and says what is missing)."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform and platform != "xcb":
        return None
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set"
    if not x_server_answers(display):
        return f"no X server answers on DISPLAY={display}"
    return None


def x_server_answers(display: str) -> bool:
    """Whether something listens on a local display's socket (Linux's abstract name or
    the file); a remote display (``host:0``) is not checked here."""
    local = _LOCAL_DISPLAY.fullmatch(display)
    if local is None:
        return True
    name = _X_SOCKETS.format(local.group(1))
    for address in ("\0" + name, name):
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(2.0)
            probe.connect(address)
            return True
    return False
