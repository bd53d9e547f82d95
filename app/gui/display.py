"""Checks, before Qt starts, that a window can be shown at all.

Without a display, or with the xcb plugin's system libraries missing, Qt aborts the whole
process from C++, which no Python ``except`` can catch. So look first, and say what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HOW_TO_RUN_HEADLESS = (
    "  - run it on a virtual screen:   xvfb-run python -m app\n"
    "  - or without any screen:        QT_QPA_PLATFORM=offscreen python -m app\n"
    "  - or the terminal version:      python -m app demo"
)


def display_problem() -> str | None:
    """Why the window cannot open here, with what to do about it; None when it can."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform and platform != "xcb":
        return None  # offscreen, wayland, vnc...: the user chose, Qt will say if it fails
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not os.environ.get("DISPLAY"):
        return (
            "No display found (DISPLAY is not set), so the window cannot open.\n"
            f"{HOW_TO_RUN_HEADLESS}"
        )
    missing = missing_xcb_libraries()
    if missing:
        packages = " ".join(_DEBIAN_PACKAGES.get(lib, lib) for lib in missing)
        return (
            "Qt's xcb platform plugin cannot load: these system libraries are missing:\n"
            f"  {', '.join(missing)}\n"
            f"On Debian or Ubuntu:  sudo apt-get install {packages}\n"
            f"{HOW_TO_RUN_HEADLESS}"
        )
    return None


_DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}


def missing_xcb_libraries() -> list[str]:
    """Shared libraries the xcb plugin needs and the system lacks, as ``ldd`` reports."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        import PySide6
    except ImportError:
        return []
    qt = Path(PySide6.__file__).parent / "Qt"
    binaries = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"]
    missing: list[str] = []
    for binary in binaries:
        if not binary.exists():
            continue
        try:
            out = subprocess.run(
                [ldd, str(binary)], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where.strip() == "not found" and name not in missing:
                missing.append(name)
    return missing
