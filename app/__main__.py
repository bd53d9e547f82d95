"""``python -m app``: the monitor window; ``open`` and ``watch`` (the window on a recorded
run); ``run`` (a script on the facade); ``demo``, ``compare``, ``bench``, ``report``
and ``trace`` in the terminal.

The command line is parsed here, once; each command then imports only what it needs (the
terminal demo and the benchmarks never load Qt unless asked to).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from app.bench import cli as bench_cli
from app.core.room import worker_room

WINDOW_OPTIONS = (("--workers", "workers"), ("--dask", "dask"))
"""The window's options (flag, attribute): before ``demo`` or ``bench`` they are an error."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="A monitor for a Python multiprocessing worker. Without a command, it "
        "opens the monitor window.",
    )
    parser.add_argument("--workers", type=int, help="worker processes (window; default 1)")
    parser.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the tasks on Dask: a LocalCluster here, or the scheduler at ADDRESS "
        "(tcp://host:8786); needs the [dask] extra",
    )
    sub = parser.add_subparsers(dest="command")
    demo_parser = sub.add_parser(
        "demo",
        help="run a scenario in this terminal",
        description="Run a guided scenario in this terminal: its narration, then the final "
        "table; the exit status is non-zero if a task ends otherwise than documented.",
    )
    demo_parser.add_argument(
        "--scenario",
        help="one of: " + ", ".join(_scenario_names()) + " (default: the narrated original)",
    )
    demo_parser.add_argument(
        "--step",
        action="store_true",
        help="with --scenario: before each step, print what it will do and wait for Enter "
        "(end of input plays the rest without waiting); not for local-vs-dask",
    )
    bench_parser = sub.add_parser(
        "bench",
        help="measure the facade against the standard library",
        description=bench_cli.DESCRIPTION,
    )
    bench_cli.add_arguments(bench_parser)
    report_parser = sub.add_parser(
        "report",
        help="a recorded run's tasks and worker deaths",
        description="Print a recorded run's tasks and worker deaths as a table (or one JSON "
        "object). Exit status 0 when the run could be read, complete or not; 2 when the "
        "file is missing or not a run.",
    )
    report_parser.add_argument("file", help="a run file (JSON Lines, from record=)")
    report_parser.add_argument("--json", action="store_true", help="print one JSON object")
    trace_parser = sub.add_parser(
        "trace",
        help="a recorded run in the Chrome trace format (Perfetto)",
        description="Write a recorded run in the Chrome trace event format: one track per "
        "worker process, one slice per task attempt, an instant at each worker death.",
    )
    trace_parser.add_argument("file", help="a run file (JSON Lines, from record=)")
    trace_parser.add_argument("out", help="the trace file to write (JSON)")
    compare_parser = sub.add_parser(
        "compare",
        help="a scenario under ProcessPoolExecutor, multiprocessing.Pool and the facade",
        description="Run a scenario's tasks under ProcessPoolExecutor, multiprocessing.Pool "
        "and this facade, each in a process of its own bounded by a deadline, and print what "
        "each task got in each: its value, its exception, or still waiting at the deadline.",
    )
    compare_parser.add_argument("name", metavar="NAME", help="the scenario")
    compare_parser.add_argument("--json", action="store_true", help="print one JSON object")
    compare_parser.add_argument(
        "--deadline", type=float, help="seconds each run is given (10 by default)"
    )
    open_parser = sub.add_parser(
        "open",
        help="open a recorded run in the window, to replay it",
        description="Open a recorded run in the window, with its time controls; a run that "
        "a program is still writing is followed.",
    )
    open_parser.add_argument("file", help="a run file (JSON Lines, from record=)")
    watch_parser = sub.add_parser(
        "watch",
        help="watch a program's run live, from outside it",
        description="Follow a run while another program records it (WORKER_MONITOR_RECORD=1). "
        "Without FILE: the run being recorded in the runs folder now, or a list to choose "
        "from when there are several.",
    )
    watch_parser.add_argument("file", nargs="?", help="the run file to follow")
    run_parser = sub.add_parser(
        "run",
        help="run a script with ProcessPoolExecutor replaced by the facade",
        description="Run SCRIPT as __main__ with concurrent.futures.ProcessPoolExecutor "
        "replaced by the facade (workers restarted when they die), record each executor's "
        "run, and follow the first in a window. The exit status is the script's.",
    )
    run_parser.add_argument(
        "--no-window", action="store_true", help="print the run's report at the end instead"
    )
    run_parser.add_argument(
        "--record", metavar="FILE", help="the run file (default: a new file in the runs folder)"
    )
    run_parser.add_argument("script", help="the Python script to run")
    run_parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    args = parser.parse_args(argv)
    window_options = [flag for flag, key in WINDOW_OPTIONS if getattr(args, key) is not None]
    if args.command and window_options:
        parser.error(f"{window_options[0]} is an option of the window, not of {args.command}")
    if args.command in ("open", "watch"):
        from app.gui.app import run_recording  # Qt only for the window

        return run_recording(args.file, watch=args.command == "watch")
    if args.command == "run":
        from app.script_runner import run

        return run(args.script, args.args, args.record, window=not args.no_window)
    if args.command == "report":
        return _report(args.file, args.json)
    if args.command == "trace":
        return _trace(args.file, args.out)
    if args.command == "demo":
        if args.step and args.scenario in (None, "", "local-vs-dask"):
            demo_parser.error("--step needs --scenario NAME, one of the facade's scenarios")
        return _interruptible(lambda: _demo(args.scenario, args.step))
    if args.command == "bench":
        return _interruptible(lambda: bench_cli.run(args, bench_parser.error))
    if args.command == "compare":
        from app.teaching.compare_command import main as compare

        return _interruptible(lambda: compare(args.name, args.json, args.deadline))
    workers = 1 if args.workers is None else args.workers
    if workers < 1:
        parser.error("--workers must be at least 1")
    if workers > worker_room():
        parser.error(f"--workers {workers} is more than this process can hold ({worker_room()})")
    return _window(workers, args.dask)


def _interruptible(command: Callable[[], int]) -> int:
    """Runs a terminal command; Ctrl-C ends it with one line and status 130, no traceback
    (the facades it made close as the interrupt unwinds through them)."""
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _window(workers: int, dask: str | None) -> int:
    from app.gui.app import run_window  # Qt only for the window

    return run_window(workers, dask)


def _report(path: str, json_output: bool) -> int:
    from app.reports import report

    return report.main(path, json_output)


def _trace(path: str, out: str) -> int:
    from app.reports import trace

    return trace.main(path, out)


def _demo(scenario: str | None, step: bool = False) -> int:
    if not scenario:
        from app.teaching import demo

        return demo.main()
    return _run_scenario(scenario, step)


def _scenario_names() -> list[str]:
    from app.teaching.scenarios import SCENARIOS

    return [*SCENARIOS, "local-vs-dask"]


def _run_scenario(name: str, step: bool = False) -> int:
    import logging

    from app.core.console import install_console
    from app.teaching.scenarios import SCENARIOS, run_headless
    from app.teaching.stepping import TerminalStepper

    names = _scenario_names()
    if name not in names:
        print(f"unknown scenario {name!r}; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    install_console(logging.INFO)
    if name == "local-vs-dask":
        from app.teaching.compare import run_side_by_side

        return run_side_by_side()
    return run_headless(name, on_held=TerminalStepper(SCENARIOS[name]) if step else None)


if __name__ == "__main__":
    sys.exit(main())
