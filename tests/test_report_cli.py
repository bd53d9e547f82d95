"""``python -m app report`` and ``trace`` on a run file written by hand, checked field by
field, and their exit status for files that cannot be read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.__main__ import main
from app.core import TaskState, WorkingProcessFacade
from tests.core.calls_for_tests import wait_for_file
from tests.core.helpers import in_state, wait_for

HEADER = {
    "format": "worker-monitor-run",
    "version": 1,
    "started": 1000.0,
    "started_utc": "1970-01-01T00:16:40Z",
    "pid": 42,
    "argv": ["transcode.py"],
    "backend": "local",
    "workers": 1,
}
LINES: list[dict[str, Any]] = [
    HEADER,
    {"t": 0.0, "e": "worker_started", "worker": 0, "pid": 100},
    {"t": 0.1, "e": "submit", "id": "ok", "class": "m.T", "attempt": 1},
    {"t": 0.1, "e": "submit", "id": "boom", "class": "m.Crash", "attempt": 1},
    {"t": 0.2, "e": "state", "id": "ok", "state": "RUNNING", "pid": 100},
    {
        "t": 0.3,
        "e": "state",
        "id": "ok",
        "state": "DONE",
        "progress": 1.0,
        "pid": 100,
        "attempts": 1,
        "result": "'ok'",
    },
    {"t": 0.3, "e": "state", "id": "boom", "state": "RUNNING", "pid": 100},
    {"t": 0.5, "e": "log", "pid": 100, "level": 20, "message": "going down"},
    {"t": 0.55, "e": "worker_stats", "worker": 0, "pid": 100, "rss": 812_300_000, "cpu": 99.5},
    {
        "t": 0.6,
        "e": "worker_died",
        "worker": 0,
        "pid": 100,
        "exitcode": -9,
        "signal": "SIGKILL",
        "rss": 812_300_000,
        "oom": True,
        "oom_evidence": "the kernel's log says: Out of memory: Killed process 100 (python)",
    },
    {
        "t": 0.6,
        "e": "state",
        "id": "boom",
        "state": "CRASHED",
        "message": "killed",
        "pid": 100,
        "attempts": 1,
        "error": "killed",
        "exitcode": -9,
    },
    {"t": 0.7, "e": "worker_started", "worker": 0, "pid": 101},
    {
        "t": 0.8,
        "e": "submit",
        "id": "boom",
        "class": "m.Crash",
        "attempt": 2,
        "message": "resubmitted",
    },
    {"t": 0.9, "e": "state", "id": "boom", "state": "RUNNING", "pid": 101},
]


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return path


def test_report_json_field_by_field(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run_file), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "complete": False,
        "header": HEADER,
        "tasks": {
            "ok": {"state": "DONE", "exitcode": None, "worker_pid": 100, "attempts": 1},
            "boom": {"state": "RUNNING", "exitcode": None, "worker_pid": 101, "attempts": 2},
        },
        "deaths": [
            {
                "pid": 100,
                "exitcode": -9,
                "signal": "SIGKILL",
                "reason": "crashed",
                "cause": None,
                "rss_bytes": 812_300_000,
                "oom_killed": True,
                "oom_evidence": "the kernel's log says: Out of memory: Killed process 100 (python)",
            }
        ],
        "peak_rss_bytes": {"0": 812_300_000},
        "problems": [],
    }


def test_report_table(run_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with run_file.open("a") as file:
        file.write("{damaged\n")
    assert main(["report", str(run_file)]) == 0
    out = capsys.readouterr().out
    assert "a local run of 1 worker(s) by pid 42 (transcode.py)" in out
    assert "not complete" in out
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line[:3] in ("ok ", "boo")
    }
    assert rows["ok"][1:4] == ["DONE", "1", "100"] and rows["ok"][-1] == "'ok'"
    assert rows["boom"][1:4] == ["RUNNING", "2", "101"]
    assert (
        "worker-0 (pid 100): crashed (signal SIGKILL), last sample 812.3 MB, OOM killer: likely"
        in out
    )
    assert "peak memory: worker-0 812.3 MB" in out
    assert "problem: line 15: damaged" in out


def test_trace_field_by_field(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    assert main(["trace", str(run_file), str(out)]) == 0
    data = json.loads(out.read_text())
    events = data["traceEvents"]
    names = {(e["pid"], e["name"]): e["args"]["name"] for e in events if e["ph"] == "M"}
    assert names == {
        (100, "process_name"): "worker-0 (pid 100)",
        (100, "thread_name"): "tasks",
        (101, "process_name"): "worker-0 (pid 101)",
        (101, "thread_name"): "tasks",
    }
    slices = [e for e in events if e["ph"] == "X"]
    assert slices == [
        {
            "name": "ok",
            "cat": "task",
            "ph": "X",
            "ts": 200_000,
            "dur": 100_000,
            "pid": 100,
            "tid": 100,
            "cname": "good",
            "args": {"state": "DONE", "attempt": 1, "result": "'ok'"},
        },
        {
            "name": "boom",
            "cat": "task",
            "ph": "X",
            "ts": 300_000,
            "dur": 300_000,
            "pid": 100,
            "tid": 100,
            "cname": "terrible",
            "args": {"state": "CRASHED", "attempt": 1, "error": "killed", "exitcode": -9},
        },
        {
            "name": "boom",
            "cat": "task",
            "ph": "X",
            "ts": 900_000,
            "dur": 0,
            "pid": 101,
            "tid": 101,
            "cname": "generic_work",
            "args": {"state": "RUNNING", "attempt": 2},
        },
    ]
    deaths = [e for e in events if e["ph"] == "i"]
    assert deaths == [
        {
            "name": "died: SIGKILL",
            "ph": "i",
            "s": "p",
            "ts": 600_000,
            "pid": 100,
            "tid": 100,
            "args": {"exitcode": -9, "signal": "SIGKILL"},
        }
    ]
    assert data["otherData"]["header"] == HEADER and data["otherData"]["complete"] is False


@pytest.mark.parametrize("command", ["report", "trace"])
def test_unreadable_files_exit_2_with_one_line(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello\n")
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({**HEADER, "version": 9}) + "\n")
    for path, words in [
        (tmp_path / "missing.jsonl", "no such file"),
        (foreign, "not a run recording"),
        (newer, "newer than this program reads"),
    ]:
        args = [command, str(path)] + ([str(tmp_path / "out.json")] if command == "trace" else [])
        assert main(args) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and words in captured.err
        assert captured.err.startswith(f"{command}: ")
    assert not (tmp_path / "out.json").exists()


def test_the_real_command(run_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "report", str(run_file), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"]["ok"]["state"] == "DONE"


def test_a_kill_is_reported_with_what_ended_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real run: close() of a busy facade kills its worker, and the report says close."""
    path = tmp_path / "closed.jsonl"
    facade = WorkingProcessFacade(1, record=path)
    try:
        held = facade.submit(wait_for_file, str(tmp_path / "never"))
        wait_for(facade, in_state(facade.task(held.task_id), TaskState.RUNNING), 30.0)
    finally:
        facade.close()
    assert main(["report", str(path), "--json"]) == 0
    (death,) = json.loads(capsys.readouterr().out)["deaths"]
    assert (death["reason"], death["cause"]) == ("killed", "close")
    assert main(["report", str(path)]) == 0
    assert "worker-0 (pid " in (out := capsys.readouterr().out)
    assert "): killed: close (signal SIGKILL)" in out


