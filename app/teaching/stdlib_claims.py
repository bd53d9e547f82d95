"""What the explainer says the standard library's pools do in a case, as data.

Each statement is a ``Claim``: its text, the contender it speaks of, and either the
scenarios whose real comparison shows it (with a check over ``run_compare``'s result)
or, for what no scenario plays (recycling, a failing initializer, a cancel, the end of
a job), the note that it is documented behaviour. The test suite holds every claim
against real runs on the Python that runs it: the compare-checked ones through the
scenarios, the documented ones through short runs of the pools themselves.

The explainer quotes the observed outcomes instead when this Python's cache has them
(``stdlib_quotes``); these fixed sentences are what it says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.teaching.stdlib_contender import Outcome, task_ids

CRASH, TIMEOUT = "crash", "timeout"
RECYCLING, INITIALIZER, CANCEL, ENDING = "recycling", "initializer", "cancel", "ending"
CASES = (CRASH, TIMEOUT, RECYCLING, INITIALIZER, CANCEL, ENDING)
"""The cases the explainer compares with the standard library."""

Check = Callable[[dict[str, Outcome], str, list[str]], "str | None"]
"""Over a contender's outcomes, the task the case is about and the tasks sent after it:
None when they agree with the claim, else what disagrees."""


@dataclass(frozen=True)
class Shown:
    """A scenario that plays a case: the one task it is about, and what that task does."""

    scenario: str
    task: str
    does: str

    def after(self) -> list[str]:
        """The tasks the scenario sends after that one."""
        ids = task_ids(self.scenario)
        return ids[ids.index(self.task) + 1 :]


@dataclass(frozen=True)
class Claim:
    key: str
    case: str
    contender: str  # "ProcessPoolExecutor" or "Pool"
    text: str  # one line of the explainer, without its "- "
    shown_by: tuple[Shown, ...] = ()  # empty: documented only, no scenario plays it
    check: Check | None = None

    def disagreement(self, result: dict[str, Any]) -> str | None:
        """Why a comparison's ``result`` contradicts this claim (None when it agrees)."""
        if self.check is None:
            raise ValueError(f"the claim {self.key!r} is not shown by any scenario")
        for shown in self.shown_by:
            if shown.scenario == result.get("scenario"):
                outcomes = result["contenders"][self.contender]
                return self.check(outcomes, shown.task, shown.after())
        raise ValueError(f"the claim {self.key!r} is not about {result.get('scenario')!r}")


def _each(outcomes: dict[str, Outcome], ids: list[str], kind: str, exception: str = "") -> str:
    """The first of ``ids`` whose outcome is not of ``kind`` (and ``exception``)."""
    for task_id in ids:
        got = outcomes[task_id]
        if got["kind"] != kind or (exception and got.get("exception") != exception):
            return f"{task_id!r} got {got}, not {exception or kind}"
    return ""


def _all_broken(outcomes: dict[str, Outcome], task: str, after: list[str]) -> str | None:
    return _each(outcomes, [task, *after], "exception", "BrokenProcessPool") or None


def _lost_but_rest_run(outcomes: dict[str, Outcome], task: str, after: list[str]) -> str | None:
    return (_each(outcomes, [task], "waiting") or _each(outcomes, after, "value")) or None


def _all_held(outcomes: dict[str, Outcome], task: str, after: list[str]) -> str | None:
    return _each(outcomes, [task, *after], "waiting") or None


CRASHES = (
    Shown("dies-before-collect", "crash", "kills its worker"),
    Shown("keeps-sending", "crash", "kills its worker"),
    Shown("poisonous-restart", "poison", "kills its worker"),
)
"""The scenarios where a worker dies running a task, the most telling first."""
HANGS = (Shown("hang-timeout", "hang", "sleeps for ever"),)

CLAIMS = (
    Claim(
        "crash-executor",
        CRASH,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor marks the whole pool broken: the running future and every "
        "pending one fail with BrokenProcessPool, and so does every call sent afterwards, "
        "until you build another pool.",
        CRASHES,
        _all_broken,
    ),
    Claim(
        "crash-pool",
        CRASH,
        "Pool",
        "multiprocessing.Pool replaces the dead process and runs the other tasks, but the "
        "task it was running never reports back: its AsyncResult.get() waits for ever "
        "unless you gave it a timeout.",
        CRASHES,
        _lost_but_rest_run,
    ),
    Claim(
        "timeout-executor",
        TIMEOUT,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor has no per-task timeout: the hung call holds its worker for "
        "ever, the calls queued behind it wait too, and shutdown() waits for it.",
        HANGS,
        _all_held,
    ),
    Claim(
        "timeout-pool",
        TIMEOUT,
        "Pool",
        "multiprocessing.Pool has none either: AsyncResult.get(timeout) raises TimeoutError "
        "in the caller, but the worker goes on running the hung task, and the tasks queued "
        "behind it wait too.",
        HANGS,
        _all_held,
    ),
    # No scenario recycles a worker, fails an initializer, cancels a running call or ends
    # a busy job: these are the documented behaviour, which the tests check with short
    # runs of the pools themselves.
    Claim(
        "recycling-executor",
        RECYCLING,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor(max_tasks_per_child=N) replaces a worker after N tasks too "
        "(it has no memory cap).",
    ),
    Claim(
        "recycling-pool",
        RECYCLING,
        "Pool",
        "multiprocessing.Pool(maxtasksperchild=N) does the same.",
    ),
    Claim(
        "initializer-executor",
        INITIALIZER,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor marks the whole pool broken: BrokenProcessPool for every "
        "pending call.",
    ),
    Claim(
        "initializer-pool",
        INITIALIZER,
        "Pool",
        "multiprocessing.Pool starts new workers again and again, each failing the same "
        "way, and the calls never run.",
    ),
    Claim(
        "cancel-executor",
        CANCEL,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor: Future.cancel() of a running call returns False and the call "
        "runs on to its end; a worker cannot be killed for one call.",
    ),
    Claim("cancel-pool", CANCEL, "Pool", "multiprocessing.Pool has no way to cancel one call."),
    Claim(
        "ending-executor",
        ENDING,
        "ProcessPoolExecutor",
        "ProcessPoolExecutor.shutdown(cancel_futures=True) cancels the queued calls but "
        "waits for the running ones: before Python 3.14 (terminate_workers(), "
        "kill_workers()) it cannot kill a busy worker.",
    ),
    Claim(
        "ending-pool",
        ENDING,
        "Pool",
        "multiprocessing.Pool.terminate() kills its workers at once, as here.",
    ),
)


def claims_for(case: str) -> list[Claim]:
    """The claims of one case, the executor's first."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; one of: {', '.join(CASES)}")
    return [c for c in CLAIMS if c.case == case]
