"""Each guided scenario, played in the window, ends with the states it documents."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.gui import MainWindow
from app.teaching.scenarios import SCENARIOS


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_in_the_window(qtbot: QtBot, window: MainWindow, name: str) -> None:
    player = window.scenario_player
    with qtbot.waitSignal(player.finished, timeout=80_000) as ended:
        player.start(name)
    assert ended.args == [True], player.problems
    states = {t.ID: t.state for t in window.facade.tasks}
    states.update({i: t.state for i, t in player.sent.items() if i not in states})
    assert states == SCENARIOS[name].expected
    qtbot.waitUntil(window.model.settled, timeout=10_000)
    assert window.controls.new_run.isEnabled()  # every scenario ends with a collect
