"""Colour as people with a colour-vision deficiency see it, for tests of what the window
draws: Machado, Oliveira and Fernandes (2009), "A Physiologically-based Model for
Simulation of Color Vision Deficiency", the matrices for severity 1.0 (dichromacy),
applied in linear RGB; and CIE L*a*b* with the CIE76 difference to say how far apart two
colours look (about 2.3 is just noticeable; under about 20, two flat colours side by side
are easily taken for one another at a glance).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QColor, QImage

Matrix = tuple[tuple[float, float, float], ...]
RGB = tuple[float, float, float]

SIMULATIONS: dict[str, Matrix] = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
    "full colour": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}


def linear(channel: float) -> float:
    """An sRGB channel (0-1) in linear light."""
    if channel <= 0.04045:
        return channel / 12.92
    return float(((channel + 0.055) / 1.055) ** 2.4)


def simulate(colour: QColor, matrix: Matrix) -> RGB:
    """``colour`` in linear RGB as seen under ``matrix``, clipped to 0-1."""
    rgb = [linear(colour.redF()), linear(colour.greenF()), linear(colour.blueF())]
    return tuple(  # type: ignore[return-value]
        min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True)))) for row in matrix
    )


def lab(rgb: RGB) -> RGB:
    """Linear RGB (D65) as CIE L*a*b*."""
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e(first: QColor, second: QColor, matrix: Matrix) -> float:
    """How far apart two colours look under ``matrix`` (CIE76)."""
    a, b = lab(simulate(first, matrix)), lab(simulate(second, matrix))
    return float(sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5)


def lightness(image: QImage, matrix: Matrix) -> list[list[float]]:
    """Each pixel's L* (0-100) as seen under ``matrix``: what is left to tell things
    apart once hue cannot be relied on."""
    rows = []
    for y in range(image.height()):
        rows.append(
            [lab(simulate(image.pixelColor(x, y), matrix))[0] for x in range(image.width())]
        )
    return rows


def texture(values: Sequence[Sequence[float]]) -> list[float]:
    """The pixels less their mean: the pattern alone, whatever the colour under it."""
    flat = [v for row in values for v in row]
    mean = sum(flat) / len(flat)
    return [v - mean for v in flat]


def apart(first: Sequence[float], second: Sequence[float], by: float) -> float:
    """The share of pixels that differ by ``by`` or more."""
    return sum(abs(a - b) >= by for a, b in zip(first, second, strict=True)) / len(first)
