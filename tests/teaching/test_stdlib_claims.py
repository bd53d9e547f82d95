"""Every statement the explainer makes about the standard library's pools, held against
real runs on the Python that runs the tests: the scenarios that play a case through
``run_compare``, the rest through short runs of the pools themselves. And the explainer
quoting this Python's observed outcomes when cached, the fixed claims otherwise."""

from __future__ import annotations

import concurrent.futures as cf
import copy
import inspect
import multiprocessing
import operator
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

import pytest

import app.teaching
from app.core import WorkerDied
from app.teaching import stdlib_runs
from app.teaching.explain import Death, explain
from app.teaching.stdlib_cache import CACHE_ENV, cache_file, store
from app.teaching.stdlib_claims import CASES, CLAIMS, CRASH, TIMEOUT, claims_for
from app.teaching.stdlib_quotes import MESSAGE_SHOWN, same_case

DEADLINE = stdlib_runs.DEADLINE
"""The cache keeps a run where a task still waited only if it had the full deadline;
the runs go at once, so the whole takes about this long."""
SPAWN = multiprocessing.get_context("spawn")
SHOWN = sorted({s.scenario for c in CLAIMS for s in c.shown_by})


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    """Each scenario that shows a claim, really compared, all at once."""
    with cf.ThreadPoolExecutor(len(SHOWN)) as threads:
        futures = {name: threads.submit(stdlib_runs.run_compare, name, DEADLINE) for name in SHOWN}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of observed outcomes of each test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


CHECKED = [c for c in CLAIMS if c.check is not None]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("claim", "name"),
    [(c, s.scenario) for c in CHECKED for s in c.shown_by],
    ids=lambda v: v.key if hasattr(v, "key") else v,
)
def test_each_claim_agrees_with_the_real_runs(
    runs: dict[str, dict[str, Any]], claim: Any, name: str
) -> None:
    assert claim.disagreement(runs[name]) is None, runs[name]["contenders"][claim.contender]


@pytest.mark.timeout(120)
def test_a_claim_the_runs_contradict_fails(runs: dict[str, dict[str, Any]]) -> None:
    """The checks can fail: with the two pools' outcomes swapped, every claim disagrees."""
    for claim in CHECKED:
        for shown in claim.shown_by:
            swapped = copy.deepcopy(runs[shown.scenario])
            pools = swapped["contenders"]
            pools["Pool"], pools["ProcessPoolExecutor"] = (
                pools["ProcessPoolExecutor"],
                pools["Pool"],
            )
            if claim.case == TIMEOUT:  # both pools hang alike: a run where the hang ended
                for outcomes in pools.values():
                    outcomes[shown.task] = {"kind": "value", "value": None}
            assert claim.disagreement(swapped) is not None, (claim.key, shown.scenario)


def _running(future: cf.Future[Any]) -> None:
    until = time.monotonic() + 30
    while not (future.running() or future.done()):
        assert time.monotonic() < until, "the call never started"
        time.sleep(0.01)


def _recycling_executor() -> None:
    parameters = inspect.signature(cf.ProcessPoolExecutor).parameters
    assert "max_tasks_per_child" in parameters
    assert not [p for p in parameters if "memory" in p]
    with cf.ProcessPoolExecutor(1, mp_context=SPAWN, max_tasks_per_child=1) as pool:
        pids = [pool.submit(os.getpid).result(30) for _ in range(2)]
    assert pids[0] != pids[1]


def _recycling_pool() -> None:
    with SPAWN.Pool(1, maxtasksperchild=1) as pool:
        pids = [pool.apply_async(os.getpid).get(30) for _ in range(2)]
    assert pids[0] != pids[1]


