"""What a lecture writes beside the cell: its equations, the update at one token with the recorded
numbers (which add up), and one line in plain words per gate."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from rnnviz.core.quantities import PYTORCH_NOTATION, Notation
from rnnviz.errors import RnnvizError

EQUATIONS = {
    "lstm": [
        r"i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})",
        r"f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})",
        r"g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})",
        r"o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})",
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
        r"h_t = o_t \odot \tanh(c_t)",
    ],
    "gru": [
        r"r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})",
        r"z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})",
        r"n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ],
    "rnn_tanh": [r"h_t = \tanh(W x_t + b_W + H h_{t-1} + b_H)"],
    "rnn_relu": [r"h_t = \max(0,\ W x_t + b_W + H h_{t-1} + b_H)"],
}


TEXTBOOK_GRU = {
    r"z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})": (
        r"z_t = \sigma(-(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}))"
    ),
    r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}": r"h_t = z_t \odot n_t + (1 - z_t) \odot h_{t-1}",
}


def written(tex: str, notation: Notation) -> str:
    """LaTeX in the notation's symbols: c̃ for g, the lesson's S and X for h and x, i for t."""
    if notation.candidate == "c~":
        tex = re.sub(r"(?<![\\\w{])g(?=[_ ]|$)", r"\\tilde{c}", tex)
    if notation.symbols == "S":
        tex = re.sub(r"(?<![\\\w{])h(?=_)", "S", tex)
        tex = re.sub(r"(?<![\\\w{])x(?=_)", "X", tex)
        tex = re.sub(r"_t\b", "_i", tex).replace("_{t-1}", "_{i-1}").replace("_{t+1}", "_{i+1}")
    return tex


def equations(cell_kind: str, notation: Notation = PYTORCH_NOTATION) -> list[str]:
    """The cell's equations in the notation (the textbook GRU's z is PyTorch's 1 − z)."""
    lines = EQUATIONS[cell_kind]
    if cell_kind == "gru" and notation.textbook_update:
        lines = [TEXTBOOK_GRU.get(line, line) for line in lines]
    return [written(line, notation) for line in lines]


@dataclass(frozen=True)
class UnitStep:
    """One unit's quantities at token t, and its state before the step: at t − 1 for the forward
    direction, at t + 1 for the backward one (which reads the text right to left); zero at the start."""

    step: int
    unit: int
    values: dict[str, float]  # quantity → value at t
    previous_hidden: float
    previous_cell: float | None = None
    # the token whose state the step starts from (−1 or T: the initial state)
    previous_step: int = -1
    from_initial: bool = False  # the step starts from the initial state (no token read before it)


def unit_step(
    series: dict[str, np.ndarray],
    step: int,
    unit: int,
    direction: str = "forward",
    initial_hidden: float = 0.0,
    initial_cell: float = 0.0,
) -> UnitStep:
    """Pick token t from a unit's per-token series (quantity → [time]) with the state it started from."""
    length = len(series["hidden"])
    previous = step - 1 if direction == "forward" else step + 1
    inside = 0 <= previous < length
    values = {q: float(v[step]) for q, v in series.items()}
    previous_hidden = float(series["hidden"][previous]) if inside else initial_hidden
    previous_cell = None
    if "cell" in series:
        previous_cell = float(series["cell"][previous]) if inside else initial_cell
    return UnitStep(step, unit, values, previous_hidden, previous_cell, previous, not inside)


def _number(value: float) -> str:
    """A value as the page writes it: three decimals, never in scientific notation, never "-0.000"."""
    written = f"{value:.3f}"
    return "0.000" if written == "-0.000" else written


def reading_order(steps: int, direction: str) -> list[int]:
    """Token positions in the order the layer reads them: left to right, or right to left (backward)."""
    return list(range(steps)) if direction == "forward" else list(range(steps - 1, -1, -1))


@torch.no_grad()
def class_probabilities_per_suffix(module, ids: list[int]) -> np.ndarray:
    """The classifier run on every suffix x[t:]: array [T, C]; row t is p(class | x[t:]).

    What a backward direction has read at token t is the suffix from t to the end; the page's
    per-token prediction is about prefixes, so a backward lecture shows this one beside its reading.
    `module` is a bundled TextClassifier (embedding → rnn → head, called with lengths)."""
    steps = len(ids)
    if steps == 0:
        raise RnnvizError("cannot predict on an empty input (no tokens)")
    batch = torch.zeros((steps, steps), dtype=torch.int64)  # suffixes, left-aligned, padded after
    for t in range(steps):
        batch[t, : steps - t] = torch.tensor(ids[t:], dtype=torch.int64)
    logits = module(batch, torch.arange(steps, 0, -1))  # [T, C]
    return torch.softmax(logits, dim=-1).numpy().astype(np.float32)


def written_update(cell_kind: str, s: UnitStep, notation: Notation = PYTORCH_NOTATION) -> list[str]:
    """The update at token t for one unit, in LaTeX, with the recorded numbers filled in.

    Every line adds up: its written arithmetic evaluates to its shown result within the rounding of
    the numbers shown (three decimals).
    """
    return [written(line, notation) for line in _written_update(cell_kind, s, notation)]


