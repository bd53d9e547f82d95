"""The explainer's "In the same case" lines: what the standard library's pools did in a
real run of a scenario that plays the case, quoted from this Python's cache of observed
outcomes, else the fixed claims of ``stdlib_claims``, told as documented behaviour.

Only the cache is read (``stdlib_runs.cached``): instant, for the window's thread. A
comparison is run by ``python -m app compare`` or the window's Compare tab, never here.
"""

from __future__ import annotations

import logging
from typing import Any

from app.teaching import stdlib_runs
from app.teaching.stdlib_claims import Claim, Shown, claims_for
from app.teaching.stdlib_contender import Outcome

log = logging.getLogger("app.compare")

NAMES = {"ProcessPoolExecutor": "ProcessPoolExecutor", "Pool": "multiprocessing.Pool"}
MESSAGE_SHOWN = 60  # characters of an exception's message quoted
MORE = "…"


def same_case(case: str) -> list[str]:
    """The heading and one line per pool: observed when cached, else documented."""
    claims = claims_for(case)
    shown_by = claims[0].shown_by
    for shown in shown_by:
        result = _cached(shown.scenario)
        if result is not None:
            return quoted(result, shown)
    return documented(claims)


def documented(claims: list[Claim]) -> list[str]:
    """The fixed claims, said to be what the standard library is documented to do, with
    the command that shows it on this Python when a scenario plays the case."""
    shown_by = claims[0].shown_by
    heading = "In the same case, as the standard library is documented to behave"
    if shown_by:
        heading += f" (python -m app compare {shown_by[0].scenario} shows it on this Python)"
    return [heading + ":", *(f"- {c.text}" for c in claims)]


def quoted(result: dict[str, Any], shown: Shown) -> list[str]:
    """What each pool did in ``result``, a comparison of ``shown.scenario``."""
    lines = [
        f"In the same case, really run on Python {result['python']} (python -m app compare "
        f"{shown.scenario}, where {shown.task!r} {shown.does}):"
    ]
    after = shown.after()
    for contender, name in NAMES.items():
        outcomes = result["contenders"][contender]
        first = outcomes[shown.task]
        text = f"- {name}: {shown.task!r} {_told(first)}"
        for group in _groups(outcomes, after):
            text += f"; {_later(group, outcomes, first)}"
        lines.append(text + ".")
    return lines


def _cached(name: str) -> dict[str, Any] | None:
    """``stdlib_runs.cached``, and None for any cache it cannot read: an explanation is
    never lost to a damaged cache."""
    try:
        return stdlib_runs.cached(name)
    except Exception:
        log.warning("the stored outcomes of %s could not be read", name, exc_info=True)
        return None


def _told(outcome: Outcome) -> str:
    kind = outcome["kind"]
    if kind == "exception":
        return f"raised {outcome['exception']} ({_cut(outcome['message'])!r})"
    if kind == "value":
        value = outcome["value"]
        return (
            f"returned {_cut(value)!r}"
            if isinstance(value, str)
            else f"returned {_cut(repr(value))}"
        )
    return "never reported back (still waiting when the run's deadline came)"


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_SHOWN else text[: MESSAGE_SHOWN - 1].rstrip() + MORE


def _groups(outcomes: dict[str, Outcome], ids: list[str]) -> list[list[str]]:
    """The tasks in runs of the same kind of outcome (and the same exception)."""
    groups: list[list[str]] = []
    for task_id in ids:
        if groups and _sort(outcomes[groups[-1][0]]) == _sort(outcomes[task_id]):
            groups[-1].append(task_id)
        else:
            groups.append([task_id])
    return groups


def _sort(outcome: Outcome) -> tuple[str, str]:
    return outcome["kind"], str(outcome.get("exception", ""))


def _later(group: list[str], outcomes: dict[str, Outcome], first: Outcome) -> str:
    """Tasks sent after the case's one, told together, as "too" when they fared alike."""
    names = _ids(group)
    outcome = outcomes[group[0]]
    was = "was" if len(group) == 1 else "were"
    alike = _sort(outcome) == _sort(first)
    if outcome["kind"] == "exception":
        if alike:
            return f"{names}, sent after it, raised {outcome['exception']} too"
        return f"{names}, sent after it, {_told(outcome)}"
    if outcome["kind"] == "value":
        if len(group) == 1:
            return f"{names}, sent after it, ran and {_told(outcome)}"
        return f"{names}, sent after it, ran and returned their values"
    return f"{names}, sent after it, {was} still waiting" + (" too" if alike else "")


def _ids(task_ids: list[str]) -> str:
    names = [repr(i) for i in task_ids]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
