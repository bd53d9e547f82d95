"""``python -m app compare``, run for every scenario: what ProcessPoolExecutor,
multiprocessing.Pool and the facade really did, task by task, within a deadline, and
nothing left running afterwards.

Every scenario is compared once, all at once (their tasks mostly sleep), in the module's
fixture; the tests then read what each run printed. The facts checked are those of the
standard library's documented behaviour, observed: a dead worker breaks a whole
ProcessPoolExecutor, a multiprocessing.Pool replaces it but never ends the task it ran,
and neither has a per-task timeout.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.teaching.compare_command import WAITING_TEXT, table
from app.teaching.scenarios import SCENARIOS
from app.teaching.stdlib_cache import CACHE_ENV
from app.teaching.stdlib_contender import CONTENDERS, task_ids
from app.teaching.stdlib_runs import cached
from tests.core.helpers import finish

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 12.0  # the longest stdlib run's work takes about 4 s; the rest is room for load
TAG = "WORKER_MONITOR_COMPARE_TEST"  # in the environment of every process a run starts

V, W = ("value", None), ("waiting", None)
BROKEN = ("exception", "BrokenProcessPool")
EXECUTOR: dict[str, dict[str, tuple[str, str | None]]] = {
    "original": {"one": V, "two": V},
    "dies-before-collect": {"one": V, "two": V, "crash": BROKEN, "three": BROKEN},
    "keeps-sending": {"one": V, "crash": BROKEN, "four": BROKEN, "five": BROKEN, "six": BROKEN},
    "several-collects": {"one": V, "two": V, "late": ("exception", "RuntimeError")},
    "big-results": {f"big-{n}": V for n in range(1, 41)},
    "poisonous-restart": {"a": V, "b": V, "poison": BROKEN, "c": BROKEN, "d": BROKEN},
    "hang-timeout": {"hang": W, "after": W},
}
"""ProcessPoolExecutor: one dead worker fails every pending call and every later submit."""
POOL: dict[str, dict[str, tuple[str, str | None]]] = {
    "original": {"one": V, "two": V},
    "dies-before-collect": {"one": V, "two": V, "crash": W, "three": V},
    "keeps-sending": {"one": V, "crash": W, "four": V, "five": V, "six": V},
    "several-collects": {"one": V, "two": V, "late": ("exception", "ValueError")},
    "big-results": {f"big-{n}": V for n in range(1, 41)},
    "poisonous-restart": {"a": V, "b": V, "poison": W, "c": V, "d": V},
    "hang-timeout": {"hang": W, "after": W},
}
"""multiprocessing.Pool: the dead worker is replaced, the task it ran waits for ever."""


@dataclass
class Compared:
    runs: dict[str, tuple[int, str, str]]  # scenario: exit status, stdout, stderr
    cache: Path
    tag: str
    ended: float  # time.monotonic() when the last run ended

    def result(self, name: str) -> dict[str, Any]:
        status, out, err = self.runs[name]
        assert status == 0, err[-3000:]
        result: dict[str, Any] = json.loads(out)
        return result


def compare_command(name: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "app", "compare", name, *options]


def tagged_processes(tag: str) -> list[int]:
    """The live processes whose environment holds ``TAG=tag``: whatever a run started,
    in whatever session, its pools' workers and the facade's watchdogs too."""
    marker = f"{TAG}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if marker not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # ended; its parent has not reaped it yet
        except OSError:
            continue
        found.append(int(entry.name))
    return found


def left_running(tag: str, within: float = 5.0) -> list[int]:
    """What a run left: the tagged processes still alive ``within`` seconds from now (a
    SIGKILLed process takes a moment to end)."""
    until = time.monotonic() + within
    while (found := tagged_processes(tag)) and time.monotonic() < until:
        time.sleep(0.05)
    return found


def environment(cache: Path, tag: str) -> dict[str, str]:
    return {**os.environ, CACHE_ENV: str(cache), TAG: tag}


def start_compare(cache: Path, tag: str, *args: str, quiet: bool = False) -> subprocess.Popen[str]:
    """``compare ARGS`` in a process of its own, its output piped (or dropped: ``quiet``)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        compare_command(*args),
        cwd=REPO,
        env=environment(cache, tag),
        stdout=output,
        stderr=output,
        text=True,
    )


