"""``python -m app``: the monitor window; ``demo`` and ``bench`` subcommands."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="A monitor for a Python multiprocessing worker.",
    )
    sub = parser.add_subparsers(dest="command")
    demo_parser = sub.add_parser("demo", help="run a scenario in this terminal")
    demo_parser.add_argument(
        "--scenario",
        help="one of: " + ", ".join(_scenario_names()) + " (default: the narrated original)",
    )
    sub.add_parser("bench", help="measure the facade against the standard library", add_help=False)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (window)")
    parser.add_argument(
        "--dask",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the tasks on Dask: a LocalCluster here, or the scheduler at ADDRESS "
        "(tcp://host:8786); needs the [dask] extra",
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        if args.scenario:
            return _run_scenario(args.scenario)
        from app.teaching import demo

        return demo.main()
    if args.command == "bench":
        from app.bench import local as bench

        return bench.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from app.gui import app

    dask = [] if args.dask is None else ["--dask", args.dask] if args.dask else ["--dask"]
    return app.main(["--workers", str(args.workers), *dask])


def _scenario_names() -> list[str]:
    from app.teaching.scenarios import SCENARIOS

    return [*SCENARIOS, "local-vs-dask"]


def _run_scenario(name: str) -> int:
    import logging

    from app.core.console import install_console
    from app.teaching.scenarios import run_headless

    names = _scenario_names()
    if name not in names:
        print(f"unknown scenario {name!r}; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    install_console(logging.INFO)
    if name == "local-vs-dask":
        from app.teaching.compare import run_side_by_side

        return run_side_by_side()
    return run_headless(name)


if __name__ == "__main__":
    sys.exit(main())
