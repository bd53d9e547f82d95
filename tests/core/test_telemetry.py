"""Worker telemetry, live: samples of each worker's memory and CPU use, their events, the
fields of WorkerInfo and WorkerDied, and telemetry turned off. Bounds are generous (the
machine is shared); every wait is a condition with a deadline."""

from __future__ import annotations

import bisect
import gc
import itertools
import multiprocessing
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import (
    CrashTask,
    EventsDropped,
    SimpleTask,
    TaskState,
    WorkerDied,
    WorkerStats,
    WorkingProcessFacade,
    book,
)
from app.core.handle import KillReason, WorkerHandle
from app.core.lifecycle import Lifecycle
from app.core.telemetry import INTERVAL, KernelLog, Sample, Sampler
from tests.core.helpers import all_final, all_workers_ready, in_state, wait_for, wait_pids_gone
from tests.core.tasks_for_telemetry import BusyTask, HoldMemoryTask, IdleTask

pytestmark = pytest.mark.timeout(120)

MB = 1 << 20


def stats_of(events: list[Any], pid: int | None = None) -> list[WorkerStats]:
    return [e for e in events if type(e) is WorkerStats and (pid is None or e.pid == pid)]


def deaths_of(events: list[Any]) -> list[WorkerDied]:
    return [e for e in events if type(e) is WorkerDied]


def test_each_worker_is_sampled_twice_a_second_and_never_more() -> None:
    with WorkingProcessFacade(workers=2) as w:
        events = wait_for(w, all_workers_ready(w), 30)
        pids = [info.pid for info in w.worker_info()]
        # Four seconds of samples from the first of each worker on.
        wait_for(
            w,
            lambda: all(
                len(s := stats_of(events, pid)) >= 2 and s[-1].time - s[0].time >= 4.0
                for pid in pids
            ),
            30,
            "four seconds of samples of each worker",
            into=events,
        )
    for index, pid in enumerate(pids):
        samples = stats_of(events, pid)
        assert {s.index for s in samples} == {index}
        gaps = [b.time - a.time for a, b in itertools.pairwise(samples)]
        # At most two a second: never closer than the interval (the round's clock).
        assert min(gaps) >= INTERVAL - 0.01, gaps
        # At least two a second, typically: a loaded machine may delay a round or two.
        assert statistics.median(gaps) <= INTERVAL + 0.1, gaps
        assert all(s.rss_bytes > 5 * MB and s.cpu_percent >= 0 for s in samples), samples


def test_memory_held_by_a_task_shows_in_the_samples_and_in_worker_info(tmp_path: Path) -> None:
    marker = tmp_path / "release"
    with WorkingProcessFacade() as w:
        events = wait_for(w, all_workers_ready(w), 30)
        ready = len(events)
        wait_for(w, lambda: bool(stats_of(events[ready:])), 30, "a sample once ready", into=events)
        before = stats_of(events)[-1].rss_bytes  # the idle worker, its imports done
        task = HoldMemoryTask("hold", 100, str(marker))
        assert w.process_task(task)
        wait_for(
            w,
            lambda: any(s.rss_bytes >= before + 90 * MB for s in stats_of(events)),
            30,
            "a sample 90 MB above the idle worker's",
            into=events,
        )
        info = w.worker_info()[0]
        assert info.rss_bytes is not None and info.rss_bytes >= before + 90 * MB, info
        assert info.cpu_percent is not None and info.cpu_percent >= 0
        marker.touch()
        wait_for(w, all_final([task]), 30)
    assert task.state is TaskState.DONE and task.result == 100 * MB


def samples_while_running(w: WorkingProcessFacade, task: Any, count: int) -> list[WorkerStats]:
    """``count`` samples taken wholly while ``task`` ran (the first after it began is
    left out: it covers time before)."""
    events = wait_for(w, in_state(task, TaskState.RUNNING), 30)
    pid = w.worker_info()[0].pid
    seen = len(stats_of(events, pid))
    wait_for(
        w,
        lambda: len(stats_of(events, pid)) >= seen + count + 1,
        30,
        f"{count + 1} samples while {task.ID!r} runs",
        into=events,
    )
    return stats_of(events, pid)[seen + 1 :]