def wait_for_contenders(tag: str) -> None:
    """Until the command, its 3 contenders and a worker run (30 s at most)."""
    until = time.monotonic() + 30
    while len(tagged_processes(tag)) < 5 and time.monotonic() < until:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    """Every scenario compared through the command, all at once."""
    cache = tmp_path_factory.mktemp("cache")
    tag = uuid.uuid4().hex
    env = environment(cache, tag)
    processes: dict[str, subprocess.Popen[str]] = {}
    runs = {}
    try:
        for name in SCENARIOS:
            processes[name] = subprocess.Popen(
                compare_command(name, "--json", "--deadline", str(DEADLINE)),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        for name, process in processes.items():
            out, err = finish(process, DEADLINE + 60)
            runs[name] = (process.returncode, out, err)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return Compared(runs, cache, tag, time.monotonic())


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_compare_runs_the_scenario_under_each_contender(compared: Compared, name: str) -> None:
    result = compared.result(name)
    assert "Traceback" not in compared.runs[name][2]
    # The shape, exactly.
    assert list(result) == ["scenario", "python", "contenders"]
    assert result["scenario"] == name
    assert result["python"] == platform.python_version()
    assert list(result["contenders"]) == list(CONTENDERS)
    ids = task_ids(name)
    for contender, outcomes in result["contenders"].items():
        assert list(outcomes) == ids, contender
        for outcome in outcomes.values():
            keys = {"value": {"value"}, "exception": {"exception", "message"}, "waiting": set()}
            extra = {"state"} if contender == "facade" else set()
            assert set(outcome) == {"kind"} | keys[outcome["kind"]] | extra, outcome
    # The facade: each task ends as the scenario documents, told as its future would.
    facade = result["contenders"]["facade"]
    for task_id, state in SCENARIOS[name].expected.items():
        assert facade[task_id]["state"] == state.name
        assert facade[task_id]["kind"] == ("value" if state.name == "DONE" else "exception")
    # The standard library, as observed.
    for contender, expected in (("ProcessPoolExecutor", EXECUTOR), ("Pool", POOL)):
        got = {
            task_id: (o["kind"], o.get("exception"))
            for task_id, o in result["contenders"][contender].items()
        }
        assert got == expected[name], contender
    # The same workload everywhere: a value is the same value in each contender.
    for task_id in ids:
        values = {
            json.dumps(result["contenders"][c][task_id].get("value"))
            for c in CONTENDERS
            if result["contenders"][c][task_id]["kind"] == "value"
        }
        assert len(values) <= 1, (task_id, values)


def test_big_results_are_told_by_their_size(compared: Compared) -> None:
    outcomes = compared.result("big-results")["contenders"]
    assert {o["value"] for c in CONTENDERS for o in outcomes[c].values()} == {"<1,000,000 bytes>"}
    assert len(compared.runs["big-results"][1]) < 20_000  # never the megabytes themselves


def test_messages_are_those_the_pools_raise(compared: Compared) -> None:
    several = compared.result("several-collects")["contenders"]
    assert several["Pool"]["late"]["message"] == "Pool not running"
    assert "after shutdown" in several["ProcessPoolExecutor"]["late"]["message"]
    assert several["facade"]["late"]["exception"] == "TaskRejectedError"
    crash = compared.result("dies-before-collect")["contenders"]["facade"]["crash"]
    assert crash["exception"] == "TaskCrashedError"
    assert "exited with code 1" in crash["message"]  # as a WorkerCrash ends a stdlib worker


def test_nothing_is_left_running_after_the_runs(compared: Compared) -> None:
    """The hung pools' workers too, whatever session they were in."""
    assert compared.runs["hang-timeout"][0] == 0
    assert left_running(compared.tag) == []


def test_each_run_is_stored_for_this_python(
    compared: Compared, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(compared.cache))
    for name in SCENARIOS:
        assert cached(name) == compared.result(name)


def test_the_table_has_a_row_per_task_and_a_column_per_contender(compared: Compared) -> None:
    result = compared.result("hang-timeout")
    lines = table(result, DEADLINE, 120)
    assert all(len(line) <= 120 for line in lines)
    header = next(line for line in lines if line.startswith("task"))
    assert header.split() == ["task", *CONTENDERS]
    hang = next(line for line in lines if line.startswith("hang "))
    assert hang.count(WAITING_TEXT) == 2  # both stdlib pools, still waiting
    assert "TIMED_OUT" in hang
    after = next(line for line in lines if line.startswith("after "))
    assert "DONE" in after
    # A narrow terminal: long messages are wrapped in their column, then cut.
    narrow = table(compared.result("keeps-sending"), DEADLINE, 80)
    assert any(line.endswith("--json prints them whole)") for line in narrow)
    assert all(len(line) <= 80 for line in narrow)


@pytest.mark.timeout(60)
def test_the_command_prints_a_table_and_stores_it(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    ran = subprocess.run(
        compare_command("several-collects", "--deadline", "8"),
        cwd=REPO,
        env={**environment(tmp_path, tag), "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = ran.stdout.splitlines()
    late = next(line for line in lines if line.startswith("late "))
    assert "REJECTED TaskRejectedError" in late
    assert "RuntimeError: cannot schedule new futures after shutdown" in late
    assert late.rstrip().endswith("ValueError: Pool not running")
    assert list(tmp_path.glob("python-*/several-collects.json"))
    assert left_running(tag) == []


def test_an_unknown_scenario_or_deadline_is_refused_at_once(tmp_path: Path) -> None:
    unknown = subprocess.run(
        compare_command("nope"), cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert unknown.returncode == 2
    assert "unknown scenario 'nope'" in unknown.stderr
    assert all(name in unknown.stderr for name in SCENARIOS)
    for bad in ("0", "-1", "nan", "inf", "1e9", "soon"):
        refused = subprocess.run(
            compare_command("original", "--deadline", bad),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 2, bad
        assert "--deadline" in refused.stderr, bad
    assert not list(tmp_path.iterdir())


@pytest.mark.timeout(60)
def test_ctrl_c_ends_the_comparison_cleanly(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    process = start_compare(tmp_path, tag, "hang-timeout", "--deadline", "40")
    try:
        wait_for_contenders(tag)  # interrupted while they run
        process.send_signal(signal.SIGINT)
        out, err = finish(process, 20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, err[-3000:]
    assert err.strip() == "interrupted"
    assert out == ""
    assert left_running(tag) == []
    assert not list(tmp_path.iterdir())  # nothing stored of a run that did not end


@pytest.mark.timeout(60)
def test_a_killed_command_leaves_nothing_running_long(tmp_path: Path) -> None:
    """SIGKILLed, the command can clean nothing up: each contender sees its lifeline end
    (its standard input) and ends its pool, long before its own deadline."""
    tag = uuid.uuid4().hex
    process = start_compare(tmp_path, tag, "hang-timeout", "--deadline", "300", quiet=True)
    try:
        wait_for_contenders(tag)
    finally:
        process.kill()
        process.wait(10)
    assert left_running(tag, within=15.0) == []


@pytest.mark.timeout(60)
def test_a_reader_that_closes_the_pipe_ends_it_quietly(tmp_path: Path) -> None:
    """``compare NAME | head -1``: no BrokenPipeError traceback."""
    tag = uuid.uuid4().hex
    process = start_compare(tmp_path, tag, "several-collects", "--deadline", "5")
    try:
        assert process.stdout is not None
        process.stdout.close()  # before a line is printed
        _, err = finish(process, 40)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert left_running(tag) == []


@pytest.mark.timeout(90)
@pytest.mark.parametrize("output", ["closed", "full"])
def test_an_output_that_cannot_be_written_is_one_line_not_a_traceback(
    tmp_path: Path, output: str
) -> None:
    """``compare >&-`` and ``compare >/dev/full``: the run is still stored; the command
    says in one line that it could not print it, and ends with 1."""
    tag = uuid.uuid4().hex
    command = " ".join(compare_command("several-collects", "--deadline", "8"))
    redirect = ">&-" if output == "closed" else ">/dev/full"
    ran = subprocess.run(
        ["sh", "-c", f"exec {command} {redirect}"],
        cwd=REPO,
        env=environment(tmp_path, tag),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in ran.stderr and "Exception ignored" not in ran.stderr, ran.stderr
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.strip().splitlines()[-1].startswith("compare: the output could not be")
    assert list(tmp_path.glob("python-*/several-collects.json"))
    assert left_running(tag) == []


def test_a_huge_unknown_name_is_cut_in_the_refusal() -> None:
    ran = subprocess.run(
        compare_command("x" * 10_000), cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 2
    assert "unknown scenario 'xxx" in ran.stderr and len(ran.stderr) < 500


def test_a_huge_terminal_width_pads_no_cell_past_its_text() -> None:
    """``COLUMNS=1000000000``: each column is as wide as its longest cell, not a third of
    the width given (which took gigabytes for each line)."""
    ids = task_ids("several-collects")
    outcome = {"kind": "value", "value": "solved"}
    result = {
        "scenario": "several-collects",
        "python": platform.python_version(),
        "contenders": {c: {i: dict(outcome) for i in ids} for c in CONTENDERS},
    }
    started = time.monotonic()
    lines = table(result, 4.0, 10**9)
    assert time.monotonic() - started < 1.0
    assert max(len(line) for line in lines) < 200
    row = next(line for line in lines if line.startswith("late "))
    assert row.split() == ["late", '"solved"', '"solved"', '"solved"']
