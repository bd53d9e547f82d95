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
    sub.add_parser("demo", help="run the original scenario in this terminal")
    sub.add_parser("bench", help="measure the facade against the standard library", add_help=False)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (window)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from app import demo

        return demo.main()
    if args.command == "bench":
        from app import bench

        return bench.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from app.gui import app

    return app.main(["--workers", str(args.workers)])


if __name__ == "__main__":
    sys.exit(main())
