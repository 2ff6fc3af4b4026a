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
    ASSUMED_FIGURE_PX,
    ASSUMED_PLOT_PX,
    PLAIN_LOOK,
    SMALLEST_TICK_FONT,
    _plain_figure,
    _unvalidated_figure,
    text_px,
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
    labels: list[str],
    font_size: int,
    plot_px: float = ASSUMED_PLOT_PX,
    smallest: int = SMALLEST_TICK_FONT,
) -> tuple[dict, int]:
    """A category x axis that writes every token whole (`token_ticks`), and the bottom margin its labels
    need; the axis title "token" only under flat labels (plotly.js does not move it below rotated ones)."""
    ticks = token_ticks([token_text(label) for label in labels], plot_px, font_size, smallest)
    axis = dict(
        type="category",
        **ticks.axis(labels),
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
    # read from the back row (the inspector): fewer labels rather than smaller ones
    xaxis, bottom_px = token_axis(list(labels), font_size, smallest=font_size)
    traces = [
        dict(
            type="scatter",
            x=list(labels),
            y=values,
            mode="lines+markers",
            name=notation.label(quantity),
            line=dict(dash="solid" if quantity in ("cell", "hidden") else "dot"),
        )
        for quantity, values in series.items()
    ]
    layout = with_title_and_legend(
        dict(
            xaxis=xaxis,
            yaxis=dict(title=dict(text="value"), tickfont=dict(size=font_size)),
            height=340 + bottom_px,
            margin=dict(l=50, r=20, b=bottom_px),
            font=dict(size=font_size),
        ),
        f"unit {unit} over time",
    )
    if step is not None and 0 <= step < len(labels):  # the selected token, top to bottom
        layout["shapes"] = [
            dict(
                type="line",
                x0=step,
                x1=step,
                xref="x",
                y0=0,
                y1=1,
                yref="y domain",
                line=dict(width=2, dash="dash", color="grey"),
            )
        ]
    # built without plotly.py's validation (a cost on every visit): the tests validate it
    return _unvalidated_figure(traces, layout)


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
    traces = [
        dict(
            type="scatter",
            x=list(range(len(labels))),
            y=probabilities,
            text=[token_text(label) for label in labels],
            mode="lines+markers+text" if point_words else "lines+markers",
            textposition="top center" if k == 0 else "bottom center",
            textfont=dict(size=font_size - 1),
            name=name if len(name) <= LEGEND_NAME_MAX else name[: LEGEND_NAME_MAX - 1] + "…",
            hovertemplate="%{text} (position %{x})<br>P = %{y:.3f}<extra></extra>",
        )
        for k, (name, probabilities, labels) in enumerate(curves)
    ]
    if same_tokens:
        # read from the back row (Compare, What if): fewer labels rather than smaller ones
        xaxis, bottom_px = token_axis(list(curves[0][2]), font_size, smallest=font_size)
        shown = [curves[0][2].index(value) for value in xaxis["tickvals"]]
        xaxis = dict(  # the tokens named at their positions
            xaxis, type="linear", tickvals=shown, range=[-0.5, longest - 0.5]
        )
    else:
        xaxis = dict(
            title=dict(text="position"),
            tickmode="linear",
            tick0=0,
            dtick=1 if longest <= 2 * POINT_LABELS_MAX_TOKENS else 5,  # whole positions only
            range=[-0.5, longest - 0.5],
            tickfont=dict(size=font_size),
        )
        bottom_px = int(font_size * 3.6)
    layout = with_title_and_legend(
        dict(
            xaxis=xaxis,
            yaxis=dict(
                title=dict(text="probability"),
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
    return _unvalidated_figure(traces, layout)  # the tests validate it


TRAJECTORY_HEIGHT_PX = 460
# margins that hold the axis titles already, so the plot's size is known to the label placement
TRAJECTORY_MARGIN = dict(l=80, r=20, b=70)
# Where a point's label may stand, nearest first: plotly's textposition and the side of the point it
# takes (x, y: -1 left/below, 0 centred, 1 right/above).
LABEL_PLACES = (
    ("top center", 0, 1),
    ("bottom center", 0, -1),
    ("middle right", 1, 0),
    ("middle left", -1, 0),
    ("top right", 1, 1),
    ("top left", -1, 1),
    ("bottom right", 1, -1),
    ("bottom left", -1, -1),
)
MARKER_CLEARANCE_PX = 6  # from a point's centre to where plotly.js starts its label


def _padded_range(values: np.ndarray, share: float = 0.08) -> list[float]:
    low, high = float(np.min(values)), float(np.max(values))
    pad = (high - low) * share or 1.0
    return [low - pad, high + pad]


def place_point_labels(
    points: list[np.ndarray],
    texts: list[list[str]],
    ranges: tuple[list[float], list[float]],
    plot_px: tuple[float, float],
    font_size: int,
) -> list[list[str | None]]:
    """A place beside each point (LABEL_PLACES) where its label covers no other label and no marker,
    in order along each path; None where there is none (hover still names the token). Positions in
    pixels from the axis ranges and the plot's size."""
    (x0, x1), (y0, y1) = ranges
    width, height = plot_px

    def pixels(point: np.ndarray) -> tuple[float, float]:
        return (point[0] - x0) / (x1 - x0) * width, (point[1] - y0) / (y1 - y0) * height

    markers = [pixels(p) for path in points for p in path]
    marker_r = 4.5  # plotly.js's marker of size 9
    taken: list[tuple[float, float, float, float]] = []

    def free(box: tuple[float, float, float, float]) -> bool:
        left, bottom, right, top = box
        if left < 0 or right > width or bottom < 0 or top > height:
            return False
        if any(
            left < b[2] + 1 and b[0] < right + 1 and bottom < b[3] + 1 and b[1] < top + 1
            for b in taken
        ):
            return False
        return not any(
            left - marker_r < mx < right + marker_r and bottom - marker_r < my < top + marker_r
            for mx, my in markers
        )

    places: list[list[str | None]] = []
    for path, words in zip(points, texts):
        chosen: list[str | None] = []
        for point, word in zip(path, words):
            x, y = pixels(point)
            w, h = text_px(word, font_size) + 2, font_size * 1.4  # as Chromium draws them
            for name, side_x, side_y in LABEL_PLACES:
                gap = MARKER_CLEARANCE_PX * (0.85 if side_x and side_y else 1.0)
                left = x - w / 2 if side_x == 0 else x + gap if side_x > 0 else x - gap - w
                bottom = y - h / 2 if side_y == 0 else y + gap if side_y > 0 else y - gap - h
                box = (left, bottom, left + w, bottom + h)
                if free(box):
                    taken.append(box)
                    chosen.append(name)
                    break
            else:
                chosen.append(None)
        places.append(chosen)
    return places


def trajectory_figure(
    paths: list[tuple[str, np.ndarray, list[str]]], projection: Projection, font_size: int = 14
) -> go.Figure:
    """Hidden states h_t projected to 2-D, drawn as paths labelled by their tokens: each label beside
    its point where it covers no other label or point, left out where none is free (hover names it)."""
    figure = go.Figure()
    everything = np.concatenate([points for _, points, _ in paths])
    ranges = (_padded_range(everything[:, 0]), _padded_range(everything[:, 1]))
    title_px = with_title_and_legend(
        dict(height=TRAJECTORY_HEIGHT_PX, font=dict(size=font_size)), ""
    )["margin"]["t"]
    plot_px = (
        ASSUMED_FIGURE_PX - TRAJECTORY_MARGIN["l"] - TRAJECTORY_MARGIN["r"],
        TRAJECTORY_HEIGHT_PX - title_px - TRAJECTORY_MARGIN["b"],
    )
    words = [[token_text(label) for label in labels] for _, _, labels in paths]
    places = place_point_labels(
        [points for _, points, _ in paths], words, ranges, plot_px, font_size
    )
    for (name, points, _), path_words, path_places in zip(paths, words, places):
        figure.add_trace(
            go.Scatter(
                x=points[:, 0],
                y=points[:, 1],
                text=[w if place else "" for w, place in zip(path_words, path_places)],
                customdata=path_words,
                mode="lines+markers+text",
                textposition=[place or "top center" for place in path_places],
                marker=dict(size=9),
                name=name,
                hovertemplate="%{customdata}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    first, second = projection.explained
    figure.update_layout(
        with_title_and_legend(
            dict(
                xaxis=dict(title=f"PC 1 ({first:.0%} of variance)", range=ranges[0]),
                yaxis=dict(title=f"PC 2 ({second:.0%} of variance)", range=ranges[1]),
                height=TRAJECTORY_HEIGHT_PX,
                margin=TRAJECTORY_MARGIN,
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
