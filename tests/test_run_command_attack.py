"""``python -m app run`` attacked as a hostile user would: scripts that end in odd ways,
streams the script broke, paths that cannot be recorded to, absurd pool sizes. Each
case found a traceback spewed at the user, a wrong exit status or a runaway; python's own
behaviour is the reference."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core import WorkingProcessFacade
from app.script_checks import screen_problem
from tests.core.helpers import finish
from tests.test_run_command import DEADLINE, ROOT, launch, run_app, script

OK = textwrap.dedent(
    """
    from concurrent.futures import ProcessPoolExecutor

    if __name__ == "__main__":
        with ProcessPoolExecutor(1) as pool:
            print(pool.submit(abs, -4).result())
    """
)


def test_a_syntax_error_is_told_as_python_tells_it(tmp_path: Path) -> None:
    path = script(tmp_path, "def f(:\n    pass\n")
    plain = launch([str(path)])
    under = run_app("--no-window", str(path))
    assert under.returncode == plain.returncode == 1
    assert "script_runner" not in under.stderr and "Traceback" not in under.stderr
    assert f'File "{path}", line 1' in under.stderr and "SyntaxError" in under.stderr


@pytest.mark.parametrize(
    ("code", "status"), [("10**30", 255), ("2**64 + 3", 255), ("2**32 + 5", 5)]
)
def test_a_huge_exit_code_gives_pythons_status(tmp_path: Path, code: str, status: int) -> None:
    path = script(tmp_path, f"import sys\nsys.exit({code})\n")
    assert launch([str(path)]).returncode == status  # python's own rule, checked here
    under = run_app("--no-window", str(path))
    assert under.returncode == status, under.stderr


def test_an_exit_object_that_cannot_be_printed_ends_with_1_and_no_traceback(
    tmp_path: Path,
) -> None:
    path = script(
        tmp_path,
        """
        import sys


        class Unprintable:
            def __str__(self):
                raise RuntimeError("no words")


        sys.exit(Unprintable())
        """,
    )
    under = run_app("--no-window", str(path))
    assert under.returncode == launch([str(path)]).returncode == 1
    assert "Traceback" not in under.stderr and "no words" not in under.stderr, under.stderr


@pytest.mark.parametrize(
    "body",
    [
        "sys.stdout.close()",
        "sys.stdout = None",
        "sys.stdout = sys.stderr = None",
        "sys.stderr.close()",
    ],
)
def test_a_script_that_closed_or_dropped_its_streams_keeps_its_status(
    tmp_path: Path, body: str
) -> None:
    path = script(tmp_path, f"import sys\nprint('hello')\n{body}\n" + OK.replace("print", "str"))
    record = tmp_path / "run.jsonl"
    plain = launch([str(path)])
    under = run_app("--no-window", "--record", str(record), str(path))
    assert plain.returncode == 0
    assert under.returncode == 0, under.stderr
    assert under.stdout.startswith("hello\n") and "Traceback" not in under.stderr
    assert "run:" not in under.stdout and str(record) not in under.stdout  # never the script's


def test_the_runners_words_never_land_in_the_scripts_stdout(tmp_path: Path) -> None:
    """A script that silenced ``sys.stderr`` (None): ``print(file=None)`` would write the
    report to stdout, which is the script's own (a pipe into another program)."""
    path = script(tmp_path, "import sys\nsys.stderr = None\n" + OK)
    record = tmp_path / "run.jsonl"
    under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 0, under.stderr
    assert under.stdout == "4\n"
    assert str(record) in under.stderr  # the report goes where the runner's words go


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ("", "an empty path"),
        ("/proc/no-such-thing/run.jsonl", "/proc/no-such-thing"),
        ("/proc/run.jsonl", "/proc/run.jsonl"),
        ("{file}/run.jsonl", "plain.txt is not a folder"),
    ],
)
def test_a_record_path_that_cannot_be_written_is_refused_before_the_script_runs(
    tmp_path: Path, record: str, said: str
) -> None:
    marker = tmp_path / "ran"
    path = script(tmp_path, f"open({str(marker)!r}, 'w').close()\n" + OK)
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    under = run_app("--no-window", "--record", record.format(file=a_file), str(path))
    assert under.returncode == 2, under.stderr
    assert under.stderr.startswith("run: --record") and under.stderr.count("\n") == 1
    assert said in under.stderr and "Traceback" not in under.stderr
    assert not marker.exists()  # the script never began


