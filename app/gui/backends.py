"""Where a run's tasks go: local worker processes, or a Dask cluster. Qt-free.

The window asks its backend for a new facade on every run; both facades have the same
API and events, so everything else in the window is the same for both.
"""

from __future__ import annotations

from typing import Any

from app.core import WorkingProcessFacade


class LocalBackend:
    """Worker processes of this machine, spawned and supervised by ``WorkingProcessFacade``."""

    name = "local processes"
    dask = False
    pids_are_local = True  # "kill from outside" may signal its workers

    def start(self, workers: int, restart: bool, task_timeout: float | None, record: bool) -> Any:
        return WorkingProcessFacade(
            workers, restart=restart, task_timeout=task_timeout, record=record
        )

    def code(self, workers: int, restart: bool, task_timeout: float | None, record: bool) -> str:
        return (
            f"w = WorkingProcessFacade({workers}, restart={restart}, task_timeout={task_timeout}"
            f"{', record=True' if record else ''})"
        )

    def close(self) -> None:
        """Nothing outlives a run."""


class DaskBackend:
    """A Dask cluster: a ``LocalCluster`` kept across runs, or a scheduler's address.

    A LocalCluster takes about half a second to start, so one serves every run of the
    window and is resized to the run's worker count; it is closed with the window.
    """

    dask = True

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self.pids_are_local = address is None
        self.name = f"Dask cluster at {address}" if address else "Dask LocalCluster"
        self._cluster: Any = None

    def start(self, workers: int, restart: bool, task_timeout: float | None, record: bool) -> Any:
        """A facade on the cluster (a nanny always restarts workers: ``restart`` is moot)."""
        from app.cluster.facade import DaskFacade, local_cluster

        if self.address is not None:
            return DaskFacade(self.address, task_timeout=task_timeout, record=record)
        if self._cluster is None:
            self._cluster = local_cluster(workers)
        elif len(self._cluster.workers) != workers:
            self._cluster.scale(workers)
        return DaskFacade(self._cluster, workers=workers, task_timeout=task_timeout, record=record)

    def code(self, workers: int, restart: bool, task_timeout: float | None, record: bool) -> str:
        where = repr(self.address) if self.address else f"LocalCluster(n_workers={workers})"
        extra = ", record=True" if record else ""
        return f"w = DaskFacade({where}, task_timeout={task_timeout}{extra})"

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


Backend = LocalBackend | DaskBackend
