"""Telemetry in a recording: WorkerStats and the memory fields of a death are written,
read back and replayed exactly as the live facade reported them, so a window draws a
recorded worker's memory as it draws a live one; a run recorded before telemetry still
reads; the report names each worker's peak memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core import CrashTask, WorkerDied, WorkerStats, WorkingProcessFacade, read_run
from app.core.replay import RunReplay
from app.reports.report import as_json, as_table, peak_line
from tests.core.helpers import all_final, wait_for
from tests.core.tasks_for_telemetry import HoldMemoryTask

pytestmark = pytest.mark.timeout(120)

MB = 1 << 20


def recorded_with_telemetry(path: Path, marker: Path) -> list[Any]:
    """A run whose worker holds 60 MB for a few samples, then a worker killed by its own
    task and replaced; the events polled live."""
    events: list[Any] = []
    with WorkingProcessFacade(restart=True, record=path) as w:
        hold = HoldMemoryTask("hold", 60, str(marker))
        assert w.process_task(hold)
        wait_for(
            w,
            lambda: sum(type(e) is WorkerStats and e.rss_bytes > 60 * MB for e in events) >= 2,
            30,
            "two samples of the held memory",
            into=events,
        )
        marker.touch()
        crash = CrashTask("crash", "kill")
        assert w.process_task(crash)
        wait_for(w, all_final([hold, crash]), 30, into=events)
        # A sample of the replacement too.
        wait_for(w, lambda: type(events[-1]) is WorkerStats, 30, into=events)
    return events + w.poll_events(0)


def test_worker_stats_and_deaths_round_trip_through_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    live = recorded_with_telemetry(path, tmp_path / "release")
    live_stats = [e for e in live if type(e) is WorkerStats]
    live_death = next(e for e in live if type(e) is WorkerDied)
    assert live_death.oom_evidence is not None and live_death.rss_bytes is not None

    run = read_run(path)
    replay = RunReplay(run)
    indexed = replay.index()
    replay.seek(replay.length)
    replayed = replay.events_between(0, replay.length, "stats")
    assert [type(e) for e in replayed] == [WorkerStats] * len(live_stats)
    for was, now in zip(live_stats, replayed, strict=True):
        assert (now.index, now.pid, now.rss_bytes, now.cpu_percent) == (
            was.index,
            was.pid,
            was.rss_bytes,
            was.cpu_percent,
        )
        assert now.time == pytest.approx(was.time, abs=1e-5)
    assert [e for e in indexed if type(e) is WorkerStats] == replayed
    assert replayed == [
        e for e in replay.events_between(0, replay.length) if type(e) is WorkerStats
    ]
    # The death, with its last sample and its OOM verdict.
    death = next(e for e in indexed if type(e) is WorkerDied)
    assert (death.rss_bytes, death.oom_killed, death.oom_evidence) == (
        live_death.rss_bytes,
        live_death.oom_killed,
        live_death.oom_evidence,
    )
    assert run.deaths()[0]["rss"] == live_death.rss_bytes
    # worker_info at the cursor: the last sample before it, none once the worker died.
    at = [i for i, e in enumerate(run.events) if e["e"] == "worker_stats"]
    before: dict[int, WorkerStats] = {}  # by pid: the sample before this one
    for i, sample in zip(at, replayed, strict=True):
        replay.seek(i)
        info = replay.worker_info()[sample.index]
        was = before.get(sample.pid)
        assert (info.rss_bytes, info.cpu_percent) == (
            (None, None) if was is None else (was.rss_bytes, was.cpu_percent)
        )
        replay.seek(i + 1)
        info = replay.worker_info()[sample.index]
        assert (info.rss_bytes, info.cpu_percent) == (sample.rss_bytes, sample.cpu_percent)
        before[sample.pid] = sample
    died_at = next(i for i, e in enumerate(run.events) if e["e"] == "worker_died")
    replay.seek(died_at + 1)
    assert replay.worker_info()[0].rss_bytes is None  # dead, not replaced yet
    # Peak memory per worker, in the report.
    peak = max(s.rss_bytes for s in live_stats)
    assert run.peak_memory() == {0: peak}
    table = as_table(run)
    assert f"peak memory: worker-0 {peak / 1e6:,.1f} MB" in table
    verdict = {True: "likely", False: "ruled out", None: "unknown"}[live_death.oom_killed]
    assert (
        f"(signal SIGKILL), last sample {live_death.rss_bytes / 1e6:,.1f} MB, OOM killer: {verdict}"
        in table
    )
    stopped = [line for line in table.splitlines() if "exit code 0" in line]
    assert stopped and not [line for line in stopped if "OOM killer" in line]  # not a kill
    assert as_json(run)["peak_rss_bytes"] == {"0": peak}
    assert as_json(run)["deaths"][0]["oom_evidence"] == live_death.oom_evidence


def test_a_run_recorded_before_telemetry_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    header = {"format": "worker-monitor-run", "version": 1, "started": 1.7e9, "workers": 1}
    lines = [
        header,
        {"t": 0.1, "e": "worker_started", "worker": 0, "pid": 11},
        {"t": 0.5, "e": "worker_died", "worker": 0, "pid": 11, "exitcode": -9, "signal": "SIGKILL"},
        {"t": 0.6, "e": "worker_stats", "worker": 0, "pid": 11, "rss": "much", "cpu": 1.0},
        {"t": 0.7, "e": "end", "how": "collected", "dropped": 0},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = read_run(path)
    assert run.header["format"] == header["format"]
    assert run.deaths()[0] | {"t": None} == {
        "worker": 0,
        "pid": 11,
        "exitcode": -9,
        "signal": "SIGKILL",
        "t": None,
        "reason": "crashed",
        "rss": None,
        "oom": None,
        "oom_evidence": None,
        "cause": None,
    }
    replay = RunReplay(run)
    events = replay.index()
    died = next(e for e in events if type(e) is WorkerDied)
    assert (died.rss_bytes, died.oom_killed, died.oom_evidence) == (None, None, None)
    assert not [e for e in events if type(e) is WorkerStats]  # the damaged sample is left out
    assert run.peak_memory() == {}
    assert "peak memory" not in as_table(run)


def test_peak_memory_fits_one_line_largest_first() -> None:
    assert peak_line({0: 50_000_000, 1: 1_500_000_000}) == (
        "peak memory: worker-0 50.0 MB, worker-1 1,500.0 MB"
    )
    many = {i: (i + 1) * 10_000_000 for i in range(40)}
    line = peak_line(many)
    assert len(line) <= 100 + len(" (largest first)")
    assert line.startswith("peak memory: worker-39 400.0 MB, worker-38 390.0 MB")
    assert line.endswith("more (largest first)")


def test_sizes_no_counter_could_hold_read_as_unknown(tmp_path: Path) -> None:
    """A damaged file's -5 or 10**400 bytes is no size: the explainer, the report and the
    window would fail to show it (10**400 does not even convert to a float)."""
    path = tmp_path / "damaged.jsonl"
    header = {"format": "worker-monitor-run", "version": 1, "started": 1.7e9, "workers": 1}
    lines = [
        json.dumps(header),
        '{"t": 0.1, "e": "worker_started", "worker": 0, "pid": 11}',
        '{"t": 0.2, "e": "worker_stats", "worker": 0, "pid": 11, "rss": -5, "cpu": 1.0}',
        '{"t": 0.3, "e": "worker_stats", "worker": 0, "pid": 11, "rss": 1'
        + "0" * 400
        + ', "cpu": 1}',
        '{"t": 0.5, "e": "worker_died", "worker": 0, "pid": 11, "exitcode": -9, '
        '"signal": "SIGKILL", "rss": 1' + "0" * 400 + "}",
    ]
    path.write_text("\n".join(lines) + "\n")
    run = read_run(path)
    assert run.deaths()[0]["rss"] is None
    assert run.peak_memory() == {}
    assert "last sample" not in as_table(run)
    replay = RunReplay(run)
    replay.index()
    replay.seek(replay.length)
    (death,) = replay.events_between(0, replay.length, "deaths")
    assert isinstance(death, WorkerDied) and death.rss_bytes is None
    assert replay.events_between(0, replay.length, "stats") == []
