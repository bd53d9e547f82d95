"""``python -m app bench --dask``: the same no-op tasks through the local facade, through
a Dask LocalCluster behind ``DaskFacade``, and through plain Dask, side by side.

Every contender gets the same worker processes count (``--workers``, default 2) and the
same N no-op tasks; start-up is never timed. The clock runs from the first submit until
the last task is DONE (facades: its event consumed; plain Dask: ``gather`` returned).
Per-task overhead is wall time over N: with no-op tasks it is all overhead. Rounds are
interleaved and the best kept, as in the main benchmark.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from app.bench.common import NoopTask, noop, submit_all, wait_done, wait_ready
from app.cluster import INSTALL_HINT, dask_available, quiet_dask_logs
from app.core import WorkingProcessFacade
from app.core.front import FacadeFront


def _drain(facade: FacadeFront, n: int, timeout: float) -> float:
    """Submits N no-op tasks and consumes events until all are DONE; returns the seconds."""
    deadline = time.monotonic() + timeout
    tasks = [NoopTask(f"t{i}") for i in range(n)]
    start = time.perf_counter()
    submit_all(facade, tasks)
    wait_done(facade, n, deadline)
    return time.perf_counter() - start


def local_round(n: int, workers: int, timeout: float) -> float:
    facade = WorkingProcessFacade(workers)
    try:
        wait_ready(facade, time.monotonic() + timeout)
        return _drain(facade, n, timeout)
    finally:
        facade.close()


def dask_facade_round(n: int, cluster: Any, workers: int, timeout: float) -> float:
    from app.cluster.facade import DaskFacade

    facade = DaskFacade(cluster, workers=workers)
    try:
        return _drain(facade, n, timeout)
    finally:
        facade.close()


def plain_dask_round(n: int, cluster: Any, timeout: float) -> float:
    from distributed import Client

    with Client(cluster, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        start = time.perf_counter()
        futures = [client.submit(noop, i, pure=False) for i in range(n)]
        client.gather(futures, errors="raise")
        return time.perf_counter() - start


def run(n: int, workers: int, rounds: int, timeout: float) -> dict[str, Any]:
    """The best round of each contender on one LocalCluster (``results``), and why any
    contender could not be measured (``errors``)."""
    from app.cluster.facade import local_cluster

    best: dict[str, float] = {}
    errors: dict[str, str] = {}
    cluster = local_cluster(workers)
    try:
        contenders: list[tuple[str, Callable[[], float]]] = [
            ("local facade", lambda: local_round(n, workers, timeout)),
            ("DaskFacade", lambda: dask_facade_round(n, cluster, workers, timeout)),
            ("plain Dask", lambda: plain_dask_round(n, cluster, timeout)),
        ]
        for _ in range(rounds):
            for name, measure in contenders:
                if name in errors:
                    continue
                try:
                    seconds = measure()
                except Exception as exc:
                    errors[name] = f"{type(exc).__name__}: {exc}"
                    continue
                best[name] = min(best.get(name, seconds), seconds)
    finally:
        cluster.close()
    results = {
        name: {"tasks_per_s": n / s, "overhead_us_per_task": s / n * 1e6}
        for name, s in best.items()
    }
    return {
        "n": n,
        "workers": workers,
        "rounds": rounds,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "results": results,
        "errors": errors,
    }


def format_table(report: dict[str, Any]) -> str:
    results = report["results"]
    local = results.get("local facade", {}).get("tasks_per_s")
    lines = [
        f"{report['n']} no-op tasks, {report['workers']} worker processes each, "
        f"best of {report['rounds']} rounds ({report['machine']})",
        "",
        f"{'contender':<14} {'tasks/s':>10} {'µs/task':>10} {'local facade / it':>18}",
    ]
    for name, r in results.items():
        ratio = f"{local / r['tasks_per_s']:.1f}x" if local else "-"
        lines.append(
            f"{name:<14} {r['tasks_per_s']:>10,.0f} {r['overhead_us_per_task']:>10,.0f} {ratio:>18}"
        )
    for name, error in report["errors"].items():
        lines.append(f"{name}: could not be measured: {error}")
    return "\n".join(lines)


def benchmark(n: int, workers: int, rounds: int, timeout: float, as_json: bool) -> int:
    """Run the benchmark and print it: 0 when every contender was measured, 2 without Dask."""
    if not dask_available():
        print(f"bench --dask: {INSTALL_HINT}", file=sys.stderr)
        return 2
    quiet_dask_logs()
    report = run(n, workers, rounds, timeout)
    print(json.dumps(report, indent=2) if as_json else format_table(report), flush=True)
    return 1 if report["errors"] else 0
