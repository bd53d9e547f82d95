"""Reading run files: a program killed mid-run, a run followed live from another
process, and every kind of bad file, each with its documented outcome; nothing in a run
file is ever executed."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.core import RunFileError, RunFollower, TaskState, read_run
from app.core.replay import RunReplay
from app.reports import report, trace

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
HEADER = {"format": "worker-monitor-run", "version": 1, "started": 1000.0, "pid": 1}


def write_run(path: Path, lines: list[Any], end: str = "\n") -> Path:
    """A run file of ``lines`` (dicts become JSON, strings are written as they are)."""
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + end)
    return path


def submit(task_id: str, t: float = 0.1) -> dict[str, Any]:
    return {"t": t, "e": "submit", "id": task_id, "class": "m.T", "attempt": 1}


def done(task_id: str, t: float = 0.2) -> dict[str, Any]:
    return {
        "t": t,
        "e": "state",
        "id": task_id,
        "state": "DONE",
        "pid": 7,
        "attempts": 1,
        "result": "4",
    }


def start_program(path: Path, how_many: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.recording_program", str(path), str(how_many)],
        cwd=ROOT,
    )


def wait_until(predicate: Any, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        assert time.monotonic() < end, f"{what}: not within {deadline} s"
        time.sleep(0.02)  # polling a file: there is nothing to wait on


def done_in(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        return sum(r.state is TaskState.DONE for r in read_run(path).tasks().values())
    except RunFileError:
        return 0  # the header is not there yet


def test_a_program_killed_mid_run_leaves_a_readable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    program = start_program(path, 0)
    try:
        wait_until(lambda: done_in(path) >= 5, 60, "five tasks recorded DONE")
        workers = psutil.Process(program.pid).children(recursive=True)
        program.send_signal(signal.SIGKILL)
        program.wait(10)
    finally:
        if program.poll() is None:
            program.kill()
            program.wait(10)
    psutil.wait_procs(workers, timeout=10)  # orphaned workers notice and leave
    run = read_run(path)
    assert run.header["pid"] == program.pid
    assert not run.complete and run.problems == []
    tasks = run.tasks()
    assert sum(r.state is TaskState.DONE for r in tasks.values()) >= 5
    assert all(
        r.result == f"'{task_id} solved after 0.05'"
        for task_id, r in tasks.items()
        if r.state is TaskState.DONE
    )
    # A kill in the middle of a write leaves a torn last line: skipped without a word.
    with open(path, "ab") as file:
        file.write(b'{"t":9.5,"e":"state","id":"task-')
    again = read_run(path)
    assert again.problems == [] and len(again.events) == len(run.events)


def test_a_second_process_follows_a_live_run_within_half_a_second(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    program = start_program(path, 12)
    latencies: list[float] = []
    try:
        wait_until(lambda: path.exists() and path.stat().st_size > 0, 60, "the header")
        follower = RunFollower(path)
        end = time.monotonic() + 90
        while not follower.run.complete:
            assert time.monotonic() < end, "the run did not end"
            new = follower.read()
            now = time.time()
            started = follower.run.header.get("started", now)
            latencies += [now - (started + e["t"]) for e in new if e["e"] != "log"]
            time.sleep(0.02)  # polling a growing file
        assert program.wait(30) == 0
    finally:
        if program.poll() is None:
            program.kill()
            program.wait(10)
    tasks = follower.run.tasks()
    assert len(tasks) == 12 and all(r.state is TaskState.DONE for r in tasks.values())
    assert len(latencies) > 40
    assert max(latencies) < 0.5, sorted(latencies)[-5:]


# -- bad files ---------------------------------------------------------------------------
def test_a_damaged_run_is_read_up_to_the_damage(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "r.jsonl",
        [HEADER, submit("a"), done("a"), "{garbage", submit("b"), {"e": "end", "t": 1}],
    )
    run = read_run(path)
    assert [e["e"] for e in run.events] == ["submit", "state"]
    assert not run.complete
    assert len(run.problems) == 1 and run.problems[0].startswith("line 4: damaged (not JSON")
    assert run.tasks()["a"].state is TaskState.DONE


@pytest.mark.parametrize(
    "line, why",
    [
        ("[1, 2]", "not a JSON object"),
        ('{"e": "state", "t": 1, "id": "a", "state": "SLEEPING"}', "unknown state"),
        ('{"e": "state", "t": 1, "state": "DONE"}', "without a task ID"),
        ('{"e": "submit"}', "no event kind, or no time"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_each_kind_of_damage_is_named(tmp_path: Path, line: str, why: str) -> None:
    path = write_run(tmp_path / "r.jsonl", [HEADER, submit("a"), line, done("a")])
    run = read_run(path)
    assert len(run.events) == 1 and why in run.problems[0] and run.problems[0].startswith("line 3")


def test_a_truncated_run_skips_its_torn_last_line(tmp_path: Path) -> None:
    whole = json.dumps(done("a"))
    path = write_run(tmp_path / "r.jsonl", [HEADER, submit("a"), whole[:25]], end="")
    run = read_run(path)
    assert run.problems == [] and not run.complete and len(run.events) == 1
    assert run.tasks()["a"].state is TaskState.PENDING
    # Cut just before its newline, the last line is whole: it is read.
    path = write_run(tmp_path / "r2.jsonl", [HEADER, submit("a"), whole], end="")
    assert read_run(path).tasks()["a"].state is TaskState.DONE


def test_unknown_events_and_dropped_counts(tmp_path: Path) -> None:
    path = write_run(
        tmp_path / "r.jsonl",
        [
            HEADER,
            submit("a"),
            {"t": 0.3, "e": "future-kind", "x": 1},
            {"t": 0.4, "e": "dropped", "count": 12},
            {"t": 0.5, "e": "end", "how": "collected"},
        ],
    )
    run = read_run(path)
    assert run.complete and run.dropped == 12 and len(run.events) == 4
    assert run.problems == [
        "12 event(s) were not recorded (the disk was slower than the run): the states of "
        "some tasks may be out of date"
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\n\n", "not a run recording"),
        (b'{"name": "package.json"}\n{"e": "state"}\n', "not a run recording"),
        (b"id,state\nx,DONE\n", "not a run recording"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a run recording"),
        (b'{"format": "worker-monitor-run", "version": "one"}\n', "not a run recording"),
        (b'{"format": "worker-monitor-run", "version": 2}\n', "version 2, newer than"),
    ],
    ids=["empty", "blank", "foreign-json", "csv", "binary", "bad-version", "newer"],
)
def test_files_that_are_no_run_raise_run_file_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    with pytest.raises(RunFileError, match=message):
        read_run(path)


class Bomb:
    """Unpickling it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


