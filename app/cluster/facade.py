"""``DaskFacade``: the facade's API, and the monitor, over a Dask cluster.

Dask decides where and when tasks run, retries a task whose worker died on other
workers (until ``KilledWorker``), and its nannies restart dead workers. The facade keeps
the same records and events as ``WorkingProcessFacade``, so the same window shows both.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from app.cluster.engine import DaskEngine
from app.core.front import FacadeFront
from app.core.run_paths import RecordChoice
from app.core.task import Task
from app.core.timeouts import is_seconds, limit

DEFAULT_ALLOWED_FAILURES = 3  # Dask's own default


def local_cluster(workers: int, allowed_failures: int = DEFAULT_ALLOWED_FAILURES) -> Any:
    """A ``LocalCluster`` of worker processes on this machine, each under a nanny that
    restarts it when it dies; one thread each, as the local facade runs one task a worker."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            silence_logs=logging.ERROR,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )


class DaskFacade(FacadeFront):
    """Runs tasks on a Dask cluster, with the API of ``WorkingProcessFacade``.

    ``cluster`` is None (start a ``LocalCluster`` of ``workers`` processes, closed with
    the facade), a scheduler address such as ``"tcp://host:8786"``, or a cluster object
    to share (left running). The scheduler, nannies and workers must be able to import
    this project: its plugins and the tasks' classes travel by reference. ``record`` is
    ``WorkingProcessFacade``'s: the run recorded the same way, with backend ``"dask"``.
    """

    _engine: DaskEngine

    def __init__(
        self,
        cluster: str | Any | None = None,
        *,
        workers: int = 2,
        task_timeout: float | None = None,
        allowed_failures: int = DEFAULT_ALLOWED_FAILURES,
        connect_timeout: float = 10.0,
        record: RecordChoice = None,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, not {workers!r}")
        if task_timeout is not None and not is_seconds(task_timeout):
            raise ValueError(
                "task_timeout must be a positive number of seconds (inf for no limit) or "
                f"None, not {task_timeout!r}"
            )
        from distributed import Client

        recorder = self._open_recording(record)
        owns = cluster is None
        try:
            made = local_cluster(workers, allowed_failures) if owns else None
        except BaseException:
            if recorder is not None:
                recorder.discard()
            raise
        target = made if owns else cluster
        client = None
        try:
            client = Client(  # type: ignore[no-untyped-call]
                target, set_as_default=False, timeout=connect_timeout
            )
            local = made if owns else None if isinstance(cluster, str) else cluster
            if owns:  # a cluster of its own: whole before the first task
                client.wait_for_workers(workers, timeout=60)
            self._engine = DaskEngine(client, local, owns, limit(task_timeout))
        except BaseException:
            if client is not None:
                client.close()  # type: ignore[no-untyped-call]
            if made is not None:
                made.close()
            if recorder is not None:
                recorder.discard()
            raise
        self._finalizer = weakref.finalize(self, self._engine.abandon)
        self._start_recording(recorder, "dask", self._worker_count(workers if owns else None))

    def _worker_count(self, started: int | None) -> int:
        """The workers the cluster has now: as many as it was started with, or the
        count the engine read from the scheduler as it connected to a shared one."""
        return self._engine.workers_at_start if started is None else started

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (for its dashboard link, or Dask's own API)."""
        return self._engine.client

    def collect_tasks(self, timeout: float | None = None) -> list[Task]:
        """Waits for every task's fate, then disconnects (and closes a cluster it made)."""
        if timeout is not None and not is_seconds(timeout, zero=True):
            raise ValueError(
                f"timeout must be >= 0 seconds (inf for no limit) or None, not {timeout!r}"
            )
        tasks = self._engine.collect(timeout, closing=False)
        self._engine.flush_futures()
        return tasks

    def close(self) -> None:
        self._engine.collect(0, closing=True)
        self._engine.flush_futures()