@pytest.mark.parametrize(
    "cause",
    ["x" * 10_000, "kill now\n\x1b[31mforged line\x1b[0m", 12, None, ["close"]],
    ids=["10 kB", "newline and escapes", "number", "null", "list"],
)
def test_a_damaged_kill_cause_keeps_the_death_on_one_short_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cause: Any
) -> None:
    lines = [dict(line) for line in LINES]
    died = next(line for line in lines if line.get("e") == "worker_died")
    died.update(reason="killed", cause=cause)
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    (death,) = [line for line in out.splitlines() if "worker-0 (pid 100)" in line]
    assert death.endswith("(signal SIGKILL), last sample 812.3 MB, OOM killer: likely")
    assert len(death) < 200
    assert "\x1b" not in out and "forged line" not in out.replace(death, "")


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full"])
@pytest.mark.parametrize("command", ["report", "trace"])
def test_an_output_that_cannot_be_written_is_one_line_not_a_traceback(
    run_file: Path, tmp_path: Path, command: str, redirect: str
) -> None:
    out = tmp_path / "trace.json"
    args = f"{run_file} {out}" if command == "trace" else str(run_file)
    done = subprocess.run(
        ["sh", "-c", f"exec {sys.executable} -m app {command} {args} {redirect}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"{command}: the output could not be written:"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    if command == "trace":
        assert json.loads(out.read_text())["traceEvents"]  # the trace itself was written
