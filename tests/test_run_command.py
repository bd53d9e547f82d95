"""``python -m app run``: real scripts written against ``ProcessPoolExecutor``, run once
with plain ``python`` and once under the facade, in subprocesses; their output, exit
status and recorded runs compared."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from app.core import TaskState, read_run
from tests.core.helpers import finish

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 90.0  # a whole script run, spawned workers included, on a loaded machine

EIGHT_CALLS = """
    import json
    import os
    import time
    from concurrent.futures import ProcessPoolExecutor


    def work(n):
        if n == 3:
            os._exit(3)
        time.sleep(0.2)  # the others are still under way when call 3 kills its worker
        return n * 10


    if __name__ == "__main__":
        with ProcessPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(work, n) for n in range(1, 9)]
            outcomes = []
            for future in futures:
                try:
                    outcomes.append(future.result())
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
        print(json.dumps(outcomes))
"""


def script(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def launch(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs ``python ARGS`` from the project's root to its end (killed after DEADLINE)."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = finish(process, DEADLINE)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_app(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return launch(["-m", "app", "run", *args], env)


def test_one_crashed_call_breaks_the_standard_pool_but_fails_only_itself_under_run(
    tmp_path: Path,
) -> None:
    path = script(tmp_path, EIGHT_CALLS)
    plain = launch([str(path)])
    assert plain.returncode == 0, plain.stderr
    outcomes = json.loads(plain.stdout)
    assert outcomes[2] == "BrokenProcessPool"  # the standard pool breaks...
    assert outcomes.count("BrokenProcessPool") > 1  # ...and takes innocent calls with it

    record = tmp_path / "run.jsonl"
    under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 0, under.stderr
    assert json.loads(under.stdout) == [10, 20, "TaskCrashedError", 40, 50, 60, 70, 80]
    run = read_run(record)
    assert run.complete
    tasks = run.tasks()
    assert [t.state for t in tasks.values()] == [TaskState.DONE] * 2 + [TaskState.CRASHED] + [
        TaskState.DONE
    ] * 5
    assert tasks["work-3"].exitcode == 3
    assert [d["exitcode"] for d in run.deaths() if d["exitcode"] != 0] == [3]
    # The report follows the run on stderr: the script's stdout stays its own.
    report = under.stderr[under.stderr.index(str(record)) :]
    assert "work-3  CRASHED" in report and "7 DONE, 1 CRASHED" in report


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        ("sys.exit(5)", 5, None),
        ("sys.exit()", 0, None),
        ("sys.exit('no input files')", 1, "no input files"),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("raise KeyboardInterrupt", 130, "KeyboardInterrupt"),
    ],
)
def test_the_exit_status_is_the_scripts(
    tmp_path: Path, body: str, status: int, said: str | None
) -> None:
    path = script(tmp_path, f"import sys\nprint('before')\n{body}\n")
    plain = launch([str(path)])
    under = run_app("--no-window", str(path))
    if status != 130:  # python itself dies of SIGINT there: the shell shows 130
        assert plain.returncode == status
    assert under.returncode == status, under.stderr
    assert under.stdout == "before\n"
    if said is not None:
        assert said in under.stderr
    if status == 1 and "raise" in body:  # the traceback as python prints it, no runner frame
        assert f'File "{path}", line 3, in <module>' in under.stderr
        assert "script_runner" not in under.stderr
        assert under.stderr.index("Traceback") < under.stderr.index("ValueError: boom")


def test_the_script_runs_as_main_with_its_arguments_and_its_functions_reach_spawned_workers(
    tmp_path: Path,
) -> None:
    path = script(
        tmp_path,
        """
        import json
        import os
        import sys
        from concurrent.futures import ProcessPoolExecutor, process


        class Point:
            def __init__(self, x):
                self.x = x


        def double(point):
            return Point(point.x * 2), os.getpid()


        if __name__ == "__main__":
            assert process.ProcessPoolExecutor is ProcessPoolExecutor
            with ProcessPoolExecutor(2) as pool:
                results = list(pool.map(double, [Point(1), Point(2), Point(3)]))
            print(json.dumps({
                "argv": sys.argv,
                "path0": sys.path[0],
                "executor": ProcessPoolExecutor.__module__,
                "xs": [p.x for p, _ in results],
                "in_workers": all(pid != os.getpid() for _, pid in results),
            }))
        """,
    )
    under = run_app("--no-window", str(path), "one", "--two", "-x")
    assert under.returncode == 0, under.stderr
    seen = json.loads(under.stdout)
    assert seen["argv"] == [str(path), "one", "--two", "-x"]
    assert seen["path0"] == str(tmp_path)
    assert seen["executor"] == "app.core.pool_executor"
    assert seen["xs"] == [2, 4, 6] and seen["in_workers"]


def test_a_script_without_a_main_guard_behaves_as_under_python_with_spawn(tmp_path: Path) -> None:
    """Spawned workers re-run the script's top level as ``__mp_main__``, under ``run`` as
    under plain python: there, each worker's own attempt to start processes fails."""
    path = script(
        tmp_path,
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor


        def inc(n):
            return n + 1


        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        try:
            print(list(pool.map(inc, range(3))), flush=True)
        except Exception as exc:
            print(type(exc).__name__, flush=True)
        pool.shutdown()
        """,
    )
    plain = launch([str(path)])
    under = run_app("--no-window", str(path))
    assert plain.returncode == under.returncode == 0, under.stderr
    for out in (plain.stdout, under.stdout):  # two workers print at once: lines may mix
        assert out.count("RuntimeError") == 2 and out.count("[1, 2, 3]\n") == 1, out
        assert len(out) == len("RuntimeError\n" * 2 + "[1, 2, 3]\n")


def test_a_script_without_an_executor_runs_and_records_nothing(tmp_path: Path) -> None:
    """``multiprocessing.Pool`` is not replaced: it runs as it always does."""
    path = script(
        tmp_path,
        """
        import multiprocessing


        def cube(n):
            return n**3


        if __name__ == "__main__":
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                print(pool.map(cube, range(4)))
        """,
    )
    under = run_app("--no-window", "--record", str(tmp_path / "never.jsonl"), str(path))
    assert under.returncode == 0, under.stderr
    assert under.stdout == "[0, 1, 8, 27]\n"
    assert "made no ProcessPoolExecutor: nothing was recorded" in under.stderr
    assert not (tmp_path / "never.jsonl").exists()


def test_each_executor_records_its_own_run_beside_the_file_asked_for(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        from concurrent.futures import ProcessPoolExecutor

        if __name__ == "__main__":
            for n in range(2):
                with ProcessPoolExecutor(1) as pool:
                    print(pool.submit(abs, -n).result())
        """,
    )
    record = tmp_path / "runs" / "mine.jsonl"
    under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 0, under.stderr
    assert under.stdout == "0\n1\n"
    second = record.with_name("mine-2.jsonl")
    for file, task_id in ((record, "abs-1"), (second, "abs-1")):
        run = read_run(file)
        assert run.complete and list(run.tasks()) == [task_id]
        assert run.tasks()[task_id].state is TaskState.DONE
    assert str(record) in under.stderr and str(second) in under.stderr


