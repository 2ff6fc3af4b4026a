"""What a lecture shows beside the heatmaps: the cell's equations, the update written out with
real numbers, and a diagram of the cell whose gates carry their current values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

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


@dataclass(frozen=True)
class UnitStep:
    """One unit's quantities at step t, and its state before the step (zero at t = 0)."""

    step: int
    unit: int
    values: dict[str, float]  # quantity → value at t
    previous_hidden: float
    previous_cell: float | None = None


def unit_step(series: dict[str, np.ndarray], step: int, unit: int, initial_hidden: float = 0.0, initial_cell: float = 0.0) -> UnitStep:
    """Pick step t from a unit's per-step series (quantity → [time])."""
    values = {q: float(v[step]) for q, v in series.items()}
    previous_hidden = float(series["hidden"][step - 1]) if step > 0 else initial_hidden
    previous_cell = None
    if "cell" in series:
        previous_cell = float(series["cell"][step - 1]) if step > 0 else initial_cell
    return UnitStep(step, unit, values, previous_hidden, previous_cell)


def written_update(cell: str, s: UnitStep) -> list[str]:
    """The update at step t for one unit, in LaTeX, with the recorded numbers filled in."""
    v = s.values
    t = s.step
    if cell == "lstm":
        return [
            rf"c_{{{t}}} = f \cdot c_{{{t - 1}}} + i \cdot g = {v['forget_gate']:.3f} \cdot ({s.previous_cell:.3f}) + "
            rf"{v['input_gate']:.3f} \cdot ({v['cell_gate']:.3f}) = {v['cell']:.3f}",
            rf"h_{{{t}}} = o \cdot \tanh(c_{{{t}}}) = {v['output_gate']:.3f} \cdot \tanh({v['cell']:.3f}) = {v['hidden']:.3f}",
        ]
    if cell == "gru":
        return [
            rf"h_{{{t}}} = (1 - z) \cdot n + z \cdot h_{{{t - 1}}} = (1 - {v['update_gate']:.3f}) \cdot ({v['new_gate']:.3f}) + "
            rf"{v['update_gate']:.3f} \cdot ({s.previous_hidden:.3f}) = {v['hidden']:.3f}",
            rf"r = {v['reset_gate']:.3f} \text{{ (how much of }} h_{{{t - 1}}} \text{{ enters the candidate }} n)",
        ]
    activation = r"\tanh" if cell == "rnn_tanh" else r"\mathrm{relu}"
    return [rf"h_{{{t}}} = {activation}(W x_{{{t}}} + H h_{{{t - 1}}} + b),\quad h_{{{t - 1}}} = {s.previous_hidden:.3f} \to h_{{{t}}} = {v['hidden']:.3f}"]


# Boxes of the diagram: quantity → (x, y) centre, on a 12 × 7 canvas; inputs enter from below.
_LAYOUT = {
    "lstm": {"forget_gate": (1.5, 1.4), "input_gate": (4.0, 1.4), "cell_gate": (6.5, 1.4), "output_gate": (9.0, 1.4),
             "cell": (5.2, 5.0), "hidden": (10.4, 5.0)},
    "gru": {"reset_gate": (2.0, 1.4), "update_gate": (5.5, 1.4), "new_gate": (9.0, 1.4), "hidden": (6.5, 5.0)},
    "rnn_tanh": {"hidden": (6.0, 3.5)},
    "rnn_relu": {"hidden": (6.0, 3.5)},
}
_FLOWS = {
    "lstm": [("forget_gate", "cell"), ("input_gate", "cell"), ("cell_gate", "cell"), ("cell", "hidden"), ("output_gate", "hidden")],
    "gru": [("reset_gate", "new_gate"), ("update_gate", "hidden"), ("new_gate", "hidden")],
    "rnn_tanh": [],
    "rnn_relu": [],
}
_SYMBOL = {"forget_gate": "f", "input_gate": "i", "cell_gate": "g", "output_gate": "o", "cell": "c", "hidden": "h",
           "reset_gate": "r", "update_gate": "z", "new_gate": "n"}
_HALF_WIDTH, _HALF_HEIGHT = 1.1, 0.85


def cell_diagram(cell: str, gate_values: dict[str, tuple[float, float]], step_label: str, font_size: int = 20) -> go.Figure:
    """The cell as boxes and arrows; each box shows the mean over units and the selected unit's value.

    Sigmoid gates are shaded by how open they are (mean over units): dark = open, pale = shut.
    """
    figure = go.Figure()
    positions = _LAYOUT[cell]
    for source, target in _FLOWS[cell]:
        (x0, y0), (x1, y1) = positions[source], positions[target]
        end_y = y1 - _HALF_HEIGHT if y1 > y0 else y1
        end_x = x1 - _HALF_WIDTH if y1 == y0 or abs(y1 - y0) < 0.1 else x1
        start_y = y0 + _HALF_HEIGHT if y1 > y0 else y0
        start_x = x0 + _HALF_WIDTH if abs(y1 - y0) < 0.1 else x0
        figure.add_annotation(x=end_x, y=end_y, ax=start_x, ay=start_y, xref="x", yref="y", axref="x", ayref="y",
                              showarrow=True, arrowhead=3, arrowwidth=3, arrowcolor="#444", text="")
    for quantity, (x, y) in positions.items():
        mean, unit_value = gate_values.get(quantity, (float("nan"), float("nan")))
        gate = quantity.endswith("_gate") and quantity not in ("cell_gate", "new_gate")
        openness = float(np.clip(np.nan_to_num(mean), 0, 1))
        fill = f"rgba(33, 102, 172, {0.12 + 0.78 * openness:.2f})" if gate else "rgba(235, 235, 235, 1)"
        ink = "white" if gate and openness > 0.55 else "black"
        figure.add_shape(type="rect", x0=x - _HALF_WIDTH, x1=x + _HALF_WIDTH, y0=y - _HALF_HEIGHT, y1=y + _HALF_HEIGHT,
                         line=dict(width=3, color="#111"), fillcolor=fill, layer="below")
        figure.add_annotation(x=x, y=y, showarrow=False, align="center", font=dict(size=font_size, color=ink),
                              text=f"<b>{_SYMBOL[quantity]}</b><br>mean {mean:+.2f}<br>unit {unit_value:+.2f}")
    figure.add_annotation(x=6.0, y=0.15, showarrow=False, font=dict(size=font_size - 2, color="#444"),
                          text="every gate reads the input x<sub>t</sub> and the previous state h<sub>t−1</sub>")
    if cell == "lstm":
        x, y = positions["cell"]
        figure.add_annotation(x=x - _HALF_WIDTH, y=y, ax=0.3, ay=y, xref="x", yref="y", axref="x", ayref="y",
                              showarrow=True, arrowhead=3, arrowwidth=3, arrowcolor="#444", text="")
        figure.add_annotation(x=0.3, y=y + 0.35, showarrow=False, xanchor="left", font=dict(size=font_size - 2),
                              text="c<sub>t−1</sub>")
    figure.add_annotation(x=0.2, y=6.8, showarrow=False, xanchor="left", font=dict(size=font_size - 2), text=step_label)
    figure.update_layout(
        xaxis=dict(range=[0, 12], visible=False, fixedrange=True),
        yaxis=dict(range=[0, 7], visible=False, fixedrange=True),
        height=520,
        margin=dict(l=10, r=10, t=10, b=10),
        plot_bgcolor="white",
        showlegend=False,
    )
    return figure
