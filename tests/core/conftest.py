"""Fixtures for the core tests: facades that are always closed after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core import WorkingProcessFacade

FacadeFactory = Callable[..., WorkingProcessFacade]


@pytest.fixture
def make_facade() -> Iterator[FacadeFactory]:
    """A factory of facades; each one is closed when the test ends, even if it failed."""
    made: list[WorkingProcessFacade] = []

    def factory(*args: Any, **kwargs: Any) -> WorkingProcessFacade:
        facade = WorkingProcessFacade(*args, **kwargs)
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()