def test_cpu_is_near_a_whole_core_for_a_busy_loop_and_near_zero_asleep(tmp_path: Path) -> None:
    with WorkingProcessFacade() as w:
        busy_marker, idle_marker = tmp_path / "busy-done", tmp_path / "idle-done"
        busy, idle = BusyTask("busy", str(busy_marker)), IdleTask("idle", str(idle_marker))
        assert w.process_task(busy)
        busy_samples = samples_while_running(w, busy, 3)
        busy_marker.touch()
        assert w.process_task(idle)
        idle_samples = samples_while_running(w, idle, 3)
        idle_marker.touch()
        wait_for(w, all_final([busy, idle]), 30)
    # On a machine others load too, a busy loop gets what share of a core it can: each
    # sample is checked against the share the task's own clock measured over its window.
    clock = busy.result
    times = [wall for wall, _ in clock]
    for before, sample in itertools.pairwise(busy_samples):
        a = clock[bisect.bisect_left(times, before.time)]
        b = clock[bisect.bisect_left(times, sample.time) - 1]
        share = 100 * (b[1] - a[1]) / (b[0] - a[0])
        assert abs(sample.cpu_percent - share) <= 15, (sample, share)
    idle = statistics.median(s.cpu_percent for s in idle_samples)
    assert idle <= 10, idle_samples
    assert statistics.median(s.cpu_percent for s in busy_samples) >= idle + 10, busy_samples
    assert all(s.cpu_percent <= 110 for s in busy_samples), busy_samples


def test_worker_info_has_no_sample_before_the_first_nor_for_a_dead_worker() -> None:
    w = WorkingProcessFacade()
    try:
        first = w.worker_info()[0]  # the first round comes INTERVAL after the start
        events = w.poll_events(0)
        # No sample reported by now: none was there when the snapshot was taken either
        # (a loaded machine may have let the first round come before the snapshot).
        assert (first.rss_bytes, first.cpu_percent) == (None, None) or stats_of(events)
        events += wait_for(w, lambda: w.worker_info()[0].rss_bytes is not None, 30)
        events += w.poll_events(0)
        last = stats_of(events)[-1]
        info = w.worker_info()[0]
        assert (info.rss_bytes, info.cpu_percent) == (last.rss_bytes, last.cpu_percent)
        crash = CrashTask("crash", "exit")
        assert w.process_task(crash)
        wait_for(w, all_final([crash]), 30)
        dead = w.worker_info()[0]
        assert not dead.alive and dead.rss_bytes is None and dead.cpu_percent is None
    finally:
        w.close()


def test_a_dead_worker_carries_its_last_sample_and_no_oom_for_an_exit(tmp_path: Path) -> None:
    with WorkingProcessFacade(restart=True) as w:
        events: list[Any] = []
        wait_for(w, lambda: bool(stats_of(events)), 30, "a first sample", into=events)
        pid = w.worker_info()[0].pid
        crash = CrashTask("crash", "exit")
        assert w.process_task(crash)
        wait_for(w, lambda: bool(deaths_of(events)), 30, "the death", into=events)
    died = deaths_of(events)[0]
    last = stats_of(events[: events.index(died)], pid)[-1]
    assert died.pid == pid and died.exitcode == 3
    assert died.rss_bytes == last.rss_bytes
    assert died.oom_killed is False
    assert died.oom_evidence is not None and "exit code 3" in died.oom_evidence
    assert crash.state is TaskState.CRASHED


def test_a_sigkill_the_parent_sent_is_not_the_oom_killer() -> None:
    with WorkingProcessFacade(task_timeout=0.5) as w:
        task = SimpleTask("hangs", 60.0)
        assert w.process_task(task)
        events = wait_for(w, all_final([task]), 30)
        events += w.poll_events(0)
    assert task.state is TaskState.TIMED_OUT
    died = deaths_of(events)[0]
    assert died.signal_name == "SIGKILL" and died.oom_killed is False
    assert (
        died.oom_evidence
        == "ruled out: the parent sent the SIGKILL (its task ran past its timeout)"
    )


def test_an_unexplained_sigkill_is_judged_by_what_this_machine_lets_us_read() -> None:
    """A task that SIGKILLs its own worker: not the OOM killer. Where the kernel's log
    can be read (root, first pid namespace) it rules the OOM killer out; elsewhere the
    cgroup counter did not rise, which cannot rule it out: unknown."""
    log = KernelLog()
    readable = log.readable
    log.close()
    with WorkingProcessFacade() as w:
        task = CrashTask("self-kill", "kill")
        assert w.process_task(task)
        events = wait_for(w, all_final([task]), 30)
        events += w.poll_events(0)
    died = deaths_of(events)[0]
    assert died.signal_name == "SIGKILL"
    assert died.oom_evidence is not None
    if readable:
        assert died.oom_killed is False
        assert "kernel's log, read over its whole life, names no OOM kill" in died.oom_evidence
    else:
        assert died.oom_killed is None
        assert died.oom_evidence.startswith("unknown: a SIGKILL the parent did not send")