def _initializer_executor() -> None:
    pool = cf.ProcessPoolExecutor(
        1, mp_context=SPAWN, initializer=operator.truediv, initargs=(1, 0)
    )
    try:
        futures = [pool.submit(os.getpid) for _ in range(3)]
        for future in futures:
            with pytest.raises(BrokenProcessPool):
                future.result(30)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _initializer_pool() -> None:
    pool = SPAWN.Pool(1, initializer=operator.truediv, initargs=(1, 0))
    try:
        result = pool.apply_async(os.getpid)
        started: set[str] = set()
        until = time.monotonic() + 30
        while len(started) < 3:  # the one slot, filled again and again
            assert time.monotonic() < until, started
            started |= {p.name for p in multiprocessing.active_children()}
            time.sleep(0.01)
        assert not result.ready()
    finally:
        pool.terminate()


def _cancel_executor() -> None:
    with cf.ProcessPoolExecutor(1, mp_context=SPAWN) as pool:
        future = pool.submit(time.sleep, 0.3)
        _running(future)
        assert future.cancel() is False
        assert future.result(30) is None and not future.cancelled()


def _cancel_pool() -> None:
    assert not [n for n in ("cancel", "terminate", "kill") if hasattr(AsyncResult, n)]


def _ending_executor() -> None:
    pool = cf.ProcessPoolExecutor(1, mp_context=SPAWN)
    try:
        running = pool.submit(time.sleep, 0.3)
        _running(running)
        queued = [pool.submit(time.sleep, 0.3) for _ in range(3)]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert running.done() and not running.cancelled() and running.exception(0) is None
    assert queued[-1].cancelled()
    assert hasattr(cf.ProcessPoolExecutor, "terminate_workers") == (sys.version_info >= (3, 14))


def _ending_pool() -> None:
    pool = SPAWN.Pool(1)
    try:
        result = pool.apply_async(time.sleep, (300,))
        started = time.monotonic()
    finally:
        pool.terminate()
    assert time.monotonic() - started < 10 and not result.ready()
    assert not multiprocessing.active_children()


def _timeout_pool() -> None:
    """What the hang-timeout comparison cannot show: get(timeout) gives up in the caller
    while the worker goes on."""
    with SPAWN.Pool(1) as pool:
        result = pool.apply_async(time.sleep, (300,))
        with pytest.raises(multiprocessing.TimeoutError):
            result.get(0.2)
        assert not result.ready() and multiprocessing.active_children()


PROBES: dict[str, Callable[[], None]] = {
    "recycling-executor": _recycling_executor,
    "recycling-pool": _recycling_pool,
    "initializer-executor": _initializer_executor,
    "initializer-pool": _initializer_pool,
    "cancel-executor": _cancel_executor,
    "cancel-pool": _cancel_pool,
    "ending-executor": _ending_executor,
    "ending-pool": _ending_pool,
    "timeout-pool": _timeout_pool,
}
"""A short real run for each claim no scenario plays (and what a run cannot show)."""


