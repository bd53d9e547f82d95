"""Worker telemetry: each live worker's resident memory and CPU use, sampled twice a
second on a thread of its own, and the evidence of an out-of-memory kill.

Why psutil: one sample of a worker costs about 35 µs with psutil (``memory_info`` and
``cpu_times``) against 9 µs reading ``/proc/PID/stat`` by hand, measured on a 2-core
Linux machine; at two samples a second that is 0.007 % of a core per worker either way,
so the difference is not worth a Linux-only parser, while psutil works unchanged on
Windows and macOS, where the facade is headed. The OOM evidence (cgroup counters, the
kernel's log) is Linux's own, read from files, and simply absent elsewhere.

Nothing here runs under the engine's lock: the sampler asks its owner for the live
workers (a short lock hold), reads the operating system with no lock held, and hands the
samples back (another short hold). It holds no reference to the facade, only to the
engine, as the I/O thread does, and it ends with the I/O thread. A worker that dies
between the listing and the reading is skipped without a word.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from app.core import console
from app.core.handle import WorkerHandle
from app.core.oom_evidence import (
    INIT_PID_NAMESPACE,
    SIGKILL_EXIT,
    CgroupFile,
    Clues,
    killed_pid,
    kmsg_record,
    memory_cgroup,
    oom_kill_count,
    verdict,
)

log = console.DeferredLogger("app.core")

INTERVAL = 0.5
"""Seconds between two samples of a worker: each sample is a ``WorkerStats`` event."""

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_KMSG = "/dev/kmsg"
_KMSG_RECORD = 8192  # a read of /dev/kmsg returns one record, at most this long
_KMSG_KEPT = 1024  # OOM-kill records kept, newest last


class TelemetryOwner(Protocol):
    """What the sampler asks of its engine (each call takes the engine's lock itself)."""

    def sampled_workers(self) -> list[WorkerHandle]:
        """The workers to sample now: the live ones."""

    def take_samples(self, samples: list[Sample]) -> None:
        """Keeps the samples of the workers still alive, and reports them as events."""


@dataclass(frozen=True, slots=True)
class Sample:
    handle: WorkerHandle
    rss_bytes: int
    cpu_percent: float
    time: float


@dataclass(slots=True)
class _Gauge:
    """One worker as the sampler knows it."""

    process: Any  # psutil.Process, made at the first sample
    cpu_seconds: float  # at the last sample (0 at the spawn)
    moment: float  # monotonic time of the last sample (the spawn's, before the first)
    cgroup_text: str = ""  # its /proc/PID/cgroup when its counter was last read
    counter: CgroupFile | None = None  # where its memory cgroup counts OOM kills
    count_before: int | None = None  # that count when the worker joined the cgroup


class KernelLog:
    """The OOM-kill records of the kernel's log (``/dev/kmsg``), read as they come from
    the moment this is made, when the log can be read and names this process's pids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # read from the sampler and from the I/O thread
        self._fd: int | None = None
        self._kills: deque[tuple[float, int, str]] = deque(maxlen=_KMSG_KEPT)
        self._gap = 0.0  # monotonic time records were last lost (overwritten unread)
        if sys.platform != "linux":  # the kernel's log, cgroups and /proc are Linux's
            return
        try:
            if os.readlink("/proc/self/ns/pid") != INIT_PID_NAMESPACE:
                return  # its pids are not ours
            fd = os.open(_KMSG, os.O_RDONLY | os.O_NONBLOCK | _CLOEXEC)
        except OSError:  # not Linux, or not allowed (dmesg_restrict): no kernel log
            return
        try:
            os.lseek(fd, 0, os.SEEK_END)
        except OSError:
            os.close(fd)
            return
        self._fd = fd

    @property
    def readable(self) -> bool:
        return self._fd is not None

    def drain(self) -> None:
        """Reads the records added since the last call, keeping the OOM kills."""
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            while True:
                try:
                    raw = os.read(fd, _KMSG_RECORD)
                except BlockingIOError:
                    return
                except BrokenPipeError:  # records were overwritten before they were read
                    self._gap = time.monotonic()
                    continue
                except OSError:  # a record longer than the buffer, or the log went away
                    self._gap = time.monotonic()
                    return
                if not raw:
                    return
                record = kmsg_record(raw.decode("utf-8", "replace"))
                if record is not None and (pid := killed_pid(record[1])) is not None:
                    self._kills.append((time.monotonic(), pid, record[1]))

    def oom_kill_of(self, pid: int, since: float) -> tuple[str | None, bool]:
        """The log line of ``pid``'s OOM kill read after ``since`` (monotonic), and
        whether the log was read without a gap since then."""
        self.drain()
        with self._lock:
            if self._fd is None:
                return None, False
            for moment, killed, message in reversed(self._kills):
                if moment < since:
                    break
                if killed == pid:
                    return message, True
            return None, self._gap < since

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None


class Sampler:
    """Samples the owner's live workers every ``INTERVAL`` seconds until ``stop``."""

    def __init__(self, owner: TelemetryOwner) -> None:
        self._owner = owner
        self._gauges: dict[WorkerHandle, _Gauge] = {}  # touched on the sampler thread only
        self._gauges_lock = threading.Lock()  # ... and by forget / clues, briefly
        self._stop = threading.Event()
        self._done = threading.Event()  # set as the thread's very last act
        self._mounts = _read("/proc/self/mountinfo") or ""
        self.kernel_log = KernelLog()
        self._thread = threading.Thread(
            target=self._run, name="WorkingProcessFacade-telemetry", daemon=True
        )

    # == from the engine ==================================================================
    def start(self) -> None:
        """Starts sampling; without a thread to be had, the facade runs unsampled (an
        error in the log), never half-started."""
        try:
            self._thread.start()
        except RuntimeError as exc:
            log.error("worker telemetry could not start (%s): no memory or CPU samples", exc)
            self._done.set()

    def stop(self) -> None:
        """Ends the thread soon (it may be in the middle of a round): never waits."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Waits up to ``timeout`` for the thread to end, then releases the kernel's log.
        An Event, not ``Thread.join``: an interrupted join on Python 3.11 marks a thread
        as ended while it still runs (bpo-45274)."""
        if threading.current_thread() is self._thread:
            return
        if not self._thread.is_alive() and self._thread.ident is None:
            self._done.set()  # never started
        if self._done.wait(timeout):
            self.kernel_log.close()

    def register(self, h: WorkerHandle) -> None:
        """A new worker: CPU counts from its spawn, its OOM counter from its parent's
        cgroup (a spawned process starts in it)."""
        gauge = _Gauge(None, 0.0, h.spawned)
        self._follow_cgroup(gauge, _read("/proc/self/cgroup") or "")
        self.kernel_log.drain()  # what came before it is older than it
        with self._gauges_lock:
            self._gauges[h] = gauge

    def clues(self, h: WorkerHandle, parent_kill: str | None) -> tuple[bool | None, str]:
        """``(oom_killed, evidence)`` for a dead, reaped worker; forgets it."""
        with self._gauges_lock:
            gauge = self._gauges.pop(h, None)
        code = h.exitcode
        if code != SIGKILL_EXIT or parent_kill is not None:
            return verdict(Clues(code, parent_kill))
        counter = before = after = None
        if gauge is not None and gauge.counter is not None:
            counter, before = gauge.counter.path, gauge.count_before
            after = oom_kill_count(_read(counter) or "")
        line, whole = self.kernel_log.oom_kill_of(h.pid, h.spawned)
        return verdict(Clues(code, None, before, after, counter, line, whole))

    # == the sampler thread ===============================================================
    def _run(self) -> None:
        """A round every ``INTERVAL`` seconds, counted from the start of the last one:
        a late round (a loaded machine) delays the next instead of bursting, so a
        worker's samples are never closer than ``INTERVAL``."""
        start = time.monotonic()
        try:
            while not self._stop.wait(max(0.0, start + INTERVAL - time.monotonic())):
                start = time.monotonic()
                self._round(time.time())
        except Exception:
            log.error("worker telemetry stopped:\n%s", traceback.format_exc())
        finally:
            self._done.set()

    def _round(self, moment: float) -> None:
        """Samples every live worker; each sample is stamped with the round's ``moment``."""
        handles = self._owner.sampled_workers()
        with self._gauges_lock:
            gauges = [(h, self._gauges.get(h)) for h in handles]
        samples = []
        for h, gauge in gauges:
            if gauge is not None:
                sample = self._sample(h, gauge, moment)
                if sample is not None:
                    samples.append(sample)
        self.kernel_log.drain()
        if samples:
            self._owner.take_samples(samples)

    def _sample(self, h: WorkerHandle, gauge: _Gauge, moment: float) -> Sample | None:
        try:
            if gauge.process is None:
                gauge.process = psutil.Process(h.pid)
            process = gauge.process
            rss = int(process.memory_info().rss)
            times = process.cpu_times()
        except (psutil.Error, OSError):  # ended between the listing and the reading
            return None
        if rss <= 0:  # a zombie: dead, not yet buried
            return None
        now = time.monotonic()
        cpu = float(times.user + times.system)
        spent, elapsed = cpu - gauge.cpu_seconds, now - gauge.moment
        percent = max(0.0, 100.0 * spent / elapsed) if elapsed > 0 else 0.0
        gauge.cpu_seconds, gauge.moment = cpu, now
        text = _read(f"/proc/{h.pid}/cgroup")
        if text is not None and text != gauge.cgroup_text:
            self._follow_cgroup(gauge, text)
        return Sample(h, rss, round(percent, 1), moment)

    def _follow_cgroup(self, gauge: _Gauge, text: str) -> None:
        """A worker in a memory cgroup not seen before (its first, or one it was moved
        to): its OOM count from now on."""
        gauge.cgroup_text = text
        gauge.counter = memory_cgroup(text, self._mounts) if text else None
        if gauge.counter is not None:
            gauge.count_before = oom_kill_count(_read(gauge.counter.path) or "")


def _read(path: str) -> str | None:
    """A small text file of /proc or /sys, or None when it cannot be read."""
    if sys.platform != "linux":
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
