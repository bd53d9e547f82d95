"""Durations: a negative one cannot be typed; an absurd one is refused next to the field;
text that is not a plain number of seconds is refused as typed, never reinterpreted."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QDoubleSpinBox, QLabel
from pytestqt.qtbot import QtBot

from app.core import SimpleTask
from app.gui import MainWindow
from tests.gui.helpers import child, click, enabled, message, wait_collected


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


def type_duration(
    qtbot: QtBot, window: MainWindow, text: str, paste: bool = False
) -> QDoubleSpinBox:
    """Replaces the duration's number by ``text``, key by key as a user types (or at once,
    through the field's validator, as a paste; QTest can type ASCII only)."""
    spin = child(window, QDoubleSpinBox, "durationSpin")
    window.activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=5_000)
    spin.selectAll()  # the number, not the " s" suffix
    if paste:
        spin.lineEdit().insert(text)
    else:
        qtbot.keyClicks(spin, text)
    return spin


def submitted(window: MainWindow) -> list[float]:
    return [t.estimated_processing_time for t in window.facade.tasks if isinstance(t, SimpleTask)]


NOT_PLAIN = [
    ("1e308", "exponent"),
    ("1E3", "exponent"),
    ("1,5", "','"),
    ("1,000", "','"),
    ("-5", "negative"),
    ("1.234", "2 decimals"),
    ("nan", "type digits"),
    ("inf", "type digits"),
    ("0x10", "type digits"),
    ("1 000", "type digits"),
    ("1.2.3", "type digits"),
    ("+5", "type digits"),
    ("\u0663", "type digits"),  # an Arabic-Indic three: not this locale's digit
    ("\uff13", "type digits"),  # a full-width three
]


@pytest.mark.parametrize(("text", "why"), NOT_PLAIN, ids=[ascii(t) for t, _ in NOT_PLAIN])
def test_text_that_is_not_plain_seconds_is_refused_as_typed(
    qtbot: QtBot, window: MainWindow, text: str, why: str
) -> None:
    assert window.locale().decimalPoint() == "."  # the test run's C locale
    spin = type_duration(qtbot, window, text, paste=not text.isascii())
    assert spin.lineEdit().text() == f"{text} s"  # no key dropped, nothing reinterpreted
    click(qtbot, window, "submitButton")  # focus leaves the field for the button
    assert spin.lineEdit().text() == f"{text} s"  # still what was typed
    assert f"'{text}' is not a number of seconds" in message(window)
    assert why in message(window)
    click(qtbot, window, "submitManyButton")
    assert window.facade.tasks == []  # nothing submitted


def test_pasted_text_is_refused_as_pasted(qtbot: QtBot, window: MainWindow) -> None:
    spin = type_duration(qtbot, window, "1e308", paste=True)
    assert spin.lineEdit().text() == "1e308 s"
    click(qtbot, window, "submitButton")
    assert "exponent" in message(window)
    assert window.facade.tasks == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("2.5", 2.5), ("0.25", 0.25), (" 7 ", 7.0), ("3600", 3600.0), ("0", 0.0)]
)
def test_a_plain_number_is_submitted_exactly(
    qtbot: QtBot, window: MainWindow, text: str, seconds: float
) -> None:
    type_duration(qtbot, window, text)
    click(qtbot, window, "submitButton")
    assert message(window) == ""
    assert submitted(window) == [seconds]


@pytest.mark.parametrize("text", ["3600.01", "86400", "99999999", "1000000000", "9" * 400])
def test_a_typed_duration_over_the_limit_is_refused_as_absurd(
    qtbot: QtBot, window: MainWindow, text: str
) -> None:
    spin = type_duration(qtbot, window, text)
    click(qtbot, window, "submitButton")
    assert "more than an hour" in message(window)
    assert message(window).startswith(text[:20])  # the number typed, not one made of it
    if float(text) > spin.maximum():
        assert spin.lineEdit().text() == f"{text} s"  # not cut to the box's maximum
    assert window.facade.tasks == []


def test_leaving_the_field_or_pressing_enter_keeps_the_refused_text(
    qtbot: QtBot, window: MainWindow
) -> None:
    spin = type_duration(qtbot, window, "1e308")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.lineEdit().text() == "1e308 s"
    window.controls.task_id.setFocus()  # focus leaves the box
    qtbot.waitUntil(lambda: not spin.hasFocus(), timeout=5_000)
    assert spin.lineEdit().text() == "1e308 s"
    click(qtbot, window, "submitButton")
    assert window.facade.tasks == []
    type_duration(qtbot, window, "1.5")  # corrected: goes through
    click(qtbot, window, "submitButton")
    assert message(window) == ""
    assert submitted(window) == [1.5]


def test_a_decimal_comma_locale_takes_a_comma_and_refuses_a_point(
    qtbot: QtBot, window: MainWindow
) -> None:
    spin = child(window, QDoubleSpinBox, "durationSpin")
    spin.setLocale(QLocale("de_DE"))
    type_duration(qtbot, window, "1.5")
    click(qtbot, window, "submitButton")
    assert "'.'" in message(window) and "','" in message(window)
    assert window.facade.tasks == []
    type_duration(qtbot, window, "1,5")
    click(qtbot, window, "submitButton")
    assert message(window) == ""
    assert submitted(window) == [1.5]


def test_a_refused_collect_timeout_does_not_collect(qtbot: QtBot, window: MainWindow) -> None:
    spin = child(window, QDoubleSpinBox, "collectTimeoutSpin")
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=5_000)
    spin.selectAll()
    qtbot.keyClicks(spin, "1e3")
    click(qtbot, window, "collectButton")
    assert "'1e3' is not a number of seconds" in message(window)
    assert spin.lineEdit().text() == "1e3 s"
    assert enabled(window, "submitButton")  # still running: nothing was collected
    spin.selectAll()
    qtbot.keyClicks(spin, "0.5")
    click(qtbot, window, "collectButton")
    wait_collected(qtbot, window)


def test_a_refused_task_timeout_does_not_start_a_run(qtbot: QtBot, window: MainWindow) -> None:
    facade = window.facade
    click(qtbot, window, "collectButton")
    wait_collected(qtbot, window)
    spin = child(window, QDoubleSpinBox, "taskTimeoutSpin")
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=5_000)
    spin.selectAll()
    qtbot.keyClicks(spin, "2,5")
    click(qtbot, window, "newRunButton")
    assert "'2,5' is not a number of seconds" in message(window)
    assert window.facade is facade  # no new run
    spin.selectAll()
    qtbot.keyClicks(spin, "2.5")
    click(qtbot, window, "newRunButton")
    assert window.facade is not facade
    assert "task_timeout=2.5" in child(window, QLabel, "codeView").text()


def test_enter_in_the_duration_box_submits(qtbot: QtBot, window: MainWindow) -> None:
    spin = type_duration(qtbot, window, "0.25")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert submitted(window) == [0.25]
    type_duration(qtbot, window, "1,5")  # refused text: Enter explains, submits nothing
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert submitted(window) == [0.25]
    assert message(window) != ""