def test_a_run_file_holding_pickles_never_executes_them(tmp_path: Path) -> None:
    marker = tmp_path / "exploded"
    payload = pickle.dumps(Bomb(marker), protocol=0).decode("latin-1")
    path = write_run(
        tmp_path / "r.jsonl",
        [
            HEADER,
            submit("a"),
            {**done("a"), "result": payload, "error": payload, "message": payload},
            {"t": 0.3, "e": "state", "id": "b", "state": "DONE", "result": {"py/reduce": "os"}},
            {"t": 0.4, "e": "log", "pid": 7, "level": 20, "message": payload},
        ],
    )
    run = read_run(path)
    assert run.tasks()["a"].result == payload  # text, as it was stored
    assert run.tasks()["b"].result is None  # not text: ignored, never interpreted
    assert report.main(str(path), True) == 0
    assert trace.main(str(path), str(tmp_path / "t.json")) == 0
    binary = tmp_path / "bomb.pickle"
    binary.write_bytes(pickle.dumps(Bomb(marker)))
    with pytest.raises(RunFileError):
        read_run(binary)
    assert not marker.exists()


@pytest.mark.parametrize("t", ["1e12", "-1e8", "1e308", "NaN", "true"])
def test_a_time_no_run_can_have_is_damage(tmp_path: Path, t: str) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(
        '{"format":"worker-monitor-run","version":1,"started":1000.0}\n'
        '{"t":0.1,"e":"submit","id":"a","class":"T","attempt":1}\n'
        f'{{"t":{t},"e":"submit","id":"b","class":"T","attempt":1}}\n'
    )
    run = read_run(path)
    assert len(run.events) == 1 and "line 3" in run.problems[0]


def test_impossible_numbers_in_a_fate_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(
        '{"format":"worker-monitor-run","version":1,"started":1e17}\n'
        '{"t":0.1,"e":"submit","id":"a","class":"T","attempt":1}\n'
        '{"t":0.5,"e":"state","id":"a","state":"DONE","started":1e308,"progress":NaN}\n'
    )
    record = read_run(path).tasks()["a"]
    assert record.state is TaskState.DONE and record.started is None and record.progress is None
    assert RunReplay(read_run(path)).base == 0.0  # no plausible start: times from 0


def test_a_follower_says_so_when_its_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    header = '{"format":"worker-monitor-run","version":1,"started":1000.0}\n'
    path.write_text(header + '{"t":0.1,"e":"submit","id":"a","class":"T","attempt":1}\n')
    follower = RunFollower(path)
    assert len(follower.read()) == 1
    other = tmp_path / "other.jsonl"
    other.write_text(header)
    os.replace(other, path)  # a new run recorded at the same path
    with pytest.raises(RunFileError, match="replaced or emptied"):
        follower.read()
