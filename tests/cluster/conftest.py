"""Fixtures for the Dask backend tests: a fresh LocalCluster of 2 worker processes each.

Each test gets its own cluster (about half a second to start) and closes it, so the
suite's check that no child process outlives its test holds here too. Without the
optional ``distributed`` package the whole folder is skipped, saying how to install it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the Dask backend needs: pip install -e '.[dask]'")

from app.cluster.facade import DaskFacade

DaskFactory = Callable[..., DaskFacade]


@pytest.fixture
def make_dask() -> Iterator[DaskFactory]:
    """A factory of DaskFacades on their own LocalCluster; each closed after the test."""
    made: list[DaskFacade] = []

    def factory(**kwargs: Any) -> DaskFacade:
        kwargs.setdefault("workers", 2)
        facade = DaskFacade(**kwargs)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()
