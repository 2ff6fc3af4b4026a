"""Line and bar charts: predictions after each token, a unit over time, two sentences compared,
the hidden-state trajectory."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.projection import Projection
from rnnviz.core.quantities import PYTORCH_NOTATION, Notation
from rnnviz.display import token_display, token_text
from rnnviz.figures.look import (
    ASSUMED_PLOT_PX,
    PLAIN_LOOK,
    _plain_figure,
    token_ticks,
    with_title_and_legend,
)

POINT_LABELS_MAX_TOKENS = (
    12  # comparison curves write their words beside the points up to this many
)
LEGEND_NAME_MAX = (
    60  # characters of a curve's name in a legend (a whole sentence runs off the chart)
)


def token_axis(
    labels: list[str], font_size: int, plot_px: float = ASSUMED_PLOT_PX
) -> tuple[dict, int]:
    """A category x axis that writes every token whole (`token_ticks`), and the bottom margin its labels
    need; the axis title "token" only under flat labels (plotly.js does not move it below rotated ones)."""
    ticks = token_ticks([token_text(label) for label in labels], plot_px, font_size)
    axis = dict(
        type="category",
        tickmode="array",
        tickvals=[labels[k] for k in ticks.shown],
        ticktext=ticks.text,
        tickangle=ticks.angle,
        tickfont=dict(size=ticks.font_size),
        automargin=False,
    )
    if ticks.angle == 0:
        axis["title"] = dict(text="token")
        return axis, int(font_size * 3.6)
    return axis, ticks.label_px


def class_probability_figure(
    probabilities: np.ndarray,
    labels: list[str],
    classes: list[str],
    font_size: int = 14,
    title: str = "prediction after each token",
    plot_px: int = 150,
) -> go.Figure:
    """Classifier: P(class) after each token, one line per class; a flip shows as a crossing. The
    classes keep their order (and colours) at every token."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    xaxis, bottom_px = token_axis(list(labels), font_size)
    traces = [
        dict(
            type="scatter",
            x=list(labels),
            y=probabilities[:, k],
            mode="lines+markers",
            name=name,
            hovertemplate=f"after %{{x}}<br>P({html.escape(name)}) = %{{y:.3f}}<extra></extra>",
        )
        for k, name in enumerate(classes)
    ]
    return _plain_figure(
        traces,
        with_title_and_legend(
            dict(
                xaxis=xaxis,
                yaxis=dict(
                    title=dict(text="probability"),
                    range=[0, 1],
                    tickvals=[0, 0.5, 1],
                    tickfont=dict(size=font_size),
                ),
                height=plot_px + bottom_px + int(font_size * 3.2) + 16,
                margin=dict(l=56, r=20, b=bottom_px),
                font=dict(size=font_size),
            ),
            title,
        ),
    )


def unit_timeline(
    series: dict[str, np.ndarray],
    labels: list[str],
    unit: int,
    step: int | None = None,
    font_size: int = 15,
    notation: Notation = PYTORCH_NOTATION,
) -> go.Figure:
    """One unit's gates, cell and hidden state over time (series: quantity → [time])."""
    figure = go.Figure()
    for quantity, values in series.items():
        figure.add_trace(
            go.Scatter(
                x=labels,
                y=values,
                mode="lines+markers",
                name=notation.label(quantity),
                line=dict(dash="solid" if quantity in ("cell", "hidden") else "dot"),
            )
        )
    if step is not None and 0 <= step < len(labels):
        figure.add_vline(x=step, line_width=2, line_dash="dash", line_color="grey")
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=dict(title="token", type="category", tickfont=dict(size=font_size)),
                yaxis=dict(title="value", tickfont=dict(size=font_size)),
                height=400,
                margin=dict(l=50, r=20, b=60),
                font=dict(size=font_size),
            ),
            f"unit {unit} over time",
        )
    )
    return figure


