"""``python -m app demo --scenario NAME --step``: it waits for Enter before each step,
narrating it first; the end of the input plays the rest; Ctrl-C ends it with status 130,
no traceback and no worker left."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil
import pytest

from app.__main__ import main
from app.teaching.scenarios import SCENARIOS, run_headless
from app.teaching.stepping import END_OF_INPUT, PROMPT, TerminalStepper

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


class Session:
    """``demo --step`` in a child process, its output read as it comes by two threads."""

    def __init__(self, name: str, **popen: object) -> None:
        self.process: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", "app", "demo", "--scenario", name, "--step"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,  # type: ignore[call-overload]
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, into), daemon=True)
            for stream, into in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for chunk in iter(lambda: stream.read(1), ""):
            into.append(chunk)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_for(self, text: str, deadline: float = DEADLINE) -> None:
        end = time.monotonic() + deadline
        while text not in self.stdout:
            if self.process.poll() is not None or time.monotonic() > end:
                raise AssertionError(
                    f"{text!r} not printed (exit {self.process.poll()}):\n{self.stdout}\n"
                    f"{self.stderr[-3000:]}"
                )
            time.sleep(0.02)

    def enter(self, line: str = "\n") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line)
        self.process.stdin.flush()

    def end(self, timeout: float = DEADLINE) -> int:
        """Its exit status once it has ended, its input closed first (the end of input)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)  # all of its output read
        return code

    def kill(self) -> None:
        """For a ``finally``: killed and reaped if still running, its pipes closed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def workers(self) -> list[psutil.Process]:
        children: list[psutil.Process] = psutil.Process(self.process.pid).children(recursive=True)
        return children


def ignores_sigint(process: psutil.Process) -> bool:
    """Whether ``process`` has set SIGINT aside (a worker does once it has started up;
    before that a Ctrl-C reaches its interpreter still importing, a case of its own)."""
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except FileNotFoundError:
        pass
    return False


def sends(text: str) -> list[str]:
    """The task IDs the log says process_task was called with, in order."""
    return [
        line.split("process_task('")[1].split("'")[0]
        for line in text.splitlines()
        if "process_task('" in line
    ]


@pytest.mark.timeout(90)
def test_each_step_waits_for_enter_and_the_end_of_input_plays_the_rest() -> None:
    session = Session("keeps-sending")
    try:
        session.wait_for("[step 1 of 8] Next: process_task(SimpleTask('one', 0.2))")
        assert session.stdout.endswith(PROMPT)
        session.enter()
        session.wait_for("[step 2 of 8] Next: process_task(CrashTask('crash', 'exit'))")
        assert sends(session.stderr) == ["one"]  # the lines of the steps played come first
        workers = session.workers()
        assert workers
        # Waiting before 'crash': for a second its worker stays alive, nothing more is sent.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            assert all(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
            assert sends(session.stderr) == ["one"] and session.process.poll() is None
            time.sleep(0.05)
        session.enter()
        session.wait_for("[step 3 of 8] Next: wait until the worker has died")
        session.enter()
        # The remark after the death plays through: the next prompt is the send of 'four'.
        session.wait_for("[step 5 of 8] Next: process_task(SimpleTask('four', 0.1)): no worker")
        assert "[step 4 of 8]" not in session.stdout
        assert sends(session.stderr) == ["one", "crash"]
        assert session.end() == 0, session.stderr[-3000:]
    finally:
        session.kill()
    out = session.stdout
    assert out.count(END_OF_INPUT) == 1
    assert out.count("[step ") == 4
    assert "six        LOST" in out and "crash      CRASHED" in out
    assert sends(session.stderr) == ["one", "crash", "four", "five", "six"]


@pytest.mark.timeout(90)
def test_an_empty_stdin_plays_every_step_without_waiting() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--scenario", "dies-before-collect", "--step"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.count("[step ") == 1 and ran.stdout.count(END_OF_INPUT) == 1
    assert "three      LOST" in ran.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("group", "during"),
    [(True, "prompt"), (False, "prompt"), (True, "collect")],
    ids=["terminal-ctrl-c-at-a-prompt", "parent-only-at-a-prompt", "terminal-ctrl-c-in-collect"],
)
def test_ctrl_c_ends_with_130_no_traceback_and_no_worker(group: bool, during: str) -> None:
    session = Session("original", start_new_session=True)
    try:
        session.wait_for("[step 2 of 5] Next: process_task(SimpleTask('one', 1.0))")
        session.enter()
        session.wait_for("[step 3 of 5] Next: process_task(SimpleTask('two', 2.5))")
        if during == "collect":
            session.enter("\n\n")  # 'two', then the collect, which waits for it
            session.wait_for("[step 5 of 5] Next: collect_tasks()")
        workers = session.workers()
        assert workers  # 'one' runs in it now
        end = time.monotonic() + DEADLINE
        while not all(ignores_sigint(w) for w in workers):
            assert time.monotonic() < end, "the worker did not start up"
            time.sleep(0.02)
        if group:
            os.killpg(session.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            session.process.send_signal(signal.SIGINT)
        assert session.end() == 130, session.stderr[-3000:]
        _gone, alive = psutil.wait_procs(workers, timeout=DEADLINE)
        assert alive == [], alive
    finally:
        session.kill()
    assert "interrupted" in session.stderr
    assert "Traceback" not in session.stderr and "KeyboardInterrupt" not in session.stderr
    assert sends(session.stderr) == (["one"] if during == "prompt" else ["one", "two"])


@pytest.mark.timeout(90)
def test_a_closed_stdin_or_stdout_plays_the_rest_without_a_traceback() -> None:
    command = f"{sys.executable} -m app demo --scenario dies-before-collect --step"
    closed_in = subprocess.run(
        ["sh", "-c", f"exec {command} <&-"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert closed_in.returncode == 0, closed_in.stderr[-3000:]
    assert closed_in.stdout.count(END_OF_INPUT) == 1 and "three      LOST" in closed_in.stdout
    # The reader goes away after the first byte: no one is left to press Enter.
    several = f"{sys.executable} -m app demo --scenario several-collects --step"
    closed_out = subprocess.run(
        ["sh", "-c", f"yes '' | {several} | head -c 1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in closed_out.stderr, closed_out.stderr[-3000:]
    assert "BrokenPipeError" not in closed_out.stderr
    assert "collect_tasks() #3 returned 2 tasks" in closed_out.stderr


@pytest.mark.timeout(90)
def test_the_stepper_in_this_process_asks_before_each_step_that_acts() -> None:
    lines = io.StringIO("\n\n")  # two steps, then the end of the input
    out = io.StringIO()
    stepper = TerminalStepper(SCENARIOS["several-collects"], lines, out)
    table: list[str] = []
    assert run_headless("several-collects", table.append, on_held=stepper) == 0, table
    assert stepper.asked == 3  # one, two, then the end of the input at the collect
    said = out.getvalue()
    assert "[step 1 of 6] Next: process_task(SimpleTask('one', 0.3))" in said
    assert "[step 4 of 6] Next: collect_tasks() waits for every task to end" in said
    assert said.count(END_OF_INPUT) == 1
    assert any(line.split()[:2] == ["late", "REJECTED"] for line in table)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--step"],
        ["demo", "--scenario", "", "--step"],
        ["demo", "--step", "--scenario", "local-vs-dask"],
    ],
)
def test_step_needs_a_scenario_of_the_facade(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "--step needs --scenario NAME" in capsys.readouterr().err


def test_step_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--step" in capsys.readouterr().out


def test_an_unknown_scenario_with_step_is_refused_as_without(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--scenario", "nope", "--step"]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err


@pytest.mark.timeout(90)
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_lines_the_input_cannot_decode_still_each_play_a_step(encoding: str) -> None:
    """Enter is any line: bytes of another encoding (or none) are one, not a traceback."""
    ran = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--scenario", "several-collects", "--step"],
        cwd=REPO,
        input=b"\xff\xfe\n" + "é\n".encode("latin-1") * 2,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        capture_output=True,
        timeout=60,
    )
    stderr = ran.stderr.decode(errors="replace")
    assert ran.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    out = ran.stdout.decode(errors="replace")
    assert out.count("[step ") == 4 and out.count(END_OF_INPUT) == 1  # 3 lines, then the end
