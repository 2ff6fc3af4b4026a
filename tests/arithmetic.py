"""Reading a written update (lecture.written_update's LaTeX) back into numbers, and checking it adds up."""

from __future__ import annotations

import math
import re

NUMBER = r"(-?\d+\.\d+)"
HALF_STEP = 0.0005  # every number is written with three decimals


def _numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(NUMBER, line)]


def check_written_update(cell: str, lines: list[str]) -> dict[str, float]:
    """Evaluate each line's arithmetic from the numbers it shows and assert it equals the shown result
    within the rounding of those numbers; return the previous state each line names."""
    found: dict[str, float] = {}
    if cell == "lstm":
        f, c_prev, i, g, c = _numbers(lines[0].split("=", 2)[2])
        bound = HALF_STEP * (abs(f) + abs(c_prev) + abs(i) + abs(g) + 1) + 2 * HALF_STEP**2
        assert abs(f * c_prev + i * g - c) <= bound, (lines[0], f * c_prev + i * g)
        o, c_again, h = _numbers(lines[1].split("=", 2)[2])
        assert c_again == c
        assert abs(o * math.tanh(c) - h) <= HALF_STEP * (abs(o) + 1 + 1) + HALF_STEP**2, (
            lines[1],
            o * math.tanh(c),
        )
        found.update(cell=c_prev)
    elif cell == "gru":
        z, n, z_again, h_prev, h = _numbers(lines[0].split("=", 2)[2])
        assert z == z_again
        bound = HALF_STEP * (2 * abs(z) + abs(n) + abs(h_prev) + 2 + 1)
        assert abs((1 - z) * n + z * h_prev - h) <= bound, (lines[0], (1 - z) * n + z * h_prev)
        found.update(hidden=h_prev)
    else:
        pre, h, h_prev = _numbers(lines[0].split("=", 2)[2])
        assert abs(math.tanh(pre) - h) <= 2 * HALF_STEP, (lines[0], math.tanh(pre))
        found.update(hidden=h_prev)
    return found


def previous_index(line: str) -> int:
    """The token index of the previous state a line names (c_{p} or h_{p} on its right-hand side)."""
    return int(re.findall(r"[ch]_\{(-?\d+)\}", line)[1])