def comparison_figure(
    curves: list[tuple[str, np.ndarray, list[str]]], class_name: str, font_size: int = 15
) -> go.Figure:
    """P(class) after each token for several sentences on one chart (x = position).

    Curves over the same tokens (an edit's before and after) name them once, on the x axis; curves over
    different texts write each token beside its own point, the first curve's above and the others'
    below, so no two labels print on top of each other.
    """
    same_tokens = all(list(labels) == list(curves[0][2]) for _, _, labels in curves)
    longest = max(len(labels) for _, _, labels in curves)
    # past a dozen tokens the words beside the points run into each other: hover names them
    point_words = not same_tokens and longest <= POINT_LABELS_MAX_TOKENS
    figure = go.Figure()
    for k, (name, probabilities, labels) in enumerate(curves):
        words = [token_text(label) for label in labels]
        figure.add_trace(
            go.Scatter(
                x=list(range(len(labels))),
                y=probabilities,
                text=words,
                mode="lines+markers+text" if point_words else "lines+markers",
                textposition="top center" if k == 0 else "bottom center",
                textfont=dict(size=font_size - 1),
                name=name if len(name) <= LEGEND_NAME_MAX else name[: LEGEND_NAME_MAX - 1] + "…",
                hovertemplate="%{text} (position %{x})<br>P = %{y:.3f}<extra></extra>",
            )
        )
    if same_tokens:
        xaxis, bottom_px = token_axis(list(curves[0][2]), font_size)
        shown = [curves[0][2].index(value) for value in xaxis["tickvals"]]
        xaxis = dict(  # the tokens named at their positions
            xaxis, type="linear", tickvals=shown, range=[-0.5, longest - 0.5]
        )
    else:
        xaxis = dict(
            title="position",
            tickmode="linear",
            tick0=0,
            dtick=1 if longest <= 2 * POINT_LABELS_MAX_TOKENS else 5,  # whole positions only
            range=[-0.5, longest - 0.5],
            tickfont=dict(size=font_size),
        )
        bottom_px = int(font_size * 3.6)
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=xaxis,
                yaxis=dict(
                    title="probability",
                    range=[-0.12 if point_words else 0, 1.12],
                    tickvals=[0, 0.5, 1],
                    tickfont=dict(size=font_size),
                ),
                height=260 + bottom_px,
                margin=dict(l=56, r=20, b=bottom_px),
                font=dict(size=font_size),
            ),
            f"P({class_name}) after each token",
        )
    )
    return figure


def trajectory_figure(
    paths: list[tuple[str, np.ndarray, list[str]]], projection: Projection, font_size: int = 14
) -> go.Figure:
    """Hidden states h_t projected to 2-D, drawn as paths labelled by their tokens."""
    figure = go.Figure()
    for name, points, labels in paths:
        figure.add_trace(
            go.Scatter(
                x=points[:, 0],
                y=points[:, 1],
                text=[token_text(label) for label in labels],
                mode="lines+markers+text",
                textposition="top center",
                marker=dict(size=9),
                name=name,
                hovertemplate="%{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    first, second = projection.explained
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=dict(title=f"PC 1 ({first:.0%} of variance)"),
                yaxis=dict(title=f"PC 2 ({second:.0%} of variance)"),
                height=460,
                margin=dict(l=50, r=20, b=50),
                font=dict(size=font_size),
            ),
            "hidden-state trajectory (PCA)",
        )
    )
    return figure


def step_prediction_figure(
    outcomes: list[tuple[str, float]],
    title: str,
    font_size: int = 20,
    height: int = 230,
    by_class: bool = False,
) -> go.Figure:
    """The prediction after one token as horizontal bars, top down in the order given: (label,
    probability) pairs. `by_class`: each bar in its class's colour (the plain look's colour order)."""
    names = [token_display(name) for name, _ in outcomes]
    probabilities = [p for _, p in outcomes]
    colorway = PLAIN_LOOK["colorway"]
    bars = dict(
        type="bar",
        orientation="h",
        x=probabilities,
        y=names,
        text=[f"{p:.0%}" for p in probabilities],
        textposition="outside",
        cliponaxis=False,
        marker=dict(
            color=[colorway[k % len(colorway)] for k in range(len(names))]
            if by_class
            else "#1f77b4"
        ),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    return _plain_figure(
        [bars],
        dict(
            title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size)),
            xaxis=dict(range=[0, 1.18], visible=False, fixedrange=True),
            yaxis=dict(
                type="category",
                categoryorder="array",
                categoryarray=names[::-1],
                fixedrange=True,
                automargin=True,
            ),
            height=height,
            margin=dict(l=10, r=10, t=font_size * 2 + 10, b=10),
            font=dict(size=font_size),
            showlegend=False,
        ),
    )
