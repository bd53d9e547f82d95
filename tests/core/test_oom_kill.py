"""A real out-of-memory kill: a worker moved into a memory cgroup of its own with a small
limit grows past it, the kernel's OOM killer SIGKILLs it, and the facade says so, on
evidence. Needs a memory cgroup this process may create (root, a writable cgroup file
system); skips, saying why, where there is none."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core import TaskState, WorkerDied, WorkerStats, WorkingProcessFacade
from app.core.oom_evidence import cgroup_mounts
from tests.core.helpers import all_workers_ready, wait_for
from tests.core.tasks_for_telemetry import GrowTask

pytestmark = pytest.mark.timeout(120)

LIMIT = 160 << 20  # the cgroup's memory limit; the task grows to 640 MB


def _write(path: Path, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


@contextlib.contextmanager
def small_memory_cgroup() -> Iterator[tuple[Path, int]]:
    """A new memory cgroup limited to ``LIMIT`` bytes (its folder, its cgroup version),
    removed afterwards; skips the test where one cannot be made."""
    mounts = cgroup_mounts(Path("/proc/self/mountinfo").read_text())
    if "v1" in mounts:
        version, mount = 1, Path(mounts["v1"][1])
    elif "v2" in mounts:
        version, mount = 2, Path(mounts["v2"][1])
        controllers = (mount / "cgroup.subtree_control").read_text().split()
        if "memory" not in controllers:
            pytest.skip(f"the memory controller is not enabled for children of {mount}")
    else:
        pytest.skip("no memory cgroup is mounted on this machine")
    folder = mount / f"worker-monitor-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        folder.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup under {mount}: {exc.strerror or exc}")
    try:
        if version == 1:
            _write(folder / "memory.limit_in_bytes", str(LIMIT))
            with contextlib.suppress(OSError):  # no swap accounting: no swap to limit
                _write(folder / "memory.memsw.limit_in_bytes", str(LIMIT))
        else:
            _write(folder / "memory.max", str(LIMIT))
            with contextlib.suppress(OSError):
                _write(folder / "memory.swap.max", "0")
        yield folder, version
    finally:
        end = time.monotonic() + 10
        while True:  # empty once its dead worker is reaped
            try:
                folder.rmdir()
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)


def test_a_worker_past_its_cgroup_memory_limit_is_oom_killed_and_the_facade_says_so() -> None:
    with small_memory_cgroup() as (folder, version):
        w = WorkingProcessFacade()
        try:
            events: list[Any] = wait_for(w, all_workers_ready(w), 30)
            pid = w.worker_info()[0].pid
            assert pid is not None
            _write(folder / "cgroup.procs", str(pid))
            moved = len(events)
            # Two samples after the move: the sampler has seen the worker's new cgroup
            # and read its OOM count before the task begins.
            wait_for(
                w,
                lambda: sum(type(e) is WorkerStats for e in events[moved:]) >= 2,
                30,
                "two samples after the move",
                into=events,
            )
            task = GrowTask("grow", 640)
            assert w.process_task(task)
            wait_for(w, lambda: any(type(e) is WorkerDied for e in events), 60, into=events)
            events += w.poll_events(0)
        finally:
            w.close()
        counter = "memory.oom_control" if version == 1 else "memory.events"
        kills = (folder / counter).read_text()
    died = next(e for e in events if type(e) is WorkerDied)
    assert "oom_kill 1" in kills, kills
    assert task.state is TaskState.CRASHED and died.signal_name == "SIGKILL"
    assert died.oom_killed is True, died
    assert died.oom_evidence is not None
    assert f"Killed process {pid}" in died.oom_evidence or "went from 0 to 1" in died.oom_evidence
    assert died.rss_bytes is not None and died.rss_bytes > 0
