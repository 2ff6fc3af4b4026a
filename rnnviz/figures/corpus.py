"""Charts of the corpus view: gate saturation, a unit's histogram and feature correlations, the
units map, and a matched span in its context."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.corpus import GateSaturation
from rnnviz.analysis.corpus_stats import FEATURE_LABELS, FEATURES
from rnnviz.core.quantities import LABELS
from rnnviz.figures.heatmaps import coloured_tokens_html
from rnnviz.figures.look import colour_scale, with_title_and_legend

GATE_COLOURS = {
    "input_gate": "#1f77b4",
    "forget_gate": "#d62728",
    "output_gate": "#2ca02c",
    "reset_gate": "#9467bd",
    "update_gate": "#ff7f0e",
}


def saturation_figure(saturations: list[GateSaturation], title: str) -> go.Figure:
    """Karpathy et al. 2015, Fig. 4: per gate unit, fraction of steps < 0.1 (x) against > 0.9 (y)."""
    figure = go.Figure()
    for s in saturations:
        figure.add_trace(
            go.Scatter(
                x=s.left,
                y=s.right,
                mode="markers",
                name=LABELS.get(s.gate, s.gate),
                marker=dict(color=GATE_COLOURS.get(s.gate), size=7, opacity=0.7),
                customdata=np.arange(len(s.left)),
                hovertemplate="unit %{customdata}<br>left-saturated %{x:.1%}<br>"
                "right-saturated %{y:.1%}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[1, 0],
            mode="lines",
            line=dict(color="lightgrey", dash="dot"),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=dict(title="fraction left-saturated (< 0.1)", range=[0, 1]),
                yaxis=dict(title="fraction right-saturated (> 0.9)", range=[0, 1]),
                height=420,
                margin=dict(l=50, r=20, b=50),
            ),
            title,
        )
    )
    return figure


def histogram_figure(counts: np.ndarray, edges: np.ndarray, unit: int) -> go.Figure:
    """Bar chart of a unit's activation counts over fixed bins."""
    centres = (edges[:-1] + edges[1:]) / 2
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            marker_color="#4c78a8",
            hovertemplate="h ≈ %{x:.2f}<br>%{y} tokens<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"unit {unit}: activation histogram over the corpus",
        xaxis=dict(title="h", range=[-1, 1]),
        yaxis=dict(title="tokens"),
        height=300,
        margin=dict(l=50, r=20, t=40, b=50),
        bargap=0,
    )
    return figure


def feature_figure(correlations: np.ndarray, unit: int) -> go.Figure:
    """Horizontal bars: the unit's Pearson ρ with each token feature, in [−1, 1]."""
    labels = [FEATURE_LABELS[f] for f in FEATURES]
    figure = go.Figure(
        go.Bar(
            x=correlations,
            y=labels,
            orientation="h",
            marker_color=["#d62728" if c > 0 else "#1f77b4" for c in correlations],
            hovertemplate="%{y}: ρ = %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"unit {unit}: correlation with token features",
        xaxis=dict(title="Pearson ρ", range=[-1, 1]),
        height=280,
        margin=dict(l=180, r=20, t=40, b=50),
    )
    return figure


def units_map_figure(
    coordinates: np.ndarray, labels: np.ndarray, selected: int | None = None
) -> go.Figure:
    """Units as points (MDS of 1 − ρ), coloured by cluster; clicking a point returns its unit as customdata."""
    figure = go.Figure()
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        figure.add_trace(
            go.Scatter(
                x=coordinates[members, 0],
                y=coordinates[members, 1],
                mode="markers",
                name=f"cluster {cluster}",
                customdata=members,
                text=[f"unit {u}" for u in members],
                marker=dict(size=9),
                hovertemplate="unit %{customdata}<extra>cluster " + str(cluster) + "</extra>",
            )
        )
    if selected is not None:
        figure.add_trace(
            go.Scatter(
                x=[coordinates[selected, 0]],
                y=[coordinates[selected, 1]],
                mode="markers",
                marker=dict(symbol="circle-open", size=18, color="black", line=dict(width=3)),
                hoverinfo="skip",
                showlegend=False,
                name="selected",
            )
        )
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=dict(title="MDS 1"),
                yaxis=dict(title="MDS 2"),
                height=480,
                margin=dict(l=50, r=20, b=50),
                clickmode="event+select",
                dragmode=False,
            ),
            "units map: units that move together over the corpus lie together",
        )
    )
    return figure


def span_html(tokens: tuple[str, ...], values: np.ndarray, span: tuple[int, int]) -> str:
    """Context coloured by `values`, the matched span between ▸ and ◂ marks."""
    start, end = span
    marked = [*tokens[:start], "▸", *tokens[start:end], "◂", *tokens[end:]]
    marked_values = np.concatenate(
        [values[:start], [np.nan], values[start:end], [np.nan], values[end:]]
    )
    return coloured_tokens_html(marked, marked_values, colour_scale("hidden", values), font_size=15)
