"""Every guided scenario, played headless, ends with the states it documents."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.core import SimpleTask, Task, TaskState
from app.teaching.scenarios import (
    SCENARIOS,
    BlockingDriver,
    ScenarioPlay,
    check,
    run_headless,
    say,
    submit,
    wait_dead,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_ends_as_documented(name: str) -> None:
    lines: list[str] = []
    assert run_headless(name, lines.append) == 0, "\n".join(lines)
    table = "\n".join(lines)
    for task_id, state in SCENARIOS[name].expected.items():
        assert any(line.split()[:2] == [task_id, state.name] for line in lines), table


@pytest.mark.timeout(60)
def test_demo_command_runs_a_scenario_and_rejects_an_unknown_one() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--scenario", "keeps-sending"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "six        LOST" in ran.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--scenario", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert unknown.returncode == 2
    assert "unknown scenario 'nope'" in unknown.stderr


def test_a_final_state_other_than_documented_is_reported() -> None:
    scenario = SCENARIOS["original"]
    one = SimpleTask("one", 1.0)
    one.state = TaskState.CRASHED
    assert check(scenario, {"one": one}) == [
        "one: expected DONE, got CRASHED",
        "two: expected DONE, got None",
    ]


class _StuckFacade:
    """A facade whose one worker never dies and that refuses every task."""

    def __init__(self) -> None:
        self.polls = 0

    def process_task(self, task: Task) -> bool:
        task.state = TaskState.REJECTED
        return False

    def worker_info(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(alive=True)]

    def poll_events(self, timeout: float | None = 0.0) -> list[object]:
        self.polls += 1
        time.sleep(timeout or 0.0)
        return []


def test_a_step_that_waits_too_long_is_a_timeout_and_refused_tasks_are_kept() -> None:
    facade = _StuckFacade()
    play = ScenarioPlay(
        (submit("simple", "one", 0.0), wait_dead(seconds=0.2), say("never")),
        BlockingDriver(facade),  # type: ignore[arg-type]
    )
    with pytest.raises(TimeoutError, match=r"step 2 \(wait_dead\) did not finish in 0.2 s"):
        play.play_all()
    assert facade.polls >= 2
    final = play.final([])
    assert list(final) == ["one"] and final["one"].state is TaskState.REJECTED


@pytest.mark.parametrize("pace", [math.nan, math.inf, -1.0, "1", True, None])
def test_a_pace_that_is_no_number_of_seconds_is_refused(pace: object) -> None:
    """An endless pace would hold the play for ever without a word; a NaN one would
    quietly be no pace."""
    driver = BlockingDriver(_StuckFacade())  # type: ignore[arg-type]
    error = TypeError if isinstance(pace, str | bool) or pace is None else ValueError
    with pytest.raises(error, match="pace"):
        ScenarioPlay((say("one"),), driver, pace=pace)  # type: ignore[arg-type]
    play = ScenarioPlay((say("one"),), driver, pace=2)
    with pytest.raises(error, match="pace"):
        play.pace = pace  # type: ignore[assignment]
    assert play.pace == 2.0


@pytest.mark.parametrize("patience", [math.nan, 0, -1.0, "1", True])
def test_a_patience_that_is_no_number_of_seconds_is_refused(patience: object) -> None:
    driver = BlockingDriver(_StuckFacade())  # type: ignore[arg-type]
    error = TypeError if isinstance(patience, str | bool) else ValueError
    with pytest.raises(error, match="patience"):
        ScenarioPlay((say("one"),), driver, patience=patience)  # type: ignore[arg-type]
