"""How long memory lasts: retention R[s→t] as a token × token heatmap (for a plain RNN, the state's
dependence ‖∂h_t/∂h_s‖), and the gradient's reach."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from rnnviz.display import readable_number, token_text
from rnnviz.figures.gradients import magnitude_ticks
from rnnviz.figures.look import MAGNITUDE_SCALE, _colour_steps, _plain_figure, with_title_and_legend


def retention_heatmap(
    matrix: np.ndarray, labels: list[str], title: str, font_size: int = 14
) -> go.Figure:
    """R[s, t] (rows: the token s that wrote, columns: the token t that reads), 0 to 1; blank where
    memory cannot reach (t before s in the reading order)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    colours = dict(
        z=np.where(np.isfinite(matrix), matrix, None),
        colorscale=_colour_steps("Viridis"),
        zmin=0.0,
        zmax=1.0,
        colorbar=dict(thickness=12, title=dict(text="R")),
        hovertemplate="written at %{y}, read at %{x}<br>%{text}<br>R = %{z:.3f}<extra></extra>",
    )
    return _token_by_token(colours, labels, title, font_size)


def dependence_heatmap(
    matrix: np.ndarray, labels: list[str], title: str, font_size: int = 14
) -> go.Figure:
    """D[s, t] = ‖∂h_t/∂h_s‖_F / √units of a plain RNN, on a log colour scale whose lightness falls one
    way (faint: forgotten); blank where t lies before s in the reading order."""
    matrix = np.asarray(matrix, dtype=np.float64)
    finite = matrix[np.isfinite(matrix)]
    logs = np.log10(np.maximum(matrix, 1e-30))
    low = max(float(np.log10(max(finite.min(), 1e-30))) if finite.size else -1.0, -12.0)
    high = float(np.log10(finite.max())) if finite.size else 0.0
    ticks = magnitude_ticks(low, high)
    colours = dict(
        z=np.where(np.isfinite(matrix), logs, None),
        customdata=np.where(np.isfinite(matrix), matrix, None),
        colorscale=_colour_steps(MAGNITUDE_SCALE),
        zmin=low,
        zmax=high,
        colorbar=dict(
            thickness=16,
            title=dict(text="‖∂h_t/∂h_s‖"),
            tickvals=ticks,
            ticktext=[readable_number(10**v, 2) for v in ticks],
        ),
        hovertemplate="h_s at %{y}, h_t at %{x}<br>%{text}<br>‖∂h_t/∂h_s‖_F/√units = "
        "%{customdata:.3~g}<extra></extra>",
    )
    return _token_by_token(colours, labels, title, font_size)


def _token_by_token(colours: dict, labels: list[str], title: str, font_size: int) -> go.Figure:
    """A [s, t] heatmap over the text's tokens on both axes (s down, t across)."""
    names = [token_text(label) for label in labels]
    # margins sized for the longest token, slanted below and upright at the left, so none is cut
    label_px = max((len(name) for name in names), default=1) * font_size * 0.62
    angle = -60 if len(labels) > 6 else 0
    heatmap = dict(
        type="heatmap",
        x=list(range(len(labels))),
        y=list(range(len(labels))),
        text=[[f"{names[s]} → {names[t]}" for t in range(len(labels))] for s in range(len(labels))],
        **colours,
    )
    ticks = dict(
        tickmode="array",
        tickvals=list(range(len(labels))),
        ticktext=names,
        tickfont=dict(size=font_size),
    )
    return _plain_figure(
        [heatmap],
        with_title_and_legend(
            dict(
                xaxis=dict(
                    title=dict(text="read at token t"),
                    **ticks,
                    tickangle=angle,
                    showgrid=False,
                    automargin=True,  # the axis title below the slanted labels, not over them
                ),
                yaxis=dict(
                    title=dict(text="written at token s"),
                    **ticks,
                    autorange="reversed",
                    showgrid=False,
                    automargin=True,
                ),
                height=max(320, min(640, 26 * len(labels) + 160)) + int(label_px * 0.87),
                margin=dict(l=int(label_px) + 40, r=20, b=int(label_px * 0.87) + 50),
                font=dict(size=font_size),
            ),
            title,
            legend=False,
        ),
    )
