"""The lecture's figures: the cell as boxes and arrows whose gates carry their current values, and
the prediction as the text is read."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from rnnviz.core.quantities import PYTORCH_NOTATION, SIGMOID_GATES, Notation
from rnnviz.display import token_display, token_text
from rnnviz.figures.look import (
    ASSUMED_FIGURE_PX,
    SMALLEST_TICK_FONT,
    _colour_steps,
    _plain_figure,
    text_px,
    token_ticks,
)

# The canvas, in the diagram's own units: inputs enter from below, the state leaves to the right.
_WIDTH, _BOTTOM, _TOP = 12.0, -0.4, 7.0
_GATE_ROW, _STATE_ROW = 1.45, 5.0
_HALF_WIDTH, _HALF_HEIGHT = 1.3, 1.05  # wide and tall enough for "mean −0.12" in three lines


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    half_width: float = _HALF_WIDTH
    half_height: float = _HALF_HEIGHT

    def edge_towards(self, x: float, y: float) -> tuple[float, float]:
        """Where the line from the box's centre towards (x, y) leaves the box."""
        dx, dy = x - self.x, y - self.y
        scale = min(
            self.half_width / abs(dx) if dx else math.inf,
            self.half_height / abs(dy) if dy else math.inf,
        )
        return self.x + scale * dx, self.y + scale * dy


# quantity → box; "input" and "previous" (the RNN's x_t and h_{t−1}) and "activation" (its tanh)
# are drawn for the RNN, whose whole update is one squashing of its two inputs.
_LAYOUT = {
    "lstm": {
        "forget_gate": _Box(1.45, _GATE_ROW),
        "input_gate": _Box(4.15, _GATE_ROW),
        "cell_gate": _Box(6.85, _GATE_ROW),
        "output_gate": _Box(9.55, _GATE_ROW),
        "cell": _Box(5.5, _STATE_ROW),
        "hidden": _Box(10.55, _STATE_ROW),
    },
    # r feeds the candidate n beside it; z, apart, mixes n with h_{t−1} into h: no arrow crosses a box
    "gru": {
        "reset_gate": _Box(1.6, _GATE_ROW),
        "new_gate": _Box(5.4, _GATE_ROW),
        "update_gate": _Box(9.9, _GATE_ROW),
        "hidden": _Box(5.4, _STATE_ROW),
    },
    "rnn": {
        "input": _Box(2.0, _GATE_ROW),
        "previous": _Box(2.0, _STATE_ROW),
        "activation": _Box(6.2, 3.2, 1.0, 0.6),
        "hidden": _Box(10.3, 3.2),
    },
}
_FLOWS = {
    "lstm": [
        ("forget_gate", "cell"),
        ("input_gate", "cell"),
        ("cell_gate", "cell"),
        ("cell", "hidden"),
        ("output_gate", "hidden"),
    ],
    "gru": [("reset_gate", "new_gate"), ("new_gate", "hidden"), ("update_gate", "hidden")],
    "rnn": [("input", "activation"), ("previous", "activation"), ("activation", "hidden")],
}


def _cell_layout(cell: str) -> str:
    return "rnn" if cell.startswith("rnn") else cell


def shown_value(value: float) -> str:
    """Two decimals with a true minus sign; a value that rounds to zero is written 0.00, never −0.00."""
    if not np.isfinite(value):
        return "–"
    written = f"{value:.2f}"
    return "0.00" if written == "-0.00" else written.replace("-", "−")


