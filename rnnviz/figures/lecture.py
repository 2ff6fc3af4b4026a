"""The lecture's diagram of a cell: boxes and arrows whose gates carry their current values."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from rnnviz.core.quantities import PYTORCH_NOTATION, SIGMOID_GATES, Notation

# Boxes of the diagram: quantity → (x, y) centre, on a 12 × 7 canvas; inputs enter from below.
_LAYOUT = {
    "lstm": {
        "forget_gate": (1.5, 1.4),
        "input_gate": (4.0, 1.4),
        "cell_gate": (6.5, 1.4),
        "output_gate": (9.0, 1.4),
        "cell": (5.2, 5.0),
        "hidden": (10.4, 5.0),
    },
    "gru": {
        "reset_gate": (2.0, 1.4),
        "update_gate": (5.5, 1.4),
        "new_gate": (9.0, 1.4),
        "hidden": (6.5, 5.0),
    },
    "rnn_tanh": {"hidden": (6.0, 3.5)},
    "rnn_relu": {"hidden": (6.0, 3.5)},
}
_FLOWS = {
    "lstm": [
        ("forget_gate", "cell"),
        ("input_gate", "cell"),
        ("cell_gate", "cell"),
        ("cell", "hidden"),
        ("output_gate", "hidden"),
    ],
    "gru": [("reset_gate", "new_gate"), ("update_gate", "hidden"), ("new_gate", "hidden")],
    "rnn_tanh": [],
    "rnn_relu": [],
}
_HALF_WIDTH, _HALF_HEIGHT = 1.2, 0.85


def cell_diagram(
    cell_kind: str,
    gate_values: dict[str, tuple[float, float]],
    step_label: str,
    font_size: int = 20,
    direction: str = "forward",
    height: int = 520,
    notation: Notation = PYTORCH_NOTATION,
) -> go.Figure:
    """The cell as boxes and arrows; each box shows the mean over units and the selected unit's value.

    Sigmoid gates are shaded by how open they are (mean over units): dark = open, pale = shut.
    """
    figure = go.Figure()
    t = notation.index
    # the backward direction reads right to left: its previous state is at t + 1
    previous = f"{t}−1" if direction == "forward" else f"{t}+1"
    h, x_in = notation.symbol("hidden"), notation.input_symbol
    positions = _LAYOUT[cell_kind]
    for source, target in _FLOWS[cell_kind]:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        end_y = y1 - _HALF_HEIGHT if y1 > y0 else y1
        end_x = x1 - _HALF_WIDTH if y1 == y0 or abs(y1 - y0) < 0.1 else x1
        start_y = y0 + _HALF_HEIGHT if y1 > y0 else y0
        start_x = x0 + _HALF_WIDTH if abs(y1 - y0) < 0.1 else x0
        _arrow(figure, (start_x, start_y), (end_x, end_y))
    for quantity, (x, y) in positions.items():
        mean, unit_value = gate_values.get(quantity, (float("nan"), float("nan")))
        gate = quantity in SIGMOID_GATES
        openness = float(np.clip(np.nan_to_num(mean), 0, 1))
        fill = (
            f"rgba(33, 102, 172, {0.12 + 0.78 * openness:.2f})"
            if gate
            else "rgba(235, 235, 235, 1)"
        )
        ink = "white" if gate and openness > 0.55 else "black"
        figure.add_shape(
            type="rect",
            x0=x - _HALF_WIDTH,
            x1=x + _HALF_WIDTH,
            y0=y - _HALF_HEIGHT,
            y1=y + _HALF_HEIGHT,
            line=dict(width=3, color="#111"),
            fillcolor=fill,
            layer="below",
        )
        figure.add_annotation(
            x=x,
            y=y,
            showarrow=False,
            align="center",
            font=dict(size=font_size, color=ink),
            text=f"<b>{notation.symbol(quantity)}</b><br>mean {mean:+.2f}<br>unit {unit_value:+.2f}",
        )
    figure.add_annotation(
        x=6.0,
        y=0.15,
        showarrow=False,
        font=dict(size=font_size, color="#444"),
        text=f"the gates read {x_in}<sub>{t}</sub> and {h}<sub>{previous}</sub>",
    )
    if cell_kind == "lstm":
        x, y = positions["cell"]
        _arrow(figure, (0.3, y), (x - _HALF_WIDTH, y))  # the previous cell state comes in
        figure.add_annotation(
            x=0.3,
            y=y + 0.35,
            showarrow=False,
            xanchor="left",
            font=dict(size=font_size),
            text=f"c<sub>{previous}</sub>",
        )
    figure.add_annotation(
        x=0.2, y=6.8, showarrow=False, xanchor="left", font=dict(size=font_size), text=step_label
    )
    figure.update_layout(
        xaxis=dict(range=[0, 12], visible=False, fixedrange=True),
        yaxis=dict(range=[0, 7], visible=False, fixedrange=True),
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
