"""The class's sentences as points in state space: each sentence's final h, projected by PCA."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.projection import Projection
from rnnviz.figures.look import PLAIN_AXIS, PLAIN_LOOK


def class_state_space(
    points: np.ndarray,
    predictions: list[str],
    texts: list[str],
    ids: list[int],
    projection: Projection,
    font_size: int = 14,
) -> go.Figure:
    """One marker per sentence at its projected final state [n, 2], coloured by the final prediction;
    each carries its sentence id as customdata. Sentences are escaped: Plotly reads tags in hover text."""
    figure = go.Figure()
    for label in sorted(set(predictions)):
        chosen = [i for i, p in enumerate(predictions) if p == label]
        figure.add_trace(
            go.Scatter(
                x=points[chosen, 0],
                y=points[chosen, 1],
                mode="markers",
                marker=dict(size=11, opacity=0.8),
                name=html.escape(label),
                text=[html.escape(_shortened(texts[i])) for i in chosen],
                customdata=[ids[i] for i in chosen],
                hovertemplate="%{text}<extra>" + html.escape(label) + "</extra>",
            )
        )
    first, second = projection.explained
    figure.update_layout(
        **PLAIN_LOOK,
        xaxis=dict(title=f"PC 1 ({first:.0%} of variance)", **PLAIN_AXIS),
        yaxis=dict(title=f"PC 2 ({second:.0%} of variance)", **PLAIN_AXIS),
        title=dict(text="the class's sentences: final state h, PCA", font=dict(size=font_size)),
        legend=dict(title=dict(text="prediction")),
        showlegend=True,
        height=460,
        margin=dict(l=50, r=20, t=50, b=50),
    )
    figure.update_layout(font=dict(size=font_size, color=PLAIN_LOOK["font"]["color"]))
    return figure


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
