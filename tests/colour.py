"""Lightness of a colour as an eye reads it (CIELAB L*), for checks that a magnitude's colour scale
runs one way: written from the sRGB and CIELAB definitions, sharing no code with rnnviz or plotly."""

from __future__ import annotations


def lightness(colour: str) -> float:
    """CIELAB L* of an 'rgb(r, g, b)' or '#rrggbb' colour (sRGB, D65): what 'faint' means to an eye."""
    if colour.startswith("#"):
        channels = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    else:
        channels = [float(v) for v in colour[colour.index("(") + 1 : colour.index(")")].split(",")]
    linear = [
        (c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
        for c in channels[:3]
    ]
    y = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 116 * (y ** (1 / 3) if y > 216 / 24389 else (24389 / 27 * y + 16) / 116) - 16


def runs_one_way(colours: list[str]) -> bool:
    """Whether lightness strictly falls (or strictly rises) along the colour steps."""
    values = [lightness(colour) for colour in colours]
    steps = [b - a for a, b in zip(values, values[1:])]
    return all(d < 0 for d in steps) or all(d > 0 for d in steps)
