"""Pure figure builders: recorded arrays in, plotly Figures out (no Streamlit here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

SIGMOID_GATES = {"input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate"}
TANH_QUANTITIES = {"cell_gate", "new_gate", "unprojected_hidden"}

LABELS = {
    "input_gate": "input gate i",
    "forget_gate": "forget gate f",
    "cell_gate": "cell candidate g",
    "output_gate": "output gate o",
    "cell": "cell state c",
    "hidden": "hidden state h",
    "unprojected_hidden": "o ⊙ tanh(c) before projection",
    "reset_gate": "reset gate r",
    "update_gate": "update gate z",
    "new_gate": "candidate n",
}


@dataclass(frozen=True)
class ColourScale:
    """A colour range fixed by what a quantity means, so colours compare across sentences."""

    colorscale: str
    zmin: float
    zmax: float


def colour_scale(quantity: str, values: np.ndarray, cell: str = "lstm") -> ColourScale:
    """[0, 1] sequential for sigmoid gates, [−1, 1] diverging for tanh, symmetric for c."""
    if quantity in SIGMOID_GATES:
        return ColourScale("Viridis", 0.0, 1.0)
    if quantity in TANH_QUANTITIES or (quantity == "hidden" and cell != "rnn_relu"):
        return ColourScale("RdBu_r", -1.0, 1.0)
    finite = np.abs(values[np.isfinite(values)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if quantity == "hidden":  # ReLU: non-negative, unbounded
        return ColourScale("Viridis", 0.0, bound)
    return ColourScale("RdBu_r", -bound, bound)


def token_labels(tokens: list[str]) -> list[str]:
    """Readable, unique x labels: spaces and newlines made visible, position appended."""
    visible = [t.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅" for t in tokens]
    return [f"{t} ·{i}" for i, t in enumerate(visible)]


def quantity_heatmap(
    values: np.ndarray,
    tokens: list[str],
    quantity: str,
    cell: str = "lstm",
    unit_order: np.ndarray | None = None,
    title: str | None = None,
) -> go.Figure:
    """Heatmap of one quantity: x = tokens (time), y = units; `values` is [time, units]."""
    values = np.asarray(values, dtype=np.float32)
    steps, units = values.shape
    order = np.arange(units) if unit_order is None else np.asarray(unit_order)
    z = values[:, order].T  # [units, time]
    scale = colour_scale(quantity, values, cell)
    labels = token_labels(tokens)
    unit_names = [str(u) for u in order]
    hover_tokens = np.broadcast_to(np.array(labels, dtype=object), z.shape)
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=unit_names,
            colorscale=scale.colorscale,
            zmin=scale.zmin,
            zmax=scale.zmax,
            customdata=hover_tokens,
            hovertemplate="token %{customdata}<br>unit %{y}<br>value %{z:.3f}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    figure.update_layout(
        title=title or LABELS.get(quantity, quantity),
        xaxis=dict(title="token", type="category", tickangle=-45),
        yaxis=dict(title="unit", type="category", autorange="reversed"),
        margin=dict(l=50, r=20, t=40, b=60),
        height=max(260, min(900, 14 * units + 120)),
    )
    return figure
