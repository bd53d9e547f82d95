"""``report`` and ``trace`` on run files crafted to hurt: times no trace can hold, a
header whose fields have the wrong types, IDs a strict terminal cannot print. Each
exits 0 or 2 with one line, never a traceback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import RunFileError, read_run

HEADER = '{"format":"worker-monitor-run","version":1,"started":1.0,"pid":1,"argv":["x"]}'


def crafted(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def command(*args: str, encoding: str = "utf-8") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "line",
    [
        '{"t":NaN,"e":"worker_died","worker":0,"pid":5,"exitcode":1,"signal":null}',
        '{"t":Infinity,"e":"submit","id":"a","class":"c","attempt":1}',
        '{"t":1e308,"e":"state","id":"a","state":"RUNNING","pid":3}',
        '{"t":1,"e":"state","id":"a","state":"DONE","pid":3,"started":-Infinity}',
        '{"t":1,"e":"state","id":"a","state":"DONE","pid":3,"started":1e308}',
    ],
)
def test_trace_of_times_out_of_range_exits_0(tmp_path: Path, line: str) -> None:
    run = crafted(tmp_path / "run.jsonl", line)
    done = command("trace", str(run), str(tmp_path / "out.json"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    json.loads((tmp_path / "out.json").read_text())


def test_a_time_that_is_no_number_is_damage(tmp_path: Path) -> None:
    run = read_run(crafted(tmp_path / "run.jsonl", '{"t":NaN,"e":"log","pid":1}'))
    assert run.events == []
    assert run.problems and run.problems[0].startswith("line 2: damaged")


@pytest.mark.parametrize("argv", ["5", '{"a":1}', "null", '"one string"', "[1,[2]]"])
def test_report_of_a_header_with_an_odd_argv(tmp_path: Path, argv: str) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text(HEADER.replace('["x"]', argv) + "\n")
    done = command("report", str(run))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_report_prints_ids_a_strict_terminal_cannot_encode(tmp_path: Path) -> None:
    """A task ID may hold a lone surrogate (the recorder writes it as ``\\udc80``)."""
    run = crafted(
        tmp_path / "run.jsonl",
        '{"t":1,"e":"submit","id":"bad\\udc80id\\u2028","class":"c","attempt":1}',
        '{"t":2,"e":"state","id":"x","state":"FAILED","error":"\\u00e9\\udcff"}',
    )
    for encoding in ("utf-8", "ascii"):
        done = command("report", str(run), encoding=encoding)
        assert done.returncode == 0, done.stderr
        assert "bad" in done.stdout


def test_trace_names_an_out_path_a_strict_terminal_cannot_encode(tmp_path: Path) -> None:
    run = crafted(tmp_path / "run.jsonl")
    out = os.fsdecode(bytes(tmp_path / "out") + b"\xff.json")
    done = command("trace", str(run), out)
    assert done.returncode == 0, done.stderr
    assert Path(out).exists()


def test_trace_never_replaces_a_device_fifo_or_folder(tmp_path: Path) -> None:
    """``trace run.jsonl /dev/null`` run as root once replaced /dev/null with a file."""
    run = crafted(tmp_path / "run.jsonl")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "folder").mkdir()
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for out in (fifo, link, tmp_path / "folder"):
        done = command("trace", str(run), str(out))
        assert done.returncode == 2, done.stdout
        assert done.stderr.count("\n") == 1 and "not a regular file" in done.stderr, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()


def test_trace_to_an_empty_out_path_says_so(tmp_path: Path) -> None:
    done = command("trace", str(crafted(tmp_path / "run.jsonl")), "")
    assert done.returncode == 2
    assert done.stderr == "trace: the OUT path is empty\n"


@pytest.mark.timeout(60)
def test_a_fifo_or_device_is_no_run(tmp_path: Path) -> None:
    """A FIFO once hung ``report`` (open waits for a writer); /dev/zero ate all memory."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        with pytest.raises(RunFileError, match="not a regular file"):
            read_run(path)
        done = command("report", path)
        assert done.returncode == 2
        assert done.stderr == f"report: {path} is not a run recording: it is not a regular file\n"


def test_one_long_id_does_not_pad_every_row(tmp_path: Path) -> None:
    """One 10 kB ID made each of a run's rows 10 kB wide."""
    lines = [f'{{"t":1,"e":"submit","id":"{"k" * 10_000}","class":"c","attempt":1}}']
    lines += [f'{{"t":1,"e":"submit","id":"t{n}","class":"c","attempt":1}}' for n in range(1000)]
    done = command("report", str(crafted(tmp_path / "run.jsonl", *lines)))
    assert done.returncode == 0
    assert len(done.stdout) < 150_000
    assert "k" * 10_000 in done.stdout  # the long ID itself is shown whole


@pytest.mark.parametrize("json_output", [False, True])
def test_report_into_a_pipe_closed_early(tmp_path: Path, json_output: bool) -> None:
    """``report FILE | head -1`` ended in a BrokenPipeError traceback."""
    lines = [f'{{"t":1,"e":"submit","id":"t{n}","class":"c","attempt":1}}' for n in range(20_000)]
    run = crafted(tmp_path / "run.jsonl", *lines)
    args = [sys.executable, "-m", "app", "report", str(run)] + (["--json"] if json_output else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.read(100)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err == b"" and proc.returncode == 0
