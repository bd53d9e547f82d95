"""Durations: a negative one cannot be typed; an absurd one is refused next to the field."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.gui import MainWindow


def test_absurd_and_negative_durations(qtbot: QtBot, window: MainWindow) -> None:
    c = window.controls
    c.duration.setValue(-5.0)
    assert c.duration.value() == 0.0  # the field itself allows no negative time
    c.duration.setValue(86_400.0)
    c.task_id.setText("day-long")
    c.submit.click()
    assert "more than an hour" in c.message.text()
    assert window.facade.tasks == []  # nothing queued
    c.submit_many.click()
    assert window.facade.tasks == []
    c.duration.setValue(0.0)
    c.submit.click()
    assert c.message.text() == ""
    assert [t.ID for t in window.facade.tasks] == ["day-long"]
