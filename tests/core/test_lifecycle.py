"""Nothing is left behind: a facade dropped without collecting, a parent SIGKILLed."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from app.core import SimpleTask, TaskState, WorkingProcessFacade
from tests.core.helpers import all_workers_ready, in_state, pid_gone, wait_for, wait_pids_gone

ROOT = Path(__file__).resolve().parents[2]

PARENT_SCRIPT = """
import sys
import time

sys.path.insert(0, {root!r})

from app.core import SimpleTask, WorkingProcessFacade

if __name__ == "__main__":
    w = WorkingProcessFacade()
    busy = {busy!r}
    task = SimpleTask("long", 600.0)
    if busy:
        w.process_task(task)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        info = w.worker_info()[0]
        if info.ready and (task.state.name == "RUNNING" or not busy):
            break
        w.poll_events(0.1)
    print(w.worker_info()[0].pid, task.state.name, flush=True)
    time.sleep(600)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("busy", [True, False], ids=["busy", "idle"])
def test_worker_exits_when_its_parent_is_sigkilled(tmp_path: Path, busy: bool) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT.format(root=str(ROOT), busy=busy))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    worker_pid = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, f"the parent script printed nothing; stderr: {parent.communicate()[1]}"
        pid_text, state = line.split()
        worker_pid = int(pid_text)
        assert state == ("RUNNING" if busy else "NEW")
        assert not pid_gone(worker_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_pids_gone([worker_pid], deadline=5.0)
    finally:
        if parent.poll() is None:
            parent.kill()
        if worker_pid is not None and not pid_gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)  # an orphan of ours: do not leak it
        # Only now: a live orphan would hold the pipes open and communicate() would hang.
        parent.communicate(timeout=10)


@pytest.mark.timeout(60)
def test_facade_garbage_collected_without_collecting_leaves_no_process() -> None:
    w = WorkingProcessFacade(workers=2)
    long = SimpleTask("long", 60.0)
    assert w.process_task(long)
    wait_for(w, all_workers_ready(w))
    wait_for(w, in_state(long, TaskState.RUNNING))
    pids = [info.pid for info in w.worker_info()]
    assert all(isinstance(pid, int) and not pid_gone(pid) for pid in pids)
    ref = weakref.ref(w)
    del w
    gc.collect()
    wait_pids_gone(pids, deadline=5.0)
    assert ref() is None, "the facade is still referenced somewhere after gc.collect()"


@pytest.mark.timeout(60)
def test_idle_facade_garbage_collected_leaves_no_process() -> None:
    w = WorkingProcessFacade()
    pids = [info.pid for info in w.worker_info()]
    del w
    gc.collect()
    wait_pids_gone(pids, deadline=5.0)