def _few_files() -> None:
    """A tight open-file limit: without the check, the eager start would run out of
    descriptors after a couple of dozen workers instead of taking the machine down."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@pytest.mark.parametrize("workers", ["10**6", "10**100", "1000"])
def test_an_absurd_max_workers_is_refused_before_any_worker_starts(
    tmp_path: Path, workers: str
) -> None:
    path = script(
        tmp_path,
        f"""
        from concurrent.futures import ProcessPoolExecutor

        if __name__ == "__main__":
            try:
                ProcessPoolExecutor({workers})
            except ValueError as exc:
                print("ValueError:", exc)
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--no-window", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_few_files,
    )
    out, err = finish(process, DEADLINE)
    assert process.returncode == 0, err
    assert out.startswith("ValueError: max_workers") and "RLIMIT_NOFILE" in out, (out, err)
    assert "nothing was recorded" in err  # no executor came to be


def test_a_display_without_a_server_is_no_screen(tmp_path: Path) -> None:
    """A ``DISPLAY`` left over from a closed session: the window would abort in Qt after
    the script ended, and the user would get neither a window nor the report."""
    free = next(n for n in range(4000, 5000) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    env = {"DISPLAY": f":{free}", "QT_QPA_PLATFORM": "", "WAYLAND_DISPLAY": ""}
    saved = {key: os.environ.get(key) for key in env}
    try:
        os.environ.update(env)
        assert screen_problem() == f"no X server answers on DISPLAY=:{free}"
        with socket.socket(socket.AF_UNIX) as server:  # a server there: a screen
            server.bind(f"\0/tmp/.X11-unix/X{free}")  # Linux's abstract name, no file
            server.listen()
            assert screen_problem() is None
            os.environ["DISPLAY"] = f"unix:{free}.0"
            assert screen_problem() is None
        os.environ["DISPLAY"] = "remote.example:0"  # not checked here: the window says
        assert screen_problem() is None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    path = script(tmp_path, OK)
    under = run_app("--record", str(tmp_path / "run.jsonl"), str(path), env=env)
    assert under.returncode == 0, under.stderr
    assert under.stdout == "4\n"
    assert "no screen" in under.stderr and "the window (pid" not in under.stderr
    assert "1 task(s): 1 DONE" in under.stderr  # the report instead of a window


def launch_group(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``launch``, in a process group of its own, all of it killed at the end: a forked
    child that hangs holds the output pipes, and outlives its parent."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=DEADLINE / 3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_forked_child_that_exits_leaves_the_parents_pool_alone(tmp_path: Path) -> None:
    """A script forks while its executor runs; the child leaves the ``with`` block by
    ``sys.exit(0)``, as a child of ``os.fork()`` may. Plain python: the parent's calls
    finish. Under run, the child's copy of the facade collected: it killed the parent's
    workers ("the facade's I/O thread died; killing its workers") and hung on a lock the
    fork had copied held, and the parent waited for it for ever."""
    path = script(
        tmp_path,
        """
        import os
        import sys
        import time
        from concurrent.futures import ProcessPoolExecutor


        def slow(n):
            time.sleep(1.0)
            return n


        if __name__ == "__main__":
            with ProcessPoolExecutor(2) as pool:
                futures = [pool.submit(slow, n) for n in range(2)]
                time.sleep(0.3)
                child = os.fork()
                if child == 0:
                    sys.exit(0)
                os.waitpid(child, 0)
                print([f.result() for f in futures])
        """,
    )
    plain = launch_group([str(path)])
    assert plain.returncode == 0 and plain.stdout == "[0, 1]\n", plain.stderr
    record = tmp_path / "run.jsonl"
    under = launch_group(["-m", "app", "run", "--no-window", "--record", str(record), str(path)])
    assert under.returncode == 0, under.stderr
    assert under.stdout == "[0, 1]\n"
    assert "killing" not in under.stderr, under.stderr
    # One report, the parent's: the child leaves as python's would (multiprocessing's own
    # exit hook in it still says it cannot join its parent's workers, as under python with
    # a spawn context: not the runner's to hide).
    assert under.stderr.count("a local run of 2 worker(s)") == 1, under.stderr
    assert "2 task(s): 2 DONE" in under.stderr


def test_a_record_file_another_run_is_writing_is_refused_before_the_script_runs(
    tmp_path: Path,
) -> None:
    record = tmp_path / "run.jsonl"
    marker = tmp_path / "ran"
    path = script(tmp_path, f"open({str(marker)!r}, 'w').close()\n" + OK)
    with WorkingProcessFacade(record=record):  # recording there now
        under = run_app("--no-window", "--record", str(record), str(path))
    assert under.returncode == 2, under.stderr
    assert under.stderr.startswith("run: --record") and under.stderr.count("\n") == 1
    assert "recording its run there now" in under.stderr and not marker.exists()


def test_a_script_on_standard_input_is_refused_saying_why() -> None:
    """``python -`` reads the script from standard input; workers could not re-import it,
    and "cannot open '-': No such file or directory" said nothing of that."""
    under = run_app("--no-window", "-")
    assert under.returncode == 2
    assert (
        under.stderr.startswith("run: the script must be a file") and under.stderr.count("\n") == 1
    )


def _very_few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_the_default_max_workers_is_what_this_process_can_hold(tmp_path: Path) -> None:
    """``ProcessPoolExecutor()`` on a machine with more cores than the open-file limit
    allows workers for: as many as fit, not a ValueError (nor EMFILE half-way)."""
    path = script(
        tmp_path,
        """
        import os
        from concurrent.futures import ProcessPoolExecutor

        if __name__ == "__main__":
            os.cpu_count = lambda: 500  # a big machine
            with ProcessPoolExecutor() as pool:
                print(len(pool.worker_info()), pool.submit(abs, -2).result())
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--no-window", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_very_few_files,
    )
    out, err = finish(process, DEADLINE)
    assert process.returncode == 0, err
    assert out == "2 2\n"  # (64 - 32) // 12


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ("x" * 300 + ".jsonl", "File name too long"),
        ("loop/run.jsonl", "Too many levels of symbolic links"),
        ("loop", "not a regular file"),
        ("loop/", "Too many levels of symbolic links"),
        ("link.jsonl", "not a regular file"),  # the recorder never follows a link
    ],
)
def test_a_record_path_through_odd_links_or_names_is_refused_before_the_script_runs(
    tmp_path: Path, record: str, said: str
) -> None:
    """``Path.exists`` says False for a looping link, and a name too long raised from the
    path's first look: a traceback before the script, or from its executor line."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop")
    with WorkingProcessFacade(record=tmp_path / "real.jsonl"):
        pass
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    marker = tmp_path / "ran"
    path = script(tmp_path, f"open({str(marker)!r}, 'w').close()\n" + OK)
    under = run_app("--no-window", "--record", f"{tmp_path}/{record}", str(path))
    assert under.returncode == 2, under.stderr
    assert under.stderr.startswith("run: --record") and under.stderr.count("\n") == 1
    assert said in under.stderr and "Traceback" not in under.stderr
    assert not marker.exists()


def test_a_runs_folder_that_cannot_be_written_is_said_before_the_script_runs(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    path = script(tmp_path, f"open({str(marker)!r}, 'w').close()\n" + OK)
    under = run_app("--no-window", str(path), env={"WORKER_MONITOR_RUNS": "/proc/no-such-runs"})
    assert under.returncode == 2, under.stderr
    assert under.stderr.startswith("run: the runs folder (WORKER_MONITOR_RUNS)")
    assert under.stderr.count("\n") == 1 and not marker.exists()
