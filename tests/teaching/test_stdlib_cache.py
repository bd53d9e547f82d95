"""The observed outcomes kept per Python version (``cached``, ``observe``), and
``run_compare`` facing bad input and contenders that stop answering."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import multiprocessing
import os
import platform
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.core import SimpleTask
from app.teaching import stdlib_runs
from app.teaching.scenarios import submit, wait
from app.teaching.stdlib_cache import CACHE_ENV, cache_file, cache_folder, store, why_not_result
from app.teaching.stdlib_contender import (
    CRASH_EXIT_CODE,
    ExecutorPlayer,
    PoolPlayer,
    run_task,
    value_outcome,
)
from app.teaching.stdlib_runs import cached, observe, run_compare

NAME = "several-collects"  # the quickest scenario: about a second in each contender


@pytest.fixture(scope="module")
def observed() -> dict[str, Any]:
    return run_compare(NAME, 8)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def test_a_stored_result_is_found_again_for_this_python(
    observed: dict[str, Any], cache: Path
) -> None:
    assert cached(NAME) is None
    path = store(observed, 8)
    assert path == cache / f"python-{platform.python_version()}" / f"{NAME}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cached(NAME) == observed
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_the_cache_is_where_a_users_cache_belongs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_folder() == tmp_path / "worker-monitor" / "stdlib-outcomes"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored
    assert cache_folder() == Path.home() / ".cache" / "worker-monitor" / "stdlib-outcomes"


def damaged_contents(observed: dict[str, Any]) -> dict[str, bytes]:
    whole = json.dumps(
        {
            "format": "worker-monitor-stdlib-outcomes",
            "python": platform.python_version(),
            "steps": "x",
            "deadline": 8,
            "result": observed,
        }
    ).encode()
    strange = copy.deepcopy(observed)
    strange["contenders"]["Pool"]["one"] = {"kind": "maybe"}
    unhashable = copy.deepcopy(observed)
    unhashable["contenders"]["Pool"]["one"] = {"kind": []}
    return {
        "cut in half": whole[: len(whole) // 2],
        "not UTF-8": b"\xff\xfe\x00garbage",
        "a list": b"[1, 2, 3]",
        "another program's": json.dumps({"format": "other", "python": "x"}).encode(),
        "an odd outcome": whole.replace(
            json.dumps(observed).encode(), json.dumps(strange).encode()
        ),
        "a kind that is a list": whole.replace(
            json.dumps(observed).encode(), json.dumps(unhashable).encode()
        ),
        "empty": b"",
        "no deadline": whole.replace(b'"deadline": 8', b'"deadline": "soon"'),
        "an endless deadline": whole.replace(b'"deadline": 8', b'"deadline": NaN'),
    }


def test_a_damaged_file_is_ignored_with_a_log_line(
    observed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_file(NAME)
    path.parent.mkdir(parents=True)
    for what, content in damaged_contents(observed).items():
        path.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="app.compare"):
            assert cached(NAME) is None, what
        assert [r.levelno for r in caplog.records] == [logging.WARNING], what
        assert str(path) in caplog.text and "ignored" in caplog.text, what
    # A good result stored over it is found again.
    store(observed, 8)
    assert cached(NAME) == observed


def test_another_pythons_outcomes_are_never_taken_for_this_ones(
    observed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    other = dict(observed, python="3.0.1")
    assert store(other, 8) == cache_file(NAME, "3.0.1")
    assert cached(NAME) is None  # its own version's file only
    # A file in this version's place that says another version is foreign: ignored.
    path = cache_file(NAME)
    path.parent.mkdir(parents=True)
    cache_file(NAME, "3.0.1").rename(path)
    with caplog.at_level(logging.WARNING, logger="app.compare"):
        assert cached(NAME) is None
    assert "observed on Python '3.0.1'" in caplog.text


def test_outcomes_of_other_steps_are_stale(
    observed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = store(observed, 8)
    assert path is not None
    content = json.loads(path.read_text())
    content["steps"] = "0123456789abcdef"  # the scenario's steps were changed since
    path.write_text(json.dumps(content))
    with caplog.at_level(logging.INFO, logger="app.compare"):
        assert cached(NAME) is None
    assert "other steps" in caplog.text


def test_a_wait_seen_with_a_short_deadline_is_not_taken_for_a_hang(
    observed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    waited = copy.deepcopy(observed)
    waited["contenders"]["Pool"]["one"] = {"kind": "waiting"}
    store(waited, stdlib_runs.DEADLINE / 10)
    with caplog.at_level(logging.INFO, logger="app.compare"):
        assert cached(NAME) is None
    assert "some tasks were still waiting: ignored" in caplog.text
    store(waited, stdlib_runs.DEADLINE)  # given the full time: a wait is a wait
    assert cached(NAME) == waited
    store(observed, 0.5)  # nothing waited: the deadline does not matter
    assert cached(NAME) == observed


def test_a_cache_that_cannot_be_written_stops_nothing(
    observed: dict[str, Any], cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="app.compare"):
        assert store(observed, 8) is None
    assert "could not be stored" in caplog.text
    assert cached(NAME) is None


def test_observe_takes_the_stored_outcomes_without_running(observed: dict[str, Any]) -> None:
    seen = copy.deepcopy(observed)
    seen["contenders"]["Pool"]["one"]["value"] = "as stored"
    store(seen, 8)
    assert observe(NAME) == seen  # what was stored, not what a run would see


@pytest.mark.timeout(60)
def test_observe_runs_and_stores_what_is_not_cached(observed: dict[str, Any]) -> None:
    result = observe(NAME, 8)
    assert result == observed  # the same observed facts on a second run
    assert cached(NAME) == result


def test_bad_input_is_refused_before_anything_runs(observed: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="scenario's name"):
        run_compare(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown scenario 'nope'; one of: original"):
        run_compare("nope")
    for deadline in (0, -1, math.nan, math.inf, 1e9):
        with pytest.raises(ValueError, match="deadline must be more than 0"):
            run_compare(NAME, deadline)
    for wrong in (True, "5", None):
        with pytest.raises(TypeError, match="deadline must be a number"):
            run_compare(NAME, wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown scenario"):
        cached("nope")
    with pytest.raises(ValueError, match="not a comparison's result"):
        store({"scenario": NAME}, 8)
    short = copy.deepcopy(observed)
    del short["contenders"]["Pool"]["late"]
    with pytest.raises(ValueError, match="the tasks of Pool"):
        store(short, 8)


def contender_pid(contender: str, within: float = 20.0) -> int:
    """This process's child running ``contender``, once it runs."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    args = cmdline.read().split(b"\0")
                with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                    parent = int(stat_file.read().rsplit(b")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == os.getpid() and contender.encode() in args:
                return int(entry.name)
        time.sleep(0.02)
    raise AssertionError(f"no {contender} run started")


def compare_in_thread(deadline: float) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_compare(NAME, deadline)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.timeout(60)
def test_a_contender_that_stops_answering_is_killed_at_the_outer_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stdlib_runs, "OUTER_GRACE", 3.0)
    with caplog.at_level(logging.WARNING, logger="app.compare"):
        thread, outcome = compare_in_thread(6.0)
        try:
            os.kill(contender_pid("Pool"), signal.SIGSTOP)  # it can no longer report
        finally:
            thread.join(30)
    assert not thread.is_alive()
    result = outcome["result"]
    assert result["contenders"]["Pool"] == {t: {"kind": "waiting"} for t in ("one", "two", "late")}
    assert result["contenders"]["ProcessPoolExecutor"]["one"]["kind"] == "value"
    assert result["contenders"]["facade"]["one"]["state"] == "DONE"
    assert "the Pool run did not answer by the outer deadline" in caplog.text


@pytest.mark.timeout(60)
def test_a_contender_killed_from_outside_is_an_error_not_a_result() -> None:
    thread, outcome = compare_in_thread(8.0)
    try:
        os.kill(contender_pid("ProcessPoolExecutor"), signal.SIGKILL)
    finally:
        thread.join(30)
    assert not thread.is_alive()
    error = outcome["error"]
    assert isinstance(error, RuntimeError)
    assert "the ProcessPoolExecutor run ended without a report (exit code -9)" in str(error)


def test_a_worker_crash_ends_a_stdlib_worker_as_it_ends_the_facades() -> None:
    """Exit code 1: what the facade reports for the same task (see the compare tests)."""
    worker = multiprocessing.get_context("spawn").Process(
        target=run_task, args=(SimpleTask("crash", 0.0),)
    )
    worker.start()
    worker.join(30)
    assert worker.exitcode == CRASH_EXIT_CODE == 1


def test_every_value_is_told_in_plain_json() -> None:
    told = [
        value_outcome(v)["value"]
        for v in (math.nan, -math.inf, b"ab", bytearray(3), memoryview(b"abcd"), "x" * 10_000)
    ]
    json.dumps(told, allow_nan=False)  # no NaN, no bytes: plain JSON
    assert told[:5] == ["nan", "-inf", "<2 bytes>", "<3 bytes>", "<4 bytes>"]
    assert len(told[5]) <= 200 and told[5].endswith("…")
    assert value_outcome(object())["value"].startswith("<object object at")
    assert [value_outcome(v)["value"] for v in (None, True, 3, 2.5, "s")] == [
        None,
        True,
        3,
        2.5,
        "s",
    ]


@pytest.mark.timeout(60)
def test_a_deadline_that_comes_at_once_reports_everything_waiting() -> None:
    result = run_compare("big-results", 0.001)
    assert why_not_result(result, "big-results") is None
    for contender in ("ProcessPoolExecutor", "Pool"):
        assert {o["kind"] for o in result["contenders"][contender].values()} == {"waiting"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("player_class", [ExecutorPlayer, PoolPlayer])
def test_a_wait_step_waits_for_its_tasks_at_most_its_seconds(
    player_class: type[ExecutorPlayer | PoolPlayer],
) -> None:
    """No scenario has a wait step yet; a plan may (``local-vs-dask``'s has)."""
    player = player_class(1)
    try:
        player.play([submit("simple", "a", 0.2), wait("a", seconds=30)])
        assert player.outcomes()["a"] == {"kind": "value", "value": "a solved after 0.2"}
        started = time.monotonic()
        player.play([submit("hang", "h", 99.0), wait("h", seconds=0.5)])
        assert 0.5 <= time.monotonic() - started < 10
        assert player.outcomes()["h"] == {"kind": "waiting"}
    finally:
        player.abandon()  # the hung worker, killed
        player.close()


def _cached_within(seconds: float) -> tuple[bool, dict[str, Any] | None]:
    """``cached(NAME)`` on a thread: whether it answered within ``seconds``, and what."""
    answer: list[dict[str, Any] | None] = []
    thread = threading.Thread(target=lambda: answer.append(cached(NAME)), daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(answer), (answer[0] if answer else None)


def test_a_cache_file_that_is_a_fifo_is_ignored_without_waiting_for_a_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = cache_file(NAME)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    try:
        with caplog.at_level(logging.WARNING, logger="app.compare"):
            answered, result = _cached_within(5.0)
        assert answered, "cached() waited for a writer to open the FIFO"
        assert result is None
        assert "not a regular file" in caplog.text
    finally:  # a reader still blocked in open() is let go
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_huge_cache_file_is_ignored_unread(caplog: pytest.LogCaptureFixture) -> None:
    path = cache_file(NAME)
    path.parent.mkdir(parents=True)
    with path.open("wb") as file:
        file.truncate(1 << 30)  # 1 GB, sparse: reading it would take the time and memory
    with caplog.at_level(logging.WARNING, logger="app.compare"):
        started = time.monotonic()
        answered, result = _cached_within(5.0)
    assert answered and result is None
    assert time.monotonic() - started < 2.0
    assert "bytes" in caplog.text
