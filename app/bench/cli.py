"""``python -m app bench``: its options, and the benchmark they choose.

One command measures five things: the facade against the standard library (the
default), the window under load (``--gui``), the window on another program's recorded run
(``--gui --watch``), the facade next to Dask (``--dask``) and what recording a run costs
(``--record``).
Each benchmark module is imported only when chosen, so the window's Qt and Dask's
``distributed`` load only for the benchmark that needs them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

DESCRIPTION = (
    "Tasks/s of the worker facade (telemetry on and off) against ProcessPoolExecutor, Pool and "
    "a raw Queue floor; kill-to-event and forced-cancel-to-event latency; process_task "
    "latency; memory for 100k tasks. With --gui: the window under 100,000 tasks (offscreen); "
    "with --gui --watch: the window following another program's recording, then opening and "
    "scrubbing it; with --dask: the facade next to a Dask LocalCluster; with --record: "
    "recording a run on and off."
)

# benchmark -> the options it takes, with their defaults
DEFAULTS: dict[str, dict[str, int]] = {
    "local": {"n": 20_000, "rounds": 3, "kills": 20, "submits": 20_000, "rss_tasks": 100_000},
    "window": {"n": 100_000},
    "watch": {"n": 100_000},
    "dask": {"n": 2_000, "rounds": 2, "dask_workers": 2},
    "record": {"n": 100_000, "rounds": 2},
}
TIMEOUTS = {"local": 120.0, "window": 300.0, "watch": 300.0, "dask": 300.0, "record": 300.0}
FLAGS = {
    "n": "-n",
    "rounds": "--rounds",
    "kills": "--kills",
    "submits": "--submits",
    "rss_tasks": "--rss-tasks",
    "dask_workers": "--workers",
}
NAMES = {
    "local": "the local benchmark",
    "window": "bench --gui",
    "watch": "bench --gui --watch",
    "dask": "bench --dask",
    "record": "bench --record",
}


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds(text: str) -> float:
    """An argparse type: a finite positive number of seconds."""
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _defaults(key: str) -> str:
    """How a help line states an option's defaults: ``20,000; --dask 2,000``."""
    flags = {
        "local": "",
        "window": "--gui ",
        "watch": "--gui --watch ",
        "dask": "--dask ",
        "record": "--record ",
    }
    given = [f"{flags[b]}{d[key]:,}" for b, d in DEFAULTS.items() if key in d]
    return f"default {'; '.join(given)}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options, on the parser of its subcommand."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--gui",
        dest="benchmark",
        action="store_const",
        const="window",
        help="the window under load, offscreen, next to the bare facade",
    )
    which.add_argument(
        "--dask",
        dest="benchmark",
        action="store_const",
        const="dask",
        help="the local facade next to a Dask LocalCluster (needs the [dask] extra)",
    )
    which.add_argument(
        "--record",
        dest="benchmark",
        action="store_const",
        const="record",
        help="the same run recorded to a file and not: throughput ratio and file size",
    )
    parser.set_defaults(benchmark="local")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="with --gui: the window following another program's recorded run, then "
        "opening and scrubbing it",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-n", type=positive, help=f"no-op tasks per round ({_defaults('n')})")
    parser.add_argument(
        "--rounds", type=positive, help=f"rounds; the best is kept ({_defaults('rounds')})"
    )
    parser.add_argument(
        "--kills",
        type=positive,
        help=f"SIGKILLs, and forced cancels, to time ({_defaults('kills')})",
    )
    parser.add_argument("--submits", type=positive, help=f"timed submits ({_defaults('submits')})")
    parser.add_argument(
        "--workers",
        dest="dask_workers",
        type=positive,
        metavar="N",
        help=f"with --dask: worker processes each (default {DEFAULTS['dask']['dask_workers']})",
    )
    parser.add_argument("--rss-tasks", type=positive, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=seconds, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, error: Callable[[str], NoReturn]) -> int:
    """Run the benchmark ``args`` chose; ``error`` refuses an option it does not take."""
    chosen: str = args.benchmark
    if args.watch:
        if chosen != "window":
            error("--watch is only valid with --gui")
        chosen = "watch"
    defaults = DEFAULTS[chosen]
    misplaced = [
        flag
        for key, flag in FLAGS.items()
        if key not in defaults and getattr(args, key) is not None
    ]
    if misplaced:
        error(f"{', '.join(misplaced)}: not an option of {NAMES[chosen]}")
    given = {key: getattr(args, key) for key in defaults if getattr(args, key) is not None}
    value = defaults | given
    timeout: float = TIMEOUTS[chosen] if args.timeout is None else args.timeout
    if chosen == "window":
        from app.bench import window  # Qt only when asked for

        return window.benchmark(value["n"], timeout, args.json)
    if chosen == "watch":
        from app.bench import watch

        return watch.benchmark(value["n"], timeout, args.json)
    if chosen == "dask":
        from app.bench import on_dask

        return on_dask.benchmark(
            value["n"], value["dask_workers"], value["rounds"], timeout, args.json
        )
    if chosen == "record":
        from app.bench import record

        return record.benchmark(value["n"], value["rounds"], timeout, args.json)
    from app.bench import local

    options = local.Options(
        n=value["n"],
        rounds=value["rounds"],
        kills=value["kills"],
        submits=value["submits"],
        rss_tasks=value["rss_tasks"],
        timeout=timeout,
    )
    return local.benchmark(options, args.json)