def test_calls_still_pending_when_the_script_ends_finish_first(tmp_path: Path) -> None:
    """As ``ProcessPoolExecutor`` joins its workers at exit: the script never shuts its
    executor down, and the call it dropped still runs to its end."""
    marker = tmp_path / "ran"
    path = script(
        tmp_path,
        f"""
        import time
        from concurrent.futures import ProcessPoolExecutor


        def slow(path):
            time.sleep(1.0)
            open(path, "w").close()
            return "done"


        if __name__ == "__main__":
            ProcessPoolExecutor(1).submit(slow, {str(marker)!r})
        """,
    )
    record = tmp_path / "run.jsonl"
    under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 0, under.stderr
    assert marker.exists()
    run = read_run(record)
    assert run.complete and run.tasks()["slow-1"].state is TaskState.DONE
    assert "dropped without collect_tasks()" not in under.stderr


def test_a_missing_script_is_said_in_one_line(tmp_path: Path) -> None:
    under = run_app("--no-window", str(tmp_path / "absent.py"))
    assert under.returncode == 2
    assert under.stderr.startswith("run: cannot open") and under.stderr.count("\n") == 1


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM: the window installs its own right
    before it shows itself."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def test_the_window_follows_the_run_in_a_process_of_its_own(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        from concurrent.futures import ProcessPoolExecutor

        if __name__ == "__main__":
            with ProcessPoolExecutor(1) as pool:
                print(sum(pool.map(abs, range(-3, 0))))
        """,
    )
    record = tmp_path / "run.jsonl"
    window: psutil.Process | None = None
    said: list[tuple[str, str]] = []
    try:
        under = run_app("--record", str(record), str(path), env={"QT_QPA_PLATFORM": "offscreen"})
        # Found first, so that the window is ended whatever fails below.
        said = re.findall(r"^run: the window \(pid (\d+)\) follows (.*)$", under.stderr, re.M)
        assert under.returncode == 0, under.stderr
        assert under.stdout == "6\n"
        assert len(said) == 1 and said[0][1] == str(record), under.stderr
        window = psutil.Process(int(said[0][0]))
        assert "watch" in window.cmdline() and str(record) in window.cmdline()
        assert "the window ended" not in under.stderr and "report" not in under.stderr
        end = time.monotonic() + DEADLINE
        while not _catches_sigterm(window.pid):  # up, with its own SIGTERM handler
            assert window.is_running(), "the window ended by itself"
            assert time.monotonic() < end, "the window never came up"
            time.sleep(0.05)
        assert window.is_running()  # it stays open once the script has ended
        window.terminate()  # closes the window properly
        window.wait(timeout=30)
        assert read_run(record).complete
    finally:
        for pid, _path in said:  # a window left running leaks out of the test run
            with contextlib.suppress(psutil.NoSuchProcess):
                window = psutil.Process(int(pid))
                if "watch" in window.cmdline():
                    window.kill()
                    window.wait(timeout=10)


def test_a_record_file_that_is_not_a_run_is_refused_before_the_script_runs(
    tmp_path: Path,
) -> None:
    path = script(tmp_path, "print('ran')\n")
    mine = tmp_path / "notes.txt"
    mine.write_text("my own notes\n")
    under = run_app("--no-window", "--record", str(mine), str(path))
    assert under.returncode == 2 and under.stdout == ""
    assert "is not a run recording" in under.stderr
    assert mine.read_text() == "my own notes\n"


def test_a_record_folder_gets_a_new_file_for_each_executor(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        from concurrent.futures import ProcessPoolExecutor

        if __name__ == "__main__":
            for n in range(2):
                with ProcessPoolExecutor(1) as pool:
                    pool.submit(abs, n).result()
        """,
    )
    folder = tmp_path / "runs"
    folder.mkdir()
    under = run_app("--no-window", "--record", str(folder), str(path))
    assert under.returncode == 0, under.stderr
    runs = sorted(folder.iterdir())
    assert len(runs) == 2 and all(read_run(run).complete for run in runs)


