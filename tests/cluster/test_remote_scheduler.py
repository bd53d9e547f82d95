"""``--dask tcp://host:8786``: a scheduler and nanny-supervised workers started as their
own processes with Dask's command line, as on a real cluster (loopback only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import CrashTask, TaskState, WorkerDied, WorkerStarted
from tests.cluster.tasks_for_cluster import SleepTask
from tests.core.calls_for_tests import square

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

DEADLINE = 60.0


@pytest.fixture
def scheduler_address(tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` and a `dask worker` (2 processes under nannies), stopped after."""
    bin_dir = Path(sys.executable).parent
    dask = str(bin_dir / "dask")
    if not Path(dask).exists():
        pytest.skip("the dask command is not installed beside this Python")
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    common = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [
            dask,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--scheduler-file",
            str(info),
            *common,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers = None
    try:
        end = time.monotonic() + DEADLINE
        while not info.exists() or not info.read_text().strip():
            assert scheduler.poll() is None, "the scheduler exited"
            assert time.monotonic() < end, "no scheduler file"
            time.sleep(0.05)
        address = json.loads(info.read_text())["address"]
        workers = subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--nanny",
                "--host",
                "127.0.0.1",
                *common,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        yield address
    finally:
        for proc in (workers, scheduler):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (workers, scheduler):
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def test_a_separate_scheduler_and_its_workers(scheduler_address: str) -> None:
    from app.cluster.facade import DaskFacade

    facade = DaskFacade(scheduler_address)
    try:
        end = time.monotonic() + DEADLINE
        while len([i for i in facade.worker_info() if i.alive]) < 2:
            assert time.monotonic() < end, f"workers never joined: {facade.worker_info()}"
            facade.poll_events(0.1)
        assert facade.submit(square, 7).result(DEADLINE) == 49

        long = SleepTask("long", 2.0)
        facade.process_task(long)
        events: list[object] = []
        while long.state is not TaskState.RUNNING:
            assert time.monotonic() < end + DEADLINE, facade.tasks
            events += facade.poll_events(0.1)
        victim = long.worker_pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)  # the nanny notices and starts a new worker
        while not long.state.is_final:
            assert time.monotonic() < end + DEADLINE, facade.tasks
            events += facade.poll_events(0.1)
        assert long.state is TaskState.DONE and long.worker_pid != victim
        died = [e for e in events if isinstance(e, WorkerDied) and e.pid == victim]
        assert died, "the death was not reported"
        while not any(isinstance(e, WorkerStarted) and e.index == died[0].index for e in events):
            assert time.monotonic() < end + DEADLINE, facade.worker_info()
            events += facade.poll_events(0.1)
        info = next(i for i in facade.worker_info() if i.index == died[0].index)
        assert info.restarts == 1  # the same row: the nanny's, whatever the worker's name
        # The nanny plugin runs in the nanny's own process and tells the exit code there
        # too (read from the records: the row has the new process by now).
        while facade._engine._exit_codes.get(victim) != -9:
            assert time.monotonic() < end + DEADLINE, facade._engine._exit_codes
            facade.poll_events(0.1)

        boom = CrashTask("boom", "exit")
        facade.process_task(boom)
        while not boom.state.is_final:
            assert time.monotonic() < end + 2 * DEADLINE, facade.tasks
            facade.poll_events(0.1)
        assert boom.state is TaskState.CRASHED and "KilledWorker" in (boom.error or "")
    finally:
        facade.close()
