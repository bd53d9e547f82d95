"""The window keeps its geometry and the user's choices in the QSettings it is given, and
opens with the defaults, saying which, when a value in the file cannot be used."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox
from pytestqt.qtbot import QtBot

from app.gui import MainWindow
from app.testing import WindowFactory
from tests.gui.helpers import child


def test_settings_are_saved_and_restored(monitor_window: WindowFactory, tmp_path: Path) -> None:
    path = tmp_path / "kept.ini"
    first = monitor_window(workers=1, settings_path=path)
    first.resize(1111, 707)  # the default is 1280 x 820
    first.move(40, 30)
    size = first.size()
    assert (size.width(), size.height()) == (1111, 707)
    child(first, QDoubleSpinBox, "durationSpin").setValue(2.5)
    crash = child(first, QComboBox, "crashModeCombo")
    crash.setCurrentIndex(crash.findText("segfault"))
    child(first, QSpinBox, "manyCountSpin").setValue(1234)
    child(first, QDoubleSpinBox, "collectTimeoutSpin").setValue(7.0)
    child(first, QDoubleSpinBox, "taskTimeoutSpin").setValue(3.0)
    child(first, QCheckBox, "autoRestartCheck").setChecked(True)
    first.shutdown()
    assert path.exists()
    assert QSettings(str(path), QSettings.Format.IniFormat).contains("window/geometry")

    second = monitor_window(workers=1, settings_path=path)
    assert child(second, QDoubleSpinBox, "durationSpin").value() == 2.5
    assert child(second, QComboBox, "crashModeCombo").currentText() == "segfault"
    assert child(second, QSpinBox, "manyCountSpin").value() == 1234
    assert child(second, QDoubleSpinBox, "collectTimeoutSpin").value() == 7.0
    assert child(second, QDoubleSpinBox, "taskTimeoutSpin").value() == 3.0
    assert child(second, QCheckBox, "autoRestartCheck").isChecked()
    assert second.size() == size
    assert second.geometry() == first.geometry()


def test_a_fresh_settings_file_gives_the_defaults(monitor_window: WindowFactory) -> None:
    window = monitor_window(workers=1)
    assert child(window, QComboBox, "crashModeCombo").currentText() == "exception"
    assert child(window, QDoubleSpinBox, "durationSpin").value() == 1.0
    assert not child(window, QCheckBox, "autoRestartCheck").isChecked()  # as in the core


DAMAGED = [
    ("run/duration", "abc"),
    ("run/duration", "-5"),
    ("run/duration", "nan"),
    ("run/duration", "1e9"),  # beyond the box's range
    ("run/many", "lots"),
    ("run/many", "0"),
    ("run/many", "2.5"),
    ("run/many", "1, 2"),  # an ini list
    ("run/crashMode", "x"),
    ("run/crashMode", "99"),
    ("run/crashMode", "-1"),
    ("run/autoRestart", "maybe"),
    ("run/taskTimeout", "soon"),
    ("run/taskTimeout", "-1"),
    ("run/collectTimeout", "inf"),
    ("view/dark", "2"),
    ("window/geometry", "garbage"),  # text where bytes belong
    ("window/geometry", "@ByteArray(garbage)"),  # bytes that are no geometry
    ("window/mainSplit", "notastate"),
    ("window/topSplit", "@ByteArray(xyz)"),
    ("window/bottomSplit", "12"),
    ("window/tableSplit", "@ByteArray()"),
]


def write_ini(path: Path, values: list[tuple[str, str]]) -> None:
    """An ini file as a user's editor (or a disk error) may leave it: raw lines."""
    sections: dict[str, list[str]] = {}
    for key, raw in values:
        section, name = key.split("/")
        sections.setdefault(section, []).append(f"{name}={raw}")
    path.write_text(
        "".join(f"[{s}]\n" + "\n".join(lines) + "\n\n" for s, lines in sections.items()),
        encoding="utf-8",
    )


def assert_defaults(window: MainWindow) -> None:
    assert child(window, QDoubleSpinBox, "durationSpin").value() == 1.0
    assert child(window, QSpinBox, "manyCountSpin").value() == 100
    assert child(window, QComboBox, "crashModeCombo").currentText() == "exception"
    assert not child(window, QCheckBox, "autoRestartCheck").isChecked()
    assert child(window, QDoubleSpinBox, "taskTimeoutSpin").value() == 0.0
    assert child(window, QDoubleSpinBox, "collectTimeoutSpin").value() == 0.0
    assert not window.dark_action.isChecked()


def warnings_about(caplog: pytest.LogCaptureFixture, key: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and key in r.getMessage()
    ]


@pytest.mark.parametrize(("key", "raw"), DAMAGED, ids=[f"{k}={v}" for k, v in DAMAGED])
def test_a_damaged_value_falls_back_to_its_default_with_a_warning(
    qtbot: QtBot,
    monitor_window: WindowFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    key: str,
    raw: str,
) -> None:
    path = tmp_path / "damaged.ini"
    write_ini(path, [(key, raw)])
    caplog.set_level(logging.WARNING)
    window = monitor_window(workers=1, settings_path=path)
    assert_defaults(window)
    if key == "window/geometry":
        assert (window.width(), window.height()) == (1280, 820)
    said = warnings_about(caplog, key)
    assert len(said) == 1, said
    shown = raw[len("@ByteArray(") : -1] if raw.startswith("@ByteArray(") else raw
    assert shown in said[0]
    assert "\n" not in said[0]  # one line
    qtbot.waitUntil(lambda: key in window.console.text.toPlainText(), timeout=5_000)


def test_every_value_damaged_at_once_still_opens_the_window(
    monitor_window: WindowFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "damaged.ini"
    last = {key: raw for key, raw in DAMAGED}  # one bad value per key
    write_ini(path, list(last.items()))
    caplog.set_level(logging.WARNING)
    window = monitor_window(workers=1, settings_path=path)
    assert_defaults(window)
    for key in last:
        assert len(warnings_about(caplog, key)) == 1, key
    window.shutdown()  # and the next start reads good values again, without a word
    caplog.clear()
    monitor_window(workers=1, settings_path=path)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_good_values_log_no_warning(
    monitor_window: WindowFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "good.ini"
    write_ini(
        path,
        [
            ("run/duration", "2.5"),
            ("run/many", "7"),
            ("run/crashMode", "3"),
            ("run/autoRestart", "true"),
            ("run/taskTimeout", "4"),
            ("run/collectTimeout", "0"),
            ("view/dark", "false"),
        ],
    )
    caplog.set_level(logging.WARNING)
    window = monitor_window(workers=1, settings_path=path)
    assert child(window, QDoubleSpinBox, "durationSpin").value() == 2.5
    assert child(window, QSpinBox, "manyCountSpin").value() == 7
    assert child(window, QComboBox, "crashModeCombo").currentText() == "SIGKILL"
    assert child(window, QCheckBox, "autoRestartCheck").isChecked()
    assert child(window, QDoubleSpinBox, "taskTimeoutSpin").value() == 4.0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
