"""Resident memory of this process, now and at its peak: what the benchmarks' memory
figures are made of (Linux's /proc first, portable fallbacks elsewhere)."""

from __future__ import annotations

import sys
from pathlib import Path

MB = 1024 * 1024


def _proc_status_bytes(field: str) -> int | None:
    """A ``Vm*`` figure of /proc/self/status (Linux), in bytes."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def _max_rss_bytes() -> int:
    """getrusage's peak RSS, which is kilobytes on Linux but bytes on macOS."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss() -> tuple[int, str]:
    """RSS now: /proc first, psutil where there is no /proc, the peak as a last resort."""
    rss = _proc_status_bytes("VmRSS")
    if rss is not None:
        return rss, "VmRSS"
    try:
        import psutil
    except ImportError:
        return _max_rss_bytes(), "ru_maxrss"
    return int(psutil.Process().memory_info().rss), "psutil"


def reset_peak() -> bool:
    """Linux resets VmHWM to the current RSS on a '5' written to clear_refs: peak from now on."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss() -> tuple[int, str]:
    """Peak RSS so far: VmHWM on Linux, getrusage elsewhere."""
    peak = _proc_status_bytes("VmHWM")
    return (peak, "VmHWM") if peak is not None else (_max_rss_bytes(), "ru_maxrss")
