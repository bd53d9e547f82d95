"""Light and dark palettes for the Fusion style: both must stay legible."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2b",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f1f1f",
    QPalette.ColorRole.AlternateBase: "#272727",
    QPalette.ColorRole.ToolTipBase: "#3a3a3a",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff5c5c",
    QPalette.ColorRole.Link: "#6aa9ff",
    QPalette.ColorRole.Highlight: "#3d6fb4",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    QPalette.ColorRole.Mid: "#4a4a4a",
}


def apply(app: QApplication, dark: bool) -> None:
    """Fusion with the standard light palette, or a dark one built on it."""
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    palette = app.style().standardPalette()
    if dark:
        for role, colour in _DARK.items():
            palette.setColor(role, QColor(colour))
        disabled = QColor("#7a7a7a")
        for role in (
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.Text,
            QPalette.ColorRole.ButtonText,
        ):
            palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)


def luminance(colour: QColor) -> float:
    """Relative luminance (WCAG 2), 0 for black to 1 for white."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(c) for c in (colour.redF(), colour.greenF(), colour.blueF()))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: QColor, second: QColor) -> float:
    """WCAG 2 contrast ratio, 1 to 21; text wants 4.5 at least."""
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: QColor, *grounds: QColor, ratio: float = 4.5) -> QColor:
    """``colour`` made darker on light grounds (lighter on dark ones), keeping its hue,
    until text in it reads on each of ``grounds`` (WCAG contrast ``ratio``); as it is if
    it already does."""
    if not grounds:
        raise TypeError("readable() needs at least one ground colour")
    towards_dark = luminance(grounds[0]) > 0.5
    hue, saturation = colour.hslHueF(), colour.hslSaturationF()
    lightness, alpha = colour.lightnessF(), colour.alphaF()
    found = QColor(colour)
    for _step in range(20):
        if min(contrast(found, ground) for ground in grounds) >= ratio:
            break
        lightness = max(0.0, lightness - 0.05) if towards_dark else min(1.0, lightness + 0.05)
        found = QColor.fromHslF(max(hue, 0.0), saturation, lightness, alpha)
    return found
