"""Typed reads of the window's QSettings: a value that cannot be used never stops the app.

An ini file is text anyone can edit, and a disk or a sync tool can damage: ``duration=abc``
once made every launch end in a traceback. Each read here checks the value's type and
range; a value it cannot use is replaced by the default, with one warning line naming the
file, the key and the value.
"""

from __future__ import annotations

import logging
import math
import reprlib
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger("app.gui")

T = TypeVar("T")

_short = reprlib.Repr()
_short.maxstring = 60  # a damaged value may be a whole file's worth
_short.maxother = 60

_TRUE = ("true", "1")
_FALSE = ("false", "0")


class SettingsReader:
    """Reads keys of one QSettings by type; each method returns the default for a value that
    is missing (silently) or unusable (with a warning)."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A finite float in [low, high]."""
        raw = self.settings.value(key)
        if raw is None:
            return default
        try:
            value = float(raw) if isinstance(raw, str | int | float) else math.nan
        except ValueError:
            value = math.nan
        if isinstance(raw, bool) or not (math.isfinite(value) and low <= value <= high):
            return self.unusable(key, raw, default, f"a number from {low:.15g} to {high:.15g}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """An int in [low, high]; "2.5" is not one."""
        raw = self.settings.value(key)
        if raw is None:
            return default
        try:
            value = int(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            return self.unusable(key, raw, default, f"a whole number from {low} to {high}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        """true or false (as QSettings writes them; 1 and 0 too)."""
        raw = self.settings.value(key)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return self.unusable(key, raw, default, "true or false")

    def restore(self, key: str, restore: Callable[[QByteArray], bool]) -> None:
        """Hands the bytes saved under ``key`` to ``restore`` (``restoreGeometry``,
        ``restoreState``), which says whether it could use them; else the layout stays
        as built."""
        raw = self.settings.value(key)
        if raw is None:
            return
        if not isinstance(raw, QByteArray | bytes) or not restore(QByteArray(raw)):
            self._warn(key, raw, "a state saved by this window", "the layout as built")

    def unusable(self, key: str, raw: object, default: T, expected: str) -> T:
        """Logs one line about a value that cannot be used, and returns ``default``."""
        self._warn(key, raw, expected, f"the default {default!r}")
        return default

    def _warn(self, key: str, raw: object, expected: str, instead: str) -> None:
        if isinstance(raw, QByteArray):
            raw = bytes(raw.data())
        elif isinstance(raw, list):  # "a, b" in an ini file is a list
            raw = ", ".join(map(str, raw))
        log.warning(
            "settings %s: ignoring %s=%s (expected %s); using %s",
            self.settings.fileName(),
            key,
            _short.repr(raw),
            expected,
            instead,
        )
