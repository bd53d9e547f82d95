"""The Compare tab's cells, without Qt: which outcomes differ from the facade's, and
how that is said; the header's facts, and what is not known of them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from app.teaching.compare_cells import Observed, difference, ended, header, rows, stored
from app.teaching.stdlib_cache import CACHE_ENV, cache_file

VALUE = {"kind": "value", "value": 6}
BROKEN = {"kind": "exception", "exception": "BrokenProcessPool", "message": "pid 12"}
LOST = {"kind": "exception", "exception": "TaskLostError", "message": "x", "state": "LOST"}
WAITING = {"kind": "waiting"}


@pytest.mark.parametrize(
    ("facade", "other"),
    [
        (dict(VALUE, state="DONE"), VALUE),
        (dict(BROKEN, state="CRASHED"), dict(BROKEN, message="another pid: 13")),
        (dict(WAITING, state="RUNNING"), WAITING),
    ],
    ids=["same value", "same exception type, other words", "both waiting"],
)
def test_alike_outcomes_are_not_marked(facade: dict[str, Any], other: dict[str, Any]) -> None:
    assert difference(facade, other) is None


@pytest.mark.parametrize(
    ("facade", "other", "said"),
    [
        (LOST, BROKEN, "raised BrokenProcessPool, where the facade's ended LOST (raised "),
        (LOST, VALUE, "here the task returned 6, where the facade's ended LOST"),
        (dict(VALUE, state="DONE"), {"kind": "value", "value": 7}, "returned 7, where"),
        (VALUE, WAITING, "was still waiting at the deadline, where the facade's returned 6."),
        (BROKEN, dict(BROKEN, exception="OSError"), "raised OSError, where the facade's raised"),
    ],
    ids=["exception type", "kind", "value", "waiting", "no state"],
)
def test_each_difference_is_told(facade: dict[str, Any], other: dict[str, Any], said: str) -> None:
    told = difference(facade, other)
    assert told is not None and told.startswith("Unlike the facade: ") and said in told


def test_a_long_value_is_cut_in_the_words() -> None:
    said = ended({"kind": "value", "value": "x" * 1000})
    assert said.startswith('returned "xxx') and said.endswith("…") and len(said) < 80


def test_rows_refuse_what_is_not_a_comparison_of_the_scenario() -> None:
    with pytest.raises(ValueError, match="not a comparison of 'original'"):
        rows({"scenario": "original"}, "original")


def test_the_header_says_what_is_not_known() -> None:
    result = {"scenario": "original", "python": "3.11.7", "contenders": {}}
    title, facts = header(result, Observed(None, False, None))
    assert title.startswith("original: ")
    assert facts == (
        "Python 3.11.7; observed at an unknown time (read from the cache); "
        "each run's deadline is not known"
    )
    now = time.time()
    facts = header(result, Observed(now, True, 12.5))[1]
    assert "today (run in this window); each run given 12.5 s" in facts


@pytest.mark.parametrize("deadline", [-1, 0, True, "10", None, 1e308 * 10])
def test_an_odd_stored_deadline_is_not_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deadline: Any
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    path = cache_file("original")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"deadline": deadline}))
    os.utime(path, (1_000_000_000, 1_000_000_000))
    assert stored("original") == Observed(1_000_000_000, False, None)


def test_what_is_stored_is_read_and_a_missing_file_is_not_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert stored("original") == Observed(None, False, None)
    path = cache_file("original")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"deadline": 12}))
    found = stored("original")
    assert found.deadline == 12.0 and found.at is not None and not found.fresh


@pytest.mark.parametrize("at", [float("nan"), float("inf"), 1e300, -1e300])
def test_a_time_beyond_the_clock_is_not_known(at: float) -> None:
    result = {"scenario": "original", "python": "3.11.7", "contenders": {}}
    assert "observed at an unknown time" in header(result, Observed(at, True, 10))[1]
