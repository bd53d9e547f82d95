"""``python -m app demo --scenario local-vs-dask``: the same tasks on local worker processes
and on a Dask LocalCluster, played side by side, then compared task by task.

The plan is one of the scenarios' step tables; each backend plays it in its own thread,
at the same time, on 2 workers with restarts. What differs is the point: the local facade
blames a poisonous task at its first crash; Dask retries it on other workers until
``KilledWorker``, and restarts a worker for each try.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from app.cluster import INSTALL_HINT, dask_available, quiet_dask_logs
from app.core import TaskState, WorkingProcessFacade
from app.core.front import FacadeFront
from app.teaching.explain import DASK_DIFFERENCES
from app.teaching.scenarios import BlockingDriver, ScenarioPlay, collect, say, submit, wait

log = logging.getLogger("app.scenario")

PLAN = (
    say("three harmless tasks, 0.3 s each"),
    submit("simple", "a", 0.3),
    submit("simple", "b", 0.3),
    submit("simple", "c", 0.3),
    wait("a", "b", "c"),
    say("'poison' ends its worker with os._exit(3)"),
    submit("crash", "poison", "exit"),
    wait("poison", seconds=60.0),
    submit("simple", "after", 0.2),
    collect(),
)
EXPECTED = {
    "a": TaskState.DONE,
    "b": TaskState.DONE,
    "c": TaskState.DONE,
    "poison": TaskState.CRASHED,
    "after": TaskState.DONE,
}


def _play_all(name: str, play: ScenarioPlay, facade: FacadeFront, errors: dict[str, str]) -> None:
    try:
        play.play_all()
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
    finally:
        facade.close()


def run_side_by_side(out: Callable[[str], None] = print) -> int:
    """Plays the plan on both backends at once; 0 when both end as documented."""
    if not dask_available():
        out(f"local-vs-dask: {INSTALL_HINT}")
        return 2
    from app.cluster.facade import DaskFacade

    quiet_dask_logs()
    log.info("starting 2 local workers and a Dask LocalCluster of 2 workers")
    facades: dict[str, FacadeFront] = {
        "local": WorkingProcessFacade(2, restart=True),
        "dask": DaskFacade(workers=2),
    }
    plays = {name: ScenarioPlay(PLAN, BlockingDriver(f)) for name, f in facades.items()}
    errors: dict[str, str] = {}
    threads = [
        threading.Thread(target=_play_all, args=(name, plays[name], f, errors), name=name)
        for name, f in facades.items()
    ]
    tag = _TagByThread(set(facades))
    log.addFilter(tag)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        log.removeFilter(tag)
    deaths = {name: sum(i.restarts for i in f.worker_info()) for name, f in facades.items()}
    out("")
    out(f"{'ID':<8} {'local facade':<14} {'Dask':<14} what Dask reported")
    problems = [f"{name}: {error}" for name, error in errors.items()]
    for task_id, expected in EXPECTED.items():
        here = plays["local"].sent.get(task_id)
        there = plays["dask"].sent.get(task_id)
        states = [t.state if t is not None else None for t in (here, there)]
        note = (there.error or "") if there is not None else ""
        out(f"{task_id:<8} {_name(states[0]):<14} {_name(states[1]):<14} {note}")
        for name, state in zip(facades, states, strict=True):
            if state is not expected:
                problems.append(f"{task_id} on {name}: expected {expected.name}, got {state}")
    out("")
    out(
        f"worker restarts: local {deaths['local']} (the poison was blamed at its first "
        f"crash), Dask {deaths['dask']} (one per try, until KilledWorker)"
    )
    out("")
    out(DASK_DIFFERENCES)
    for problem in problems:
        out(f"UNEXPECTED {problem}")
    return 1 if problems else 0


class _TagByThread(logging.Filter):
    """Prefixes each step's log line with the backend whose thread played it."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self._names = names

    def filter(self, record: logging.LogRecord) -> bool:
        name = threading.current_thread().name
        if name in self._names:
            record.msg = f"[{name}] {record.msg}"
        return True


def _name(state: TaskState | None) -> str:
    return state.name if state is not None else "-"
