"""The window keeps its geometry and the user's choices in the QSettings it is given."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from tests.gui.conftest import WindowFactory
from tests.gui.helpers import child


def test_settings_are_saved_and_restored(make_window: WindowFactory, tmp_path: Path) -> None:
    path = tmp_path / "kept.ini"
    first = make_window(workers=1, settings_path=path)
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

    second = make_window(workers=1, settings_path=path)
    assert child(second, QDoubleSpinBox, "durationSpin").value() == 2.5
    assert child(second, QComboBox, "crashModeCombo").currentText() == "segfault"
    assert child(second, QSpinBox, "manyCountSpin").value() == 1234
    assert child(second, QDoubleSpinBox, "collectTimeoutSpin").value() == 7.0
    assert child(second, QDoubleSpinBox, "taskTimeoutSpin").value() == 3.0
    assert child(second, QCheckBox, "autoRestartCheck").isChecked()
    assert second.size() == size
    assert second.geometry() == first.geometry()


def test_a_fresh_settings_file_gives_the_defaults(make_window: WindowFactory) -> None:
    window = make_window(workers=1)
    assert child(window, QComboBox, "crashModeCombo").currentText() == "exception"
    assert child(window, QDoubleSpinBox, "durationSpin").value() == 1.0
    assert not child(window, QCheckBox, "autoRestartCheck").isChecked()  # as in the core