def cell_diagram(
    cell_kind: str,
    gate_values: dict[str, tuple[float, float]],
    step_label: str,
    font_size: int = 20,
    direction: str = "forward",
    height: int = 520,
    notation: Notation = PYTORCH_NOTATION,
    token: str | None = None,
) -> go.Figure:
    """The cell as boxes and arrows; each box shows the mean over units and the selected unit's value.

    `gate_values`: quantity → (mean over units, the unit's value); for an RNN also "previous" (the
    state the step starts from). Sigmoid gates are shaded by how open they are (mean over units):
    dark = open, pale = shut. An RNN has no gates: x_t and h_{t−1} → tanh (relu) → h_t.
    """
    figure = go.Figure()
    t = notation.index
    # the backward direction reads right to left: its previous state is at t + 1
    previous = f"{t}−1" if direction == "forward" else f"{t}+1"
    h, x_in = notation.symbol("hidden"), notation.input_symbol
    layout = _cell_layout(cell_kind)
    boxes = _LAYOUT[layout]
    for source, target in _FLOWS[layout]:
        start, end = boxes[source], boxes[target]
        _arrow(figure, start.edge_towards(end.x, end.y), end.edge_towards(start.x, start.y))
    for quantity, box in boxes.items():
        mean, unit_value = gate_values.get(quantity, (float("nan"), float("nan")))
        gate = quantity in SIGMOID_GATES
        openness = float(np.clip(np.nan_to_num(mean), 0, 1))
        fill = (
            f"rgba(33, 102, 172, {0.12 + 0.78 * openness:.2f})"
            if gate
            else "rgba(235, 235, 235, 1)"
        )
        if quantity == "activation":
            fill, text = "white", "<b>relu</b>" if cell_kind == "rnn_relu" else "<b>tanh</b>"
        elif quantity == "input":
            text = f"<b>{x_in}<sub>{t}</sub></b><br>{html.escape(token_display(token or ''))}"
        elif quantity == "previous":
            text = f"<b>{h}<sub>{previous}</sub></b><br>mean {shown_value(mean)}<br>unit {shown_value(unit_value)}"
        else:
            symbol = notation.symbol(quantity) + (f"<sub>{t}</sub>" if layout == "rnn" else "")
            text = f"<b>{symbol}</b><br>mean {shown_value(mean)}<br>unit {shown_value(unit_value)}"
        figure.add_shape(
            type="rect",
            x0=box.x - box.half_width,
            x1=box.x + box.half_width,
            y0=box.y - box.half_height,
            y1=box.y + box.half_height,
            line=dict(width=3, color="#111"),
            fillcolor=fill,
            layer="below",
        )
        figure.add_annotation(
            x=box.x,
            y=box.y,
            showarrow=False,
            align="center",
            font=dict(size=font_size, color="white" if gate and openness > 0.55 else "black"),
            text=text,
        )
    if layout == "rnn":
        caption = "no gates: the whole state is rewritten at every step"
    else:
        caption = f"the gates read {x_in}<sub>{t}</sub> and {h}<sub>{previous}</sub>"
    figure.add_annotation(
        x=_WIDTH / 2,
        y=_BOTTOM + 0.05,
        yanchor="bottom",
        showarrow=False,
        font=dict(size=font_size, color="#444"),
        text=caption,
    )
    carried = {"lstm": ("cell", "c"), "gru": ("hidden", h)}.get(layout)
    if carried:  # the state carried from the previous step comes in from the left
        box = boxes[carried[0]]
        _arrow(figure, (0.3, box.y), (box.x - box.half_width, box.y))
        figure.add_annotation(
            x=0.3,
            y=box.y + 0.2,
            yanchor="bottom",
            showarrow=False,
            xanchor="left",
            font=dict(size=font_size),
            text=f"{carried[1]}<sub>{previous}</sub>",
        )
    figure.add_annotation(
        x=0.2,
        y=_TOP - 0.05,
        yanchor="top",
        showarrow=False,
        xanchor="left",
        font=dict(size=font_size),
        text=step_label,
    )
    figure.update_layout(
        xaxis=dict(range=[0, _WIDTH], visible=False, fixedrange=True),
        yaxis=dict(range=[_BOTTOM, _TOP], visible=False, fixedrange=True),
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        plot_bgcolor="white",
        showlegend=False,
    )
    return figure


def _arrow(figure: go.Figure, start: tuple[float, float], end: tuple[float, float]) -> None:
    """An arrow from `start` to `end` in the diagram's own coordinates."""
    figure.add_annotation(
        x=end[0],
        y=end[1],
        ax=start[0],
        ay=start[1],
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=3,
        arrowwidth=3,
        arrowcolor="#444",
        text="",
    )


def reading_prediction_curve(
    probabilities: np.ndarray,
    order: list[int],
    read: int,
    token_labels: list[str],
    classes: list[str],
    title: str,
    font_size: int = 20,
    height: int = 240,
) -> go.Figure:
    """The prediction after each token read so far, one line per class in the classes' own order:
    `probabilities` [T, C] by token position, `order` the reading order, `read` how many are read.

    The token axis holds every token of the reading from the start, so the curve grows as it is read."""
    shown = order[:read]
    names = [token_labels[t] for t in order]
    traces = [
        dict(
            type="scatter",
            x=[token_labels[t] for t in shown],
            y=[float(probabilities[t, k]) for t in shown],
            mode="lines+markers",
            name=name,
            line=dict(width=4),
            marker=dict(size=9),
            hovertemplate=f"%{{x}}: P({html.escape(name)}) = %{{y:.2f}}<extra></extra>",
        )
        for k, name in enumerate(classes)
    ]
    return _plain_figure(
        traces,
        dict(
            title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size)),
            xaxis=dict(
                type="category",
                categoryorder="array",
                categoryarray=names,
                range=[-0.5, len(names) - 0.5],
                showticklabels=False,
                fixedrange=True,
            ),
            yaxis=dict(range=[0, 1], tickvals=[0, 0.5, 1], fixedrange=True),
            legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"),
            height=height,
            margin=dict(l=50, r=10, t=font_size * 2 + 6, b=font_size * 2 + 10),
            font=dict(size=font_size),
        ),
    )