def test_telemetry_off_samples_nothing_and_starts_no_thread(tmp_path: Path) -> None:
    marker = tmp_path / "release"
    with pytest.raises(TypeError, match="telemetry must be True or False"):
        WorkingProcessFacade(telemetry=1)  # type: ignore[arg-type]
    with WorkingProcessFacade(restart=True, telemetry=False) as w:
        names = {t.name for t in threading.enumerate()}
        assert "WorkingProcessFacade-telemetry" not in names
        task = IdleTask("idle", str(marker))
        assert w.process_task(task)
        events = wait_for(w, in_state(task, TaskState.RUNNING), 30)
        started = w.worker_info()[0]
        # Three sampling intervals of a running worker, timed by the task's own clock.
        wait_for(
            w,
            lambda: task.started_at is not None and _elapsed(task) > 3 * INTERVAL,
            30,
            into=events,
        )
        info = w.worker_info()[0]
        assert info.rss_bytes is None and info.cpu_percent is None, (started, info)
        marker.touch()
        crash = CrashTask("crash", "kill")
        assert w.process_task(crash)
        wait_for(w, all_final([task, crash]), 30, into=events)
    assert not stats_of(events)
    died = deaths_of(events)[0]
    assert (died.rss_bytes, died.oom_killed, died.oom_evidence) == (None, None, None)


def _elapsed(task: Any) -> float:
    return time.time() - task.started_at


def telemetry_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "WorkingProcessFacade-telemetry"]


def test_no_sampler_outlives_a_collect_a_close_or_a_dropped_facade() -> None:
    before = len(telemetry_threads())
    for end in ("collect", "close", "drop"):
        w = WorkingProcessFacade()
        wait_for(w, lambda w=w: w.worker_info()[0].rss_bytes is not None, 30)
        assert len(telemetry_threads()) == before + 1
        if end == "collect":
            w.collect_tasks()
        elif end == "close":
            w.close()
        else:
            del w  # its finalizer ends the job: the sampler keeps no reference to it
            gc.collect()
        deadline = time.monotonic() + 5
        while len(telemetry_threads()) > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(telemetry_threads()) == before, end


class _Listed:
    """A sampler's owner that lists workers already dead, as a round may find them."""

    def __init__(self, handles: list[WorkerHandle]) -> None:
        self.handles = handles
        self.rounds = 0
        self.samples: list[Sample] = []

    def sampled_workers(self) -> list[WorkerHandle]:
        self.rounds += 1
        return self.handles

    def take_samples(self, samples: list[Sample]) -> None:
        self.samples += samples


def test_a_worker_dead_between_listing_and_reading_is_skipped_without_a_word(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = WorkerHandle(multiprocessing.get_context("spawn"), 0, 0, Lifecycle())
    owner = _Listed([h])
    sampler = Sampler(owner)
    sampler.register(h)
    try:
        h.kill(KillReason.CLOSE)
        wait_pids_gone([h.pid])  # a zombie first: dead, not yet reaped
        sampler.start()
        deadline = time.monotonic() + 30
        while owner.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        h.reap()  # then gone altogether: its pid names nothing
        rounds = owner.rounds
        while owner.rounds < rounds + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert owner.rounds >= rounds + 2, "the sampler stopped sampling"
    finally:
        sampler.stop()
        sampler.join(5)
        if h.exitcode is None:
            h.reap()
    assert owner.samples == []
    assert not telemetry_threads()
    assert sampler.clues(h, "the test killed it") == (
        False,
        "ruled out: the parent sent the SIGKILL (the test killed it)",
    )
    assert not [r for r in caplog.records if "telemetry" in r.getMessage()]


def test_samples_nobody_polls_are_bounded_like_every_other_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(book, "MAX_UNPOLLED_EVENTS", 10)
    w = WorkingProcessFacade(workers=2)
    try:
        deadline = time.monotonic() + 30
        while not w._engine._dropped and time.monotonic() < deadline:  # never polled
            time.sleep(0.05)
        events = w.poll_events(0)
    finally:
        w.close()
    assert type(events[0]) is EventsDropped and events[0].count > 0
    assert len(events) <= 11
    assert type(events[-1]) is WorkerStats  # the newest are kept
