"""Tasks whose memory and CPU use the telemetry tests know: module level, so spawned
workers import them. Each holds its state until a marker file appears (or a cap runs
out), so a test waits on conditions, never on a guessed duration."""

from __future__ import annotations

import os
import time

from app.core import Task

CAP = 60.0  # seconds any of them holds at most, should a test forget its marker


def _until(marker: str) -> None:
    end = time.monotonic() + CAP
    while not os.path.exists(marker) and time.monotonic() < end:
        time.sleep(0.02)


class HoldMemoryTask(Task):
    """Keeps ``megabytes`` of memory resident (every page written) until ``marker``."""

    def __init__(self, ID: str, megabytes: int, marker: str) -> None:
        super().__init__(ID)
        self.megabytes = megabytes
        self.marker = marker

    def do_task(self) -> int:
        held = b"\x01" * (self.megabytes << 20)  # a memset: every page is resident
        _until(self.marker)
        return len(held)


class GrowTask(Task):
    """Grows by 16 MB at a time, each page written, up to ``megabytes``: killed by the
    OOM killer under a smaller memory limit."""

    def __init__(self, ID: str, megabytes: int) -> None:
        super().__init__(ID)
        self.megabytes = megabytes

    def do_task(self) -> int:
        chunks = [b"\x01" * (16 << 20) for _ in range(self.megabytes // 16)]
        return len(chunks)


class BusyTask(Task):
    """Spins on the CPU until ``marker`` appears; returns its own clock as it went, as
    (wall time, CPU time of the process) pairs, so a test knows what share of a core it
    really had on a machine others load too."""

    def __init__(self, ID: str, marker: str) -> None:
        super().__init__(ID)
        self.marker = marker

    def do_task(self) -> list[tuple[float, float]]:
        end = time.monotonic() + CAP
        clock = [(time.time(), time.process_time())]
        while time.monotonic() < end:
            for _ in range(20_000):
                pass
            clock.append((time.time(), time.process_time()))
            if os.path.exists(self.marker):
                break
        return clock


class IdleTask(Task):
    """Sleeps until ``marker`` appears."""

    def __init__(self, ID: str, marker: str) -> None:
        super().__init__(ID)
        self.marker = marker

    def do_task(self) -> None:
        _until(self.marker)