def test_every_claim_is_checked_one_way_or_another() -> None:
    assert {c.key for c in CLAIMS if c.check is None} <= set(PROBES) <= {c.key for c in CLAIMS}
    assert len({c.key for c in CLAIMS}) == len(CLAIMS)
    for case in CASES:
        assert [c.contender for c in claims_for(case)] == ["ProcessPoolExecutor", "Pool"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", list(PROBES))
def test_each_documented_claim_holds_on_this_python(key: str) -> None:
    PROBES[key]()


def test_no_teaching_text_states_stdlib_behaviour_outside_the_claims() -> None:
    """A new fixed sentence about the pools goes through ``stdlib_claims``, or a test
    would not hold it against real runs."""
    allowed = {
        "stdlib_claims.py",
        "stdlib_quotes.py",
        "stdlib_runs.py",
        "stdlib_cache.py",
        "stdlib_contender.py",
        "compare_command.py",
    }
    folder = Path(app.teaching.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        for name in ("ProcessPoolExecutor", "multiprocessing.Pool", "BrokenProcessPool"):
            assert name not in text, f"{path.name} speaks of {name} outside the claims"


def death(reason: str = "crashed") -> Death:
    return Death(WorkerDied(0, 4242, 3, None, 1.0, reason), requeued=["three"])


def test_with_nothing_cached_the_fixed_claims_are_told_as_documented() -> None:
    crash = explain(death(), workers_left=True, restart=False)
    hang = explain(death("timeout"), workers_left=True, restart=False)
    for text, case, command in (
        (crash, CRASH, "dies-before-collect"),
        (hang, TIMEOUT, "hang-timeout"),
    ):
        assert "documented" in text and f"python -m app compare {command}" in text
        for claim in claims_for(case):
            assert f"- {claim.text}" in text
    recycled = explain(death("recycled"), workers_left=True, restart=False)
    assert "documented" in recycled and "compare" not in recycled
    assert all(c.text in recycled for c in claims_for("recycling"))


@pytest.mark.timeout(120)
def test_the_explainer_quotes_this_pythons_observed_outcomes(
    runs: dict[str, dict[str, Any]],
) -> None:
    store(runs["hang-timeout"], DEADLINE)
    store(runs["poisonous-restart"], DEADLINE)
    crash = explain(death(), workers_left=True, restart=False)
    python = runs["poisonous-restart"]["python"]
    assert f"really run on Python {python} (python -m app compare poisonous-restart" in crash
    assert "'poison' raised BrokenProcessPool (" in crash
    assert "'c' and 'd', sent after it, raised BrokenProcessPool too" in crash
    assert "multiprocessing.Pool: 'poison' never reported back" in crash
    assert "'c' and 'd', sent after it, ran and returned their values" in crash
    assert "documented" not in crash and claims_for(CRASH)[0].text not in crash
    # The most telling scenario first, once it is stored too.
    store(runs["dies-before-collect"], DEADLINE)
    crash = explain(death(), workers_left=True, restart=False)
    assert "python -m app compare dies-before-collect" in crash
    assert "'three', sent after it, ran and returned 'three solved after 0.5'" in crash
    hang = explain(death("timeout"), workers_left=True, restart=False)
    assert "python -m app compare hang-timeout, where 'hang' sleeps for ever" in hang
    assert "'after', sent after it, was still waiting too" in hang


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe", b"{", b"[" * 100_000, b'{"format": "worker-monitor-stdlib-outcomes"}'],
    ids=["empty", "not utf-8", "not json", "nested too deep", "no result"],
)
def test_a_damaged_cache_leaves_the_fixed_claims(content: bytes) -> None:
    path = cache_file("dies-before-collect")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert same_case(CRASH)[0].startswith("In the same case, as the standard library is documented")
    text = explain(death(), workers_left=True, restart=False)
    assert all(f"- {c.text}" in text for c in claims_for(CRASH))


def test_any_observed_outcome_is_told_without_a_crash(runs: dict[str, dict[str, Any]]) -> None:
    """A later Python may behave otherwise: whatever a pool did is quoted as it was."""
    result = copy.deepcopy(runs["keeps-sending"])
    executor = result["contenders"]["ProcessPoolExecutor"]
    executor["crash"] = {"kind": "value", "value": "x" * 300}
    executor["four"] = {"kind": "waiting"}
    executor["five"] = {"kind": "exception", "exception": "OSError", "message": "m" * 500}
    store(result, DEADLINE)
    (line,) = [x for x in same_case(CRASH) if x.startswith("- ProcessPoolExecutor")]
    assert "'crash' returned 'xxx" in line and "'four', sent after it, was still waiting;" in line
    assert "'five', sent after it, raised OSError ('mmm" in line and "…" in line
    assert "'six', sent after it, raised BrokenProcessPool ('A child process" in line
    assert "x" * MESSAGE_SHOWN not in line and len(line) < 400
    executor["crash"] = {"kind": "value", "value": list(range(100_000))}
    store(result, DEADLINE)
    (line,) = [x for x in same_case(CRASH) if x.startswith("- ProcessPoolExecutor")]
    assert "'crash' returned [0, 1, 2," in line and len(line) < 400
