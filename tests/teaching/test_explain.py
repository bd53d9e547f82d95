"""The crash explainer's words for each way a worker dies, from a real facade's events."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.core import CrashTask, SimpleTask, TaskState, WorkerDied, WorkingProcessFacade
from app.core.task import CRASH_WAYS
from app.teaching.explain import Death, deaths_in, explain, memory_meaning
from app.teaching.stdlib_cache import CACHE_ENV

EXPECTED = {
    "exception": ("exit code 1", "escaped the worker's own loop"),
    "exit": ("exit code 3", "exit(3)"),
    "exit0": ("exit code 0", "still a crash"),
    "kill": ("SIGKILL", "cannot be caught"),
    "segfault": ("SIGSEGV", "segmentation fault"),
    "hang": ("SIGKILL", "ran past its timeout"),
}


@pytest.fixture(autouse=True)
def no_observed_outcomes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache: these tests read the fixed claims (test_stdlib_claims, the quotes)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))


def events_until(facade: WorkingProcessFacade, done: object, seconds: float = 30) -> list[object]:
    events: list[object] = []
    end = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        assert time.monotonic() < end, facade.tasks
        events.extend(facade.poll_events(0.1))
    return events + facade.poll_events(0.0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", CRASH_WAYS)
def test_explainer_words_for_each_crash_way(how: str) -> None:
    facade = WorkingProcessFacade()
    try:
        crash = CrashTask("crash", how, timeout=1.0 if how == "hang" else None)
        after = SimpleTask("after", 0.0)
        assert facade.process_task(crash) and facade.process_task(after)
        events = events_until(facade, lambda: crash.state.is_final and after.state.is_final)
    finally:
        facade.close()
    deaths = deaths_in(events)
    assert len(deaths) == 1
    text = explain(deaths[0], workers_left=how == "hang", restart=False)
    how_it_died, meaning = EXPECTED[how]
    assert how_it_died in text and meaning in text, text
    blamed_state = TaskState.TIMED_OUT if how == "hang" else TaskState.CRASHED
    assert f"Blamed: 'crash' was running, so it ends {blamed_state.name}" in text
    if how == "hang":  # the timed-out worker is always replaced: 'after' still runs
        assert after.state is TaskState.DONE
        assert "no per-task timeout" in text
    else:
        assert "Lost: 'after'" in text
        assert "BrokenProcessPool" in text and "never reports back" in text


@pytest.mark.timeout(60)
def test_explainer_for_a_worker_killed_while_idle_with_a_survivor() -> None:
    facade = WorkingProcessFacade(workers=2)
    try:
        events = events_until(facade, lambda: all(w.ready for w in facade.worker_info()))
        victim = facade.worker_info()[0]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        events = events_until(facade, lambda: not facade.worker_info()[0].alive)
    finally:
        facade.close()
    (death,) = deaths_in(events)
    text = explain(death, workers_left=True, restart=False)
    assert "nothing is blamed" in text and "SIGKILL" in text
    assert "No worker is alive" not in text


def test_a_dask_death_is_told_in_dasks_terms() -> None:
    from app.core import TaskChanged, TaskState, WorkerDied
    from app.teaching.explain import explain_dask

    who = "worker-1 (pid 7) exited with code 3"
    events = [
        WorkerDied(1, 7, None, None, 1.0),
        TaskChanged(
            "poison",
            TaskState.PENDING,
            None,
            f"{who} while holding it; past allowed-failures=3, Dask gives up on it "
            "(KilledWorker) (death 4 for this task)",
            1.0,
        ),
        TaskChanged("a", TaskState.PENDING, None, f"{who} while running it; Dask retries it", 1.0),
        TaskChanged(
            "b", TaskState.PENDING, None, "its outcome was lost; Dask computes it again", 1.0
        ),
    ]
    (death,) = deaths_in(events)
    text = explain_dask(death)
    assert "Given up: 'poison'" in text and "Retried: 'a'" in text
    assert "Recomputed: 'b'" in text and "not reported its exit code" in text
    assert "cloudpickle" in text and "nanny" in text


def test_the_memory_sentence_says_likely_ruled_out_or_unknown_and_on_what_evidence() -> None:
    likely = WorkerDied(
        0,
        12,
        -9,
        "SIGKILL",
        0.0,
        rss_bytes=812_300_000,
        oom_killed=True,
        oom_evidence="the kernel's log says: Out of memory: Killed process 12 (python)",
    )
    assert memory_meaning(likely) == (
        "The kernel's out-of-memory killer is the likely cause: the kernel's log says: Out "
        "of memory: Killed process 12 (python). Its last memory sample: 812.3 MB resident."
    )
    assert memory_meaning(likely) in explain(Death(likely), True, False)
    ruled_out = replace(
        likely,
        oom_killed=False,
        oom_evidence="ruled out: the parent sent the SIGKILL (its task ran past its timeout)",
    )
    assert memory_meaning(ruled_out) == (
        "Not the kernel's out-of-memory killer: the parent sent the SIGKILL (its task ran "
        "past its timeout). Its last memory sample: 812.3 MB resident."
    )
    unknown = replace(
        likely,
        rss_bytes=None,
        oom_killed=None,
        oom_evidence="unknown: a SIGKILL the parent did not send, and neither its memory "
        "cgroup's oom_kill count nor the kernel's log could be read",
    )
    assert memory_meaning(unknown) == (
        "Whether the kernel's out-of-memory killer sent it cannot be known: a SIGKILL the "
        "parent did not send, and neither its memory cgroup's oom_kill count nor the "
        "kernel's log could be read."
    )
    # Telemetry off, or a Dask worker: nothing is said of memory at all.
    silent = WorkerDied(0, 12, -9, "SIGKILL", 0.0)
    assert memory_meaning(silent) is None
    assert "memory sample" not in explain(Death(silent), True, False)
    assert memory_meaning(replace(silent, rss_bytes=5_000_000)) == (
        "Its last memory sample: 5.0 MB resident."
    )


def test_a_stop_and_a_kill_by_the_parent_are_told_as_what_they_are() -> None:
    """From an attack: every worker stopped at a run's end was told as "died: exit code 0
    ... still a crash"; a worker the parent killed, as something an operator or the
    out-of-memory killer may have sent."""
    stop = explain(Death(WorkerDied(0, 41, 0, None, 0.0, "stopped")), False, False)
    assert stop.startswith("worker-0 (pid 41) stopped: not a crash")
    assert "still a crash" not in stop and "BrokenProcessPool" not in stop
    kill = explain(Death(WorkerDied(0, 41, -9, "SIGKILL", 0.0, "killed")), True, True)
    assert "The parent killed it on purpose" in kill and "out-of-memory" not in kill