def _aligned(*rows: str) -> str:
    """Rows of one derivation, aligned at their "=", each on a line of its own: the written update
    stays narrow enough for a lecture's column, and its result is never pushed past the edge."""
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def _written_update(cell_kind: str, s: UnitStep, notation: Notation) -> list[str]:
    v, t, p = s.values, s.step, s.previous_step
    n = _number
    if (
        cell_kind == "gru" and notation.textbook_update
    ):  # the values are the textbook's z = 1 − PyTorch's
        return [
            _aligned(
                rf"h_{{{t}}} &= z \cdot n + (1 - z) \cdot h_{{{p}}}",
                rf"&= {n(v['update_gate'])} \cdot ({n(v['new_gate'])}) + (1 - {n(v['update_gate'])}) "
                rf"\cdot ({n(s.previous_hidden)})",
                rf"&= {n(v['hidden'])}",
            )
        ]
    if cell_kind == "lstm":
        return [
            _aligned(
                rf"c_{{{t}}} &= f \cdot c_{{{p}}} + i \cdot g",
                rf"&= {n(v['forget_gate'])} \cdot ({n(s.previous_cell)}) + {n(v['input_gate'])} "
                rf"\cdot ({n(v['cell_gate'])})",
                rf"&= {n(v['cell'])}",
            ),
            _aligned(
                rf"h_{{{t}}} &= o \cdot \tanh(c_{{{t}}})",
                rf"&= {n(v['output_gate'])} \cdot \tanh({n(v['cell'])})",
                rf"&= {n(v['hidden'])}",
            ),
        ]
    if cell_kind == "gru":
        return [
            _aligned(
                rf"h_{{{t}}} &= (1 - z) \cdot n + z \cdot h_{{{p}}}",
                rf"&= (1 - {n(v['update_gate'])}) \cdot ({n(v['new_gate'])}) + {n(v['update_gate'])} "
                rf"\cdot ({n(s.previous_hidden)})",
                rf"&= {n(v['hidden'])}",
            )
        ]
    if cell_kind == "rnn_tanh":
        # the pre-activation a is recovered from h = tanh(a); W x_t and H h_prev are not recorded apart
        pre_activation = float(np.arctanh(np.clip(v["hidden"], -1 + 1e-7, 1 - 1e-7)))
        return [
            _aligned(
                rf"h_{{{t}}} &= \tanh(W x_{{{t}}} + H h_{{{p}}} + b)",
                rf"&= \tanh({n(pre_activation)})",
                rf"&= {n(v['hidden'])}",
                rf"\text{{with }} h_{{{p}}} &= {n(s.previous_hidden)}",
            )
        ]
    return [
        _aligned(
            rf"h_{{{t}}} &= \mathrm{{relu}}(W x_{{{t}}} + H h_{{{p}}} + b)",
            rf"&= {n(v['hidden'])}",
            rf"\text{{with }} h_{{{p}}} &= {n(s.previous_hidden)}",
        )
    ]


def gate_sentences(cell_kind: str, s: UnitStep, notation: Notation = PYTORCH_NOTATION) -> list[str]:
    """One line in plain words per gate at this step (Markdown)."""
    v, p = s.values, s.previous_step
    h, g = notation.symbol("hidden"), notation.symbol("cell_gate")
    old_c = "the initial cell state" if s.from_initial else f"the old cell state c{_sub(p)}"
    old_h = f"the initial state {h}" if s.from_initial else f"the old state {h}{_sub(p)}"
    into = f"the initial {h}" if s.from_initial else f"{h}{_sub(p)}"
    percent = lambda value: f"{value:.0%}"  # noqa: E731
    if cell_kind == "lstm":
        return [
            f"**f = {v['forget_gate']:.2f}**: keeps {percent(v['forget_gate'])} of {old_c}",
            f"**i = {v['input_gate']:.2f}**: writes {percent(v['input_gate'])} of the candidate "
            f"{g} = {_two(v['cell_gate'])} into c",
            f"**o = {v['output_gate']:.2f}**: lets {percent(v['output_gate'])} of tanh(c) out as {h}",
        ]
    if cell_kind == "gru":
        kept = 1 - v["update_gate"] if notation.textbook_update else v["update_gate"]
        return [
            f"**z = {v['update_gate']:.2f}**: keeps {percent(kept)} of {old_h} and takes "
            f"{percent(1 - kept)} from the candidate n = {_two(v['new_gate'])}",
            f"**r = {v['reset_gate']:.2f}**: lets {percent(v['reset_gate'])} of {into} into the candidate n",
        ]
    return [
        f"{h} is a squashed mix of the input and {old_h} = {_two(s.previous_hidden)}; "
        "no gate decides what to keep"
    ]


def _two(value: float) -> str:
    """Two decimals for a signed value in a sentence; one that rounds to zero is 0.00, not -0.00."""
    written = f"{value:.2f}"
    return "0.00" if written == "-0.00" else written


def _sub(index: int) -> str:
    """A subscript index as plain text (Markdown has no subscripts): c₃, h₁₂."""
    return str(index).translate(str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉"))
