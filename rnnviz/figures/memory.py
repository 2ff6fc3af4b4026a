"""How long memory lasts: retention R[s→t] as a token × token heatmap, and the gradient's reach."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from rnnviz.display import token_text
from rnnviz.figures.look import _colour_steps, _plain_figure, with_title_and_legend


def retention_heatmap(
    matrix: np.ndarray, labels: list[str], title: str, font_size: int = 14
) -> go.Figure:
    """R[s, t] (rows: the token s that wrote, columns: the token t that reads), 0 to 1; blank where
    memory cannot reach (t before s in the reading order)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    names = [token_text(label) for label in labels]
    heatmap = dict(
        type="heatmap",
        z=np.where(np.isfinite(matrix), matrix, None),
        x=list(range(len(labels))),
        y=list(range(len(labels))),
        text=[[f"{names[s]} → {names[t]}" for t in range(len(labels))] for s in range(len(labels))],
        colorscale=_colour_steps("Viridis"),
        zmin=0.0,
        zmax=1.0,
        colorbar=dict(thickness=12, title=dict(text="R")),
        hovertemplate="written at %{y}, read at %{x}<br>%{text}<br>R = %{z:.3f}<extra></extra>",
    )
    ticks = dict(tickmode="array", tickvals=list(range(len(labels))), ticktext=names)
    return _plain_figure(
        [heatmap],
        with_title_and_legend(
            dict(
                xaxis=dict(
                    title=dict(text="read at token t"),
                    **ticks,
                    tickangle=-60 if len(labels) > 6 else 0,
                    showgrid=False,
                ),
                yaxis=dict(
                    title=dict(text="written at token s"),
                    **ticks,
                    autorange="reversed",
                    showgrid=False,
                ),
                height=max(320, min(640, 26 * len(labels) + 160)),
                margin=dict(l=70, r=20, b=70),
                font=dict(size=font_size),
            ),
            title,
            legend=False,
        ),
    )
