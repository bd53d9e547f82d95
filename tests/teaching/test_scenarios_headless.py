"""Every guided scenario, played headless, ends with the states it documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core import SimpleTask, TaskState
from app.teaching.scenarios import SCENARIOS, check, run_headless

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