def test_ctrl_c_ends_the_script_and_closes_its_executors_at_once(tmp_path: Path) -> None:
    started = tmp_path / "started"
    path = script(
        tmp_path,
        f"""
        import time
        from concurrent.futures import ProcessPoolExecutor


        def hold(path):
            open(path, "w").close()
            time.sleep(600)


        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1)
            pool.submit(hold, {str(started)!r})
            pool.submit(abs, -1)
            time.sleep(600)
        """,
    )
    record = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--no-window", "--record", str(record), str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + DEADLINE
        while not started.exists():
            assert process.poll() is None, process.communicate(timeout=10)
            assert time.monotonic() < end, "the call never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)  # the workers are in sessions of their own
        _, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 130
    assert "KeyboardInterrupt" in err
    tasks = read_run(record).tasks()
    assert tasks["hold-1"].state is TaskState.TIMED_OUT
    assert tasks["abs-2"].state is TaskState.CANCELLED


def test_a_replacement_started_after_the_scripts_last_line_still_finds_its_functions(
    tmp_path: Path,
) -> None:
    """The script's body ends at once; its first worker dies later, while the pending
    calls are being finished: the replacement re-imports the script as ``__mp_main__``."""
    path = script(
        tmp_path,
        """
        import os
        import time
        from concurrent.futures import ProcessPoolExecutor


        def slow(n):
            time.sleep(0.3)
            return n


        def crash():
            os._exit(3)


        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1)
            pool.submit(slow, 0)
            pool.submit(crash)
            for n in range(1, 4):
                pool.submit(slow, n)
        """,
    )
    record = tmp_path / "run.jsonl"
    under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 0, under.stderr
    tasks = read_run(record).tasks()
    assert {task_id: t.state for task_id, t in tasks.items()} == {
        "slow-1": TaskState.DONE,
        "crash-2": TaskState.CRASHED,
        "slow-3": TaskState.DONE,
        "slow-4": TaskState.DONE,
        "slow-5": TaskState.DONE,
    }
    assert len({t.worker_pid for t in tasks.values()}) == 2


def test_ctrl_c_while_pending_calls_are_finished_at_the_end_ends_the_wait(
    tmp_path: Path,
) -> None:
    started = tmp_path / "started"
    path = script(
        tmp_path,
        f"""
        import time
        from concurrent.futures import ProcessPoolExecutor


        def hold(path):
            open(path, "w").close()
            time.sleep(600)


        if __name__ == "__main__":
            ProcessPoolExecutor(1).submit(hold, {str(started)!r})
            print("the script is done")
        """,
    )
    record = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--no-window", "--record", str(record), str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + DEADLINE
        while not started.exists():
            assert process.poll() is None, process.communicate(timeout=10)
            assert time.monotonic() < end, "the call never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 130
    assert out == "the script is done\n"
    assert "interrupted while waiting for pending executor calls" in err
    run = read_run(record)
    assert run.complete and run.tasks()["hold-1"].state is TaskState.TIMED_OUT
