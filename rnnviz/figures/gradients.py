"""Charts of the gradients view: gradient flow through time, the final state's dependence on each
step, token attributions, and the cells side by side."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.gradients import LOG_FLOOR, Attributions, GradientFlow
from rnnviz.display import readable_number
from rnnviz.figures.charts import token_axis
from rnnviz.figures.heatmaps import coloured_tokens_html
from rnnviz.figures.look import (
    MAGNITUDE_SCALE,
    ColourScale,
    _unvalidated_figure,
    with_title_and_legend,
)


def _row_label(row: str, quantity: str) -> str:
    layer, direction = row.split(".")
    return f"{layer} {direction} ‖∂y/∂{quantity}_t‖"


def flow_heatmap(flow: GradientFlow, labels: list[str], font_size: int = 15) -> go.Figure:
    """Heatmap of log10 ‖∂y/∂h_t‖ (and ‖∂y/∂c_t‖) over tokens × layers, small gradients faint.

    A magnitude reads one way: the colour scale's lightness falls from white (smallest) to dark
    (largest), so a vanishing gradient fades into the page instead of standing out.
    """
    rows = [(_row_label(r, "h"), flow.norms_hidden[k]) for k, r in enumerate(flow.rows)]
    if flow.norms_cell is not None:
        rows += [(_row_label(r, "c"), flow.norms_cell[k]) for k, r in enumerate(flow.rows)]
    norms = np.array([values for _, values in rows])
    logs = np.log10(np.maximum(norms, LOG_FLOOR))
    ticks = magnitude_ticks(float(logs.min()), float(logs.max()))
    height = max(360, 64 * len(rows) + 220)  # the colour bar spans the plot: tall enough to read
    figure = go.Figure(
        go.Heatmap(
            z=logs,
            x=labels,
            y=[name for name, _ in rows],
            customdata=norms,
            colorscale=MAGNITUDE_SCALE,
            hovertemplate="token %{x}<br>%{y} = %{customdata:.4~r}<extra></extra>",
            colorbar=dict(
                thickness=18,
                len=1.0,
                title=dict(text="norm<br>(log)"),
                tickvals=ticks,
                ticktext=[readable_number(10**v, 2) for v in ticks],
                tickfont=dict(size=font_size),
            ),
        )
    )
    figure.update_layout(
        title=f"gradient flow: ‖∂y/∂state_t‖, y = {flow.output}",
        xaxis=dict(title="token", type="category", tickfont=dict(size=font_size)),
        yaxis=dict(
            title="layer", type="category", autorange="reversed", tickfont=dict(size=font_size)
        ),
        height=height,
        margin=dict(l=50, r=20, t=40, b=60),
        font=dict(size=font_size),
    )
    return figure


def magnitude_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Colour-bar ticks for a log10 range: whole powers of ten where the range spans two or more,
    else `count` evenly spaced values (labelled with the norms they stand for)."""
    if high - low >= 2:
        return [float(v) for v in range(int(np.ceil(low)), int(np.floor(high)) + 1)]
    if high - low < 1e-9:
        return [low]
    return [float(v) for v in np.linspace(low, high, count)]


def _log_lines(
    curves: list[tuple[str, np.ndarray, dict]],
    labels: list[str],
    title: str,
    y_title: str,
    font_size: int,
) -> go.Figure:
    traces = [
        dict(
            type="scatter",
            x=list(labels),
            y=np.maximum(np.asarray(values, dtype=np.float64), LOG_FLOOR),
            mode="lines+markers",
            name=name,
            line=line,
        )
        for name, values, line in curves
    ]
    layout = with_title_and_legend(
        dict(
            xaxis=dict(title=dict(text="token"), type="category", tickfont=dict(size=font_size)),
            yaxis=dict(
                title=dict(text=y_title),
                type="log",
                tickfont=dict(size=font_size),
                exponentformat="power",  # 10⁻⁹, not plotly's "1n"
            ),
            height=360,
            margin=dict(l=60, r=20, b=60),
            font=dict(size=font_size),
        ),
        title,
    )
    return _unvalidated_figure(traces, layout)  # the tests validate it


def flow_lines(flow: GradientFlow, labels: list[str], font_size: int = 14) -> go.Figure:
    """‖∂y/∂h_t‖ (solid) and ‖∂y/∂c_t‖ (dashed) per layer over tokens, log-scale y."""
    curves = [(_row_label(r, "h"), flow.norms_hidden[k], dict()) for k, r in enumerate(flow.rows)]
    if flow.norms_cell is not None:
        curves += [
            (_row_label(r, "c"), flow.norms_cell[k], dict(dash="dash"))
            for k, r in enumerate(flow.rows)
        ]
    return _log_lines(
        curves, labels, "gradient norm per timestep", "‖∂y/∂state_t‖ (log)", font_size
    )


def dependence_lines(flow: GradientFlow, labels: list[str], font_size: int = 14) -> go.Figure:
    """‖∂h_final/∂h_t‖_F per layer and direction over tokens, log-scale y."""
    curves = [
        (f"{r.replace('.', ' ')} ‖∂h_final/∂h_t‖_F", flow.last_state_dependence[k], dict())
        for k, r in enumerate(flow.rows)
    ]
    return _log_lines(
        curves,
        labels,
        "how much the final state still depends on step t",
        "Frobenius norm (log)",
        font_size,
    )


def flow_comparison(
    curves: list[tuple[str, np.ndarray]], labels: list[str], font_size: int = 14
) -> go.Figure:
    """Several models' ‖∂y/∂h_t‖ (last layer) on one log-scale chart; x = token."""
    return _log_lines(
        [(name, values, dict()) for name, values in curves],
        labels,
        "gradient flow across cells: each model's predicted-class score (last layer, forward)",
        "‖∂y/∂h_t‖ (log)",
        font_size,
    )


def attribution_bars(
    attributions: Attributions, labels: list[str], font_size: int = 14
) -> go.Figure:
    """Gradient × input and integrated gradients per token, as grouped bars."""
    xaxis, bottom_px = token_axis(list(labels), font_size)
    figure = go.Figure(
        [
            go.Bar(x=labels, y=attributions.gradient_x_input, name="gradient × input"),
            go.Bar(
                x=labels,
                y=attributions.integrated,
                name=f"integrated gradients ({attributions.n_steps} steps)",
            ),
        ]
    )
    figure.update_layout(
        with_title_and_legend(
            dict(
                barmode="group",
                xaxis=xaxis,
                yaxis=dict(title="attribution"),
                height=300 + bottom_px,
                margin=dict(l=60, r=20, b=bottom_px),
                font=dict(size=font_size),
            ),
            f"token attributions of y = {attributions.output}",
        )
    )
    return figure


def attribution_html(tokens: list[str], values: np.ndarray, font_size: int = 18) -> str:
    """The text coloured by attribution: red for positive, blue for negative, symmetric around 0."""
    values = np.asarray(values, dtype=np.float64)
    bound = float(np.abs(values).max()) if values.size and np.abs(values).max() > 0 else 1.0
    return coloured_tokens_html(tokens, values, ColourScale("RdBu_r", -bound, bound), font_size)
