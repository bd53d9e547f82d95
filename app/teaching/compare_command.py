"""``python -m app compare NAME [--json]``: a scenario's workload under the standard
library's pools and this facade, run now, and what each task got in each, as a table
(one row per task, one column per contender) or one JSON object.

Each run is stored in the cache of observed outcomes for this Python version, for the
explainer and the window's Compare tab.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from app.reports.report import say
from app.teaching.scenarios import SCENARIOS
from app.teaching.stdlib_cache import store
from app.teaching.stdlib_contender import CONTENDERS, Outcome
from app.teaching.stdlib_runs import DEADLINE, check_deadline, run_compare

WAITING_TEXT = "still waiting at the deadline"
MIN_CELL = 16  # characters: narrower terminals get longer lines rather than no text
CELL_LINES = 3  # lines of a cell at most
MORE = "…"
NAME_SHOWN = 60  # characters of an unknown name said back


def main(
    name: str,
    json_output: bool,
    deadline: float | None = None,
    out: Callable[[str], None] = say,
) -> int:
    """Runs and prints the comparison (``deadline`` seconds each, ``DEADLINE`` when None);
    0; 1 when a run ended without a report or its output could not be written; 2 for a
    scenario or deadline refused."""
    if name not in SCENARIOS:
        shown = repr(name) if len(name) <= NAME_SHOWN else repr(name[:NAME_SHOWN]) + MORE
        print(f"unknown scenario {shown}; one of: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    try:
        deadline = DEADLINE if deadline is None else check_deadline(deadline)
    except ValueError as exc:
        print(f"compare: --deadline: {exc}", file=sys.stderr)
        return 2
    try:
        result = run_compare(name, deadline)
    except RuntimeError as exc:  # a contender ended without telling what it saw
        print(f"compare: {exc}", file=sys.stderr)
        return 1
    store(result, deadline)
    try:
        if json_output:
            out(json.dumps(result))
        else:
            out("\n".join(table(result, deadline, shutil.get_terminal_size().columns)))
    except OSError as exc:  # a closed output, a full disk: the run is stored all the same
        print(f"compare: the output could not be written: {exc}", file=sys.stderr)
        return 1
    return 0


def cell(task_id: str, outcome: Outcome) -> str:
    """One outcome in a few words: the value, the exception and its message, or the wait;
    a facade's outcome begins with its task's state."""
    kind = outcome.get("kind")
    if kind == "value":
        text = json.dumps(outcome.get("value"), ensure_ascii=False)
    elif kind == "exception":
        message = str(outcome.get("message"))
        message = message.removeprefix(f"task {task_id!r}: ")  # the row says which task
        text = f"{outcome.get('exception')}: {message}"
    else:
        text = WAITING_TEXT
    state = outcome.get("state")
    return f"{state} {text}" if state and kind != "waiting" else text


def table(result: dict[str, Any], deadline: float, width: int) -> list[str]:
    """The comparison in lines of about ``width`` characters: each cell wrapped in its
    column, and cut after a few lines, with a note that ``--json`` has it whole."""
    scenario = SCENARIOS[result["scenario"]]
    contenders = result["contenders"]
    ids = list(contenders[CONTENDERS[0]])
    id_width = max([len("task"), *(len(i) for i in ids)])
    texts = {i: [cell(i, contenders[c][i]) for c in CONTENDERS] for i in ids}
    widest = max([len(c) for c in CONTENDERS] + [len(t) for row in texts.values() for t in row])
    column = max(MIN_CELL, (width - id_width - 2 * len(CONTENDERS)) // len(CONTENDERS))
    column = min(column, max(MIN_CELL, widest))  # a huge width pads no cell past its text
    lines = [
        f"{scenario.name}: {scenario.title}",
        f"Python {result['python']}; {_workers(scenario.options)} each; "
        f"each run given {deadline:g} s",
        "",
        *_row("task", list(CONTENDERS), id_width, column),
    ]
    cut = False
    for task_id in ids:
        cells = [_wrapped(text, column) for text in texts[task_id]]
        cut = cut or any(text[-1].endswith(MORE) for text in cells)
        lines += _row(task_id, cells, id_width, column)
    if cut:
        lines += ["", f"({MORE} long messages are cut: --json prints them whole)"]
    return lines


def _workers(options: dict[str, Any]) -> str:
    count = int(options.get("workers", 1))
    return "one worker" if count == 1 else f"{count} workers"


def _row(first: str, cells: list[str] | list[list[str]], id_width: int, column: int) -> list[str]:
    """A task's row: as many lines as its tallest cell."""
    wrapped = [[c] if isinstance(c, str) else c for c in cells]
    height = max(len(c) for c in wrapped)
    lines = []
    for n in range(height):
        shown = [(c[n] if n < len(c) else "").ljust(column) for c in wrapped]
        lines.append("  ".join([(first if n == 0 else "").ljust(id_width), *shown]).rstrip())
    return lines


def _wrapped(text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, width, break_long_words=True) or [""]
    if len(lines) > CELL_LINES:
        last = lines[CELL_LINES - 1]
        lines = [*lines[: CELL_LINES - 1], last[: width - 1].rstrip() + MORE]
    return lines
