"""The cache of observed outcomes: what the standard library's pools and the facade did
in each scenario, run on this machine, kept per Python version.

The explainer and the window's Compare tab quote it instead of fixed text. It is only a
cache: a file that is missing, damaged, written by another program or for another Python
version, or observed on steps that the scenario has changed since, is ignored (with one
log line) and the comparison is run again; it never stops anything.

One file per scenario, ``python-VERSION/NAME.json`` in ``$WORKER_MONITOR_CACHE``, else
``$XDG_CACHE_HOME/worker-monitor/stdlib-outcomes``, else
``~/.cache/worker-monitor/stdlib-outcomes``: each replaced whole (atomically), so runs
stored at the same time never undo each other::

    {"format": "worker-monitor-stdlib-outcomes", "python": VERSION, "steps": DIGEST,
     "deadline": SECONDS, "result": RESULT}

where RESULT is what ``stdlib_runs.run_compare`` returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import platform
import stat
import tempfile
from pathlib import Path
from typing import Any

from app.teaching.scenarios import SCENARIOS
from app.teaching.stdlib_contender import CONTENDERS, task_ids

log = logging.getLogger("app.compare")

CACHE_ENV = "WORKER_MONITOR_CACHE"
"""The cache folder, when set (tests point it to a temporary folder)."""
FORMAT = "worker-monitor-stdlib-outcomes"
MAX_BYTES = 1 << 20
"""A stored file's size at most (a comparison's is a few kB): a larger one is not read."""
KINDS = {"value": ("value",), "exception": ("exception", "message"), "waiting": ()}
"""Each outcome kind, and the keys it must have besides ``kind``."""


def cache_folder() -> Path:
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "worker-monitor" / "stdlib-outcomes"


def cache_file(name: str, version: str | None = None) -> Path:
    """The file of scenario ``name``'s outcomes on ``version`` (this Python's by default)."""
    version = platform.python_version() if version is None else version
    return cache_folder() / f"python-{version}" / f"{name}.json"


def steps_digest(name: str) -> str:
    """What a scenario does (its steps but what they say, and its options): outcomes
    stored for other steps are stale."""
    scenario = SCENARIOS[name]
    done = [(s.kind, s.args) for s in scenario.steps if s.kind != "say"]
    text = repr((done, sorted(scenario.options.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lookup(name: str, full_deadline: float) -> dict[str, Any] | None:
    """This Python version's stored result for scenario ``name``, or None (a file that is
    not one, or is stale, is ignored with a log line).

    A task still waiting at a deadline shorter than ``full_deadline`` may only have been
    slow: such a result is ignored too, lest a quick ``--deadline 1`` teach a hang."""
    version = platform.python_version()
    path = cache_file(name, version)
    try:
        content = json.loads(_read(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not UTF-8, not JSON
        log.warning("the stored outcomes %s are ignored: %s", path, exc)
        return None
    problem = _why_not_file(content, name, version)
    if problem is not None:
        log.warning("the stored outcomes %s are ignored: %s", path, problem)
        return None
    if content["steps"] != steps_digest(name):
        log.info("the stored outcomes %s were observed on other steps: ignored", path)
        return None
    result: dict[str, Any] = content["result"]
    if content["deadline"] < full_deadline and _waits(result):
        log.info(
            "the stored outcomes %s were observed with a deadline of %g s, and some tasks "
            "were still waiting: ignored",
            path,
            content["deadline"],
        )
        return None
    return result


def _read(path: Path) -> str:
    """The text of ``path``, if it is a regular file of at most ``MAX_BYTES``: a FIFO put
    in its place would block a reader until someone writes to it, a huge file would take
    the time and memory of reading it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path} is not a regular file")
        if status.st_size > MAX_BYTES:
            raise OSError(f"{path} has {status.st_size} bytes, more than {MAX_BYTES}")
        return file.read(MAX_BYTES + 1).decode("utf-8")


def _waits(result: dict[str, Any]) -> bool:
    outcomes = result["contenders"].values()
    return any(o["kind"] == "waiting" for tasks in outcomes for o in tasks.values())


def store(result: dict[str, Any], deadline: float) -> Path | None:
    """Stores a comparison's result for its Python version, replacing the file whole (a
    reader never sees half of it); the file, or None when it could not be written
    (logged: a cache never stops the comparison)."""
    name = str(result.get("scenario"))
    problem = why_not_result(result, name)
    if problem is not None:
        raise ValueError(f"not a comparison's result: {problem}")
    path = cache_file(name, result["python"])
    content = {
        "format": FORMAT,
        "python": result["python"],
        "steps": steps_digest(name),
        "deadline": deadline,
        "result": result,
    }
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(content, file)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        log.warning("the observed outcomes could not be stored in %s: %s", path, exc)
        return None
    return path


def _why_not_file(content: Any, name: str, version: str) -> str | None:
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        return "not a file of observed outcomes"
    if content.get("python") != version:
        return f"they were observed on Python {content.get('python')!r}, not {version}"
    if not isinstance(content.get("steps"), str):
        return "it does not say on which steps they were observed"
    deadline = content.get("deadline")
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        return "it does not say with which deadline they were observed"
    if not math.isfinite(deadline):
        return "it does not say with which deadline they were observed"
    problem = why_not_result(content.get("result"), name)
    if problem is None and content["result"]["python"] != version:
        problem = f"a result of Python {content['result']['python']!r}"
    return problem


def why_not_result(result: Any, name: str) -> str | None:
    """Why ``result`` is not a comparison of scenario ``name`` (None when it is one)."""
    if not isinstance(result, dict) or set(result) != {"scenario", "python", "contenders"}:
        return "not an object of scenario, python and contenders"
    if result["scenario"] != name or name not in SCENARIOS:
        return f"a result for {result['scenario']!r}, not for the scenario {name!r}"
    if not isinstance(result["python"], str):
        return "no Python version"
    contenders = result["contenders"]
    if not isinstance(contenders, dict) or list(contenders) != list(CONTENDERS):
        return f"its contenders are not {', '.join(CONTENDERS)}"
    ids = task_ids(name)
    for contender, outcomes in contenders.items():
        if not isinstance(outcomes, dict) or list(outcomes) != ids:
            return f"the tasks of {contender} are not those of the scenario"
        for task_id, outcome in outcomes.items():
            problem = _why_not_outcome(outcome)
            if problem is not None:
                return f"{contender}'s {task_id!r}: {problem}"
    return None


def _why_not_outcome(outcome: Any) -> str | None:
    kind = outcome.get("kind") if isinstance(outcome, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:  # a list or a dict cannot be looked up
        return "not an outcome (value, exception or waiting)"
    missing = [key for key in KINDS[outcome["kind"]] if key not in outcome]
    if missing:
        return f"no {missing[0]!r}"
    if outcome["kind"] == "exception" and not all(
        isinstance(outcome[key], str) for key in ("exception", "message")
    ):
        return "an exception's type and message are text"
    return None
