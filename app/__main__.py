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
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from app import demo

        return demo.main()
    if args.command == "bench":
        from app import bench

        return bench.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    print(
        "The monitor window is not built yet. Try:\n"
        "  python -m app demo    the original scenario, in this terminal\n"
        "  python -m app bench   the facade measured against the standard library",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