def concatenated_reading(
    forward_hidden: np.ndarray,
    backward_hidden: np.ndarray,
    forward_read: int,
    backward_from: int,
    token_labels: list[str],
    unit: int,
    reader: str,
    font_size: int = 20,
    figure_px: float = ASSUMED_FIGURE_PX,
    smallest_font: int = SMALLEST_TICK_FONT,
    row_px: int = 30,
) -> go.Figure:
    """What the next layer reads of a bidirectional layer: at each token t the concatenation
    [h→_t ; h←_t], complete once the forward direction has read t (t < `forward_read`) and the
    backward one has too (t ≥ `backward_from`). One row per direction (the unit's value in each
    half, blank where that direction has not read yet) and a row that marks the complete tokens.
    `figure_px`: the chart's width; rows keep a readable height and the tokens their labels whole at
    any length of text."""
    steps = len(token_labels)
    positions = np.arange(steps)
    forward_done, backward_done = positions < forward_read, positions >= backward_from
    rows = np.vstack(
        [
            np.where(backward_done, backward_hidden, np.nan),
            np.where(forward_done, forward_hidden, np.nan),
        ]
    )
    # rows at numbers (a category axis shared by two heatmaps misplaces their cell texts)
    names = {2: f"h→ unit {unit}", 1: f"h← unit {unit}", 0: f"[h→; h←] {reader}"}
    written = steps <= 16  # values in the cells while they fit
    text = [[shown_value(v) if np.isfinite(v) else "" for v in row] for row in rows]
    complete = forward_done & backward_done
    traces = [
        dict(
            type="heatmap",
            z=rows.tolist(),
            x=positions.tolist(),
            y=[1, 2],
            zmin=-1,
            zmax=1,
            colorscale=_colour_steps("RdBu_r"),  # the heatmaps' colours for h
            showscale=False,
            text=text,
            texttemplate="%{text}" if written else None,
            textfont=dict(size=font_size),
            hovertemplate="%{z:.3f}<extra></extra>",
            xgap=2,
            ygap=2,
        ),
        dict(
            type="heatmap",
            z=[[1.0 if done else np.nan for done in complete]],
            x=positions.tolist(),
            y=[0],
            zmin=0,
            zmax=1,
            colorscale=[[0, "#2ca02c"], [1, "#2ca02c"]],
            showscale=False,
            text=[["✓" if done else "" for done in complete]],
            texttemplate="%{text}",
            textfont=dict(size=font_size, color="white"),
            hovertemplate="both directions have read it<extra></extra>",
            xgap=2,
            ygap=2,
        ),
    ]
    left_px = int(max(text_px(name, font_size) for name in names.values())) + 16
    # margins and range are exact here (no padding), so labels may stand as close as Chromium draws them
    ticks = token_ticks(
        [token_text(label) for label in token_labels],
        figure_px - left_px - 10,
        font_size,
        smallest=smallest_font,
        label_pitch=1.35,
    )
    return _plain_figure(
        traces,
        dict(
            xaxis=dict(
                tickmode="array",
                tickvals=ticks.shown,
                ticktext=ticks.text,
                tickangle=ticks.angle,
                tickfont=dict(size=ticks.font_size),
                range=[-0.5, steps - 0.5],
                showgrid=False,
                zeroline=False,
                fixedrange=True,
                automargin=False,
            ),
            yaxis=dict(
                tickmode="array",
                tickvals=list(names),
                ticktext=list(names.values()),
                range=[-0.5, 2.5],
                showgrid=False,
                zeroline=False,
                fixedrange=True,
                automargin=False,
            ),
            height=3 * row_px + ticks.label_px + 16,
            margin=dict(l=left_px, r=10, t=8, b=ticks.label_px + 6),
            font=dict(size=font_size),
        ),
    )
