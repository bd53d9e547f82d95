"""A comparison's result as cells for the window's Compare tab: each outcome in the words
of ``compare_command.cell``, and whether, and how, it differs from the facade's outcome
of the same task.

An outcome differs when the task ended another way (a value, an exception, still
waiting), raised another exception type, or returned another value. The message's words
do not count: each library words the same end its own way, with its own pids.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from app.teaching.compare_command import WAITING_TEXT, cell
from app.teaching.scenarios import SCENARIOS
from app.teaching.stdlib_cache import cache_file, why_not_result
from app.teaching.stdlib_contender import CONTENDERS, Outcome

REFERENCE = CONTENDERS[0]
"""The contender the others are compared with: the facade."""
VALUE_SHOWN = 60  # characters of a value quoted in a difference


@dataclass(frozen=True)
class Cell:
    """One task's outcome under one contender."""

    text: str  # as ``compare_command.cell`` words it
    differs: str | None  # how it differs from the facade's, in a sentence; None when alike


@dataclass(frozen=True)
class Row:
    task_id: str
    cells: tuple[Cell, ...]  # one per contender, in the order of ``CONTENDERS``


@dataclass(frozen=True)
class Observed:
    """When and how a result was observed, for the tab's header line."""

    at: float | None  # seconds since the epoch; None when not known
    fresh: bool  # run in this window, rather than read from the cache
    deadline: float | None  # seconds each contender was given; None when not known


def rows(result: Any, name: str) -> list[Row]:
    """The comparison's rows, one per task in the scenario's order; a ValueError saying
    why when ``result`` is not a comparison of scenario ``name``."""
    problem = why_not_result(result, name)
    if problem is not None:
        raise ValueError(f"not a comparison of {name!r}: {problem}")
    contenders: dict[str, dict[str, Outcome]] = result["contenders"]
    found = []
    for task_id, facade in contenders[REFERENCE].items():
        cells = [Cell(cell(task_id, facade), None)]
        for contender in CONTENDERS[1:]:
            outcome = contenders[contender][task_id]
            cells.append(Cell(cell(task_id, outcome), difference(facade, outcome)))
        found.append(Row(task_id, tuple(cells)))
    return found


def difference(facade: Outcome, other: Outcome) -> str | None:
    """How ``other`` differs from the facade's outcome of the same task, or None."""
    kind = other.get("kind")
    if kind == facade.get("kind"):
        if kind == "exception" and other.get("exception") == facade.get("exception"):
            return None
        if kind == "value" and other.get("value") == facade.get("value"):
            return None
        if kind not in ("exception", "value"):
            return None  # both still waiting
    state = facade.get("state")
    theirs = f"ended {state} ({ended(facade)})" if state else ended(facade)
    return f"Unlike the facade: here the task {ended(other)}, where the facade's {theirs}."


def ended(outcome: Outcome) -> str:
    """How a task ended, in a few words: what it returned, what it raised, or the wait."""
    kind = outcome.get("kind")
    if kind == "value":
        shown = json.dumps(outcome.get("value"), ensure_ascii=False)
        if len(shown) > VALUE_SHOWN:
            shown = shown[: VALUE_SHOWN - 1] + "…"
        return f"returned {shown}"
    if kind == "exception":
        return f"raised {outcome.get('exception')}"
    return f"was {WAITING_TEXT}"


def stored(name: str) -> Observed:
    """When the cache's result of scenario ``name`` was stored (its file's time), and
    with which deadline; what cannot be read is not known."""
    path = cache_file(name)
    try:
        at: float | None = path.stat().st_mtime
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Observed(None, False, None)
    given = content.get("deadline") if isinstance(content, dict) else None
    if isinstance(given, bool) or not isinstance(given, int | float):
        return Observed(at, False, None)
    return Observed(at, False, float(given) if math.isfinite(given) and given > 0 else None)


def header(result: dict[str, Any], observed: Observed) -> list[str]:
    """The lines above the table: the scenario, then the Python version, when (and
    whence) the result was observed, and each contender's deadline."""
    name = str(result.get("scenario"))
    scenario = SCENARIOS.get(name)
    title = f"{name}: {scenario.title}" if scenario is not None else name
    whence = "run in this window" if observed.fresh else "read from the cache"
    when = "at an unknown time" if observed.at is None else _when(observed.at)
    given = (
        "each run's deadline is not known"
        if observed.deadline is None
        else f"each run given {observed.deadline:g} s"
    )
    return [title, f"Python {result.get('python')}; observed {when} ({whence}); {given}"]


def _when(at: float) -> str:
    try:
        local = time.localtime(at)
    except (OverflowError, OSError, ValueError):  # NaN, or beyond the platform's clock
        return "at an unknown time"
    day, clock = time.strftime("%Y-%m-%d", local), time.strftime("%H:%M:%S", local)
    return f"at {clock} today" if day == time.strftime("%Y-%m-%d") else f"on {day} at {clock}"
