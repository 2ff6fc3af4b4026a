"""Charts of the training lab: held-out loss and accuracy over training, and how much of the loss
gradient reaches each timestep as training goes on."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.gradients import LOG_FLOOR
from rnnviz.display import readable_number
from rnnviz.training.lab_run import Checkpoint
from rnnviz.training.lab_tasks import Task

# Titles sit above the plot and legends below it, so neither covers the other at any width; numbers
# are written as the rest of the app writes them (rnnviz.display.readable_number), since students read them.
GRADIENT_TITLE = "‖∂loss/∂h_t‖ per timestep"
CHART_FONT_PX = 14  # as the app's other charts


def tick_label(value: float) -> str:
    """A log axis tick, exact in everyday ranges (0.001, 1.37, 10), else readable_number's 1 × 10⁻⁶."""
    return f"{value:,.12g}" if 1e-3 <= value < 1e5 else readable_number(value, 2)


def _lab_layout(title: str, font_size: int, **axes: Any) -> dict[str, Any]:
    return dict(
        title=dict(
            text=title, x=0, xanchor="left", y=1, yanchor="top", yref="container", pad=dict(t=8)
        ),
        height=360,
        margin=dict(l=60, r=60, t=40, b=110),
        font=dict(size=font_size),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.25, yanchor="top"),
        **axes,
    )


def _unvalidated(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A Figure from plain specs, skipping plotly.py's per-property validation: the page rebuilds
    these charts at every poll of every training session, and validating them took ~140 ms of the
    server's GIL each time; tests check the specs against the validating constructor instead."""
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def readable_log_axis(values: list[float]) -> dict[str, Any]:
    """A log axis with ticks written as a person reads them (0.001, 0.02, …): powers of ten when the values span
    several decades, else 1-2-5 steps (or every digit) so that a flat curve still has two ticks."""
    low, high = min(values), max(values)
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for mantissas in ((1,), (1, 2, 5), tuple(range(1, 10))):
        ticks = [m * 10.0**e for e in exponents for m in mantissas if low <= m * 10.0**e <= high]
        if len(ticks) >= 2:
            break
    else:  # within one 1-2-…-9 step: two ticks inside the range, with as many digits as that takes
        for digits in range(2, 13):
            ticks = sorted(
                {float(f"{low + (high - low) * share:.{digits}g}") for share in (0.1, 0.9)}
            )
            if len(ticks) == 2 and low <= ticks[0] and ticks[1] <= high:
                break
    step = max(1, math.ceil(len(ticks) / 6))  # at most ~6 labels
    ticks = ticks[::step]
    return dict(
        type="log", tickmode="array", tickvals=ticks, ticktext=[tick_label(t) for t in ticks]
    )


def training_figure(
    checkpoints: tuple[Checkpoint, ...], task: Task, font_size: int = CHART_FONT_PX
) -> go.Figure:
    """Held-out loss (left axis, log) and accuracy (right axis, [0, 1]) over training steps; chance dotted."""
    steps = [c.step for c in checkpoints]
    losses = [max(c.loss, LOG_FLOOR) for c in checkpoints]
    data = [
        dict(
            type="scatter",
            x=steps,
            y=losses,
            name="held-out loss",
            mode="lines",
            text=[readable_number(v) for v in losses],
            hovertemplate="step %{x}: loss %{text}<extra></extra>",
        ),
        dict(
            type="scatter",
            x=steps,
            y=[c.accuracy for c in checkpoints],
            name="held-out accuracy",
            mode="lines",
            yaxis="y2",
            hovertemplate="step %{x}: accuracy %{y:.1%}<extra></extra>",
        ),
    ]
    if task.kind == "classification":
        chance = 1 / task.outputs
        data.append(
            dict(
                type="scatter",
                x=[steps[0], steps[-1]],
                y=[chance, chance],
                name=f"chance ({chance:.0%})",
                mode="lines",
                yaxis="y2",
                line=dict(dash="dot", color="grey"),
                hoverinfo="skip",
            )
        )
    quarters = [0, 0.25, 0.5, 0.75, 1]
    layout = _lab_layout(
        "held-out loss and accuracy",
        font_size,
        xaxis=dict(title=dict(text="step"), domain=[0, 0.94], anchor="y"),
        yaxis=dict(title=dict(text="loss (log)"), anchor="x", **readable_log_axis(losses)),
        # Its own ticks: an overlaying axis would otherwise put its labels where the loss axis has its ticks.
        yaxis2=dict(
            title=dict(text="accuracy"),
            overlaying="y",
            side="right",
            anchor="x",
            range=[0, 1.02],
            tickmode="array",
            tickvals=quarters,
            ticktext=[f"{q:.0%}" for q in quarters],
            showgrid=False,
        ),
    )
    return _unvalidated(data, layout)


def gradient_norm_figure(
    snapshots: tuple[tuple[int, np.ndarray], ...],
    tokens: list[str] | None = None,
    shown: int = 5,
    font_size: int = CHART_FONT_PX,
) -> go.Figure:
    """‖∂l/∂h_t‖ over t (log scale) at up to `shown` moments of training, the latest drawn boldest."""
    picked = list(snapshots)
    if len(picked) > shown:
        index = np.unique(np.linspace(0, len(picked) - 1, shown).round().astype(int))
        picked = [picked[i] for i in index]
    data: list[dict[str, Any]] = []
    every_value: list[float] = []
    for k, (step, norms) in enumerate(picked):
        latest = k == len(picked) - 1
        values = np.maximum(np.asarray(norms, dtype=np.float64), LOG_FLOOR).tolist()
        every_value += values
        x = (
            list(range(len(norms)))
            if tokens is None
            else [f"{tok} ·{i}" for i, tok in enumerate(tokens)]
        )
        data.append(
            dict(
                type="scatter",
                x=x,
                y=values,
                mode="lines",
                name=f"step {step}",
                opacity=1.0 if latest else 0.35,
                line=dict(width=3 if latest else 1.5),
                text=[readable_number(v) for v in values],
                hovertemplate=f"step {step}, t = %{{x}}: %{{text}}<extra></extra>",
            )
        )
    layout = _lab_layout(
        GRADIENT_TITLE,
        font_size,
        xaxis=dict(title=dict(text="timestep t (the answer is read after the last one)")),
        yaxis=dict(
            title=dict(text="gradient norm (log)"),
            **(readable_log_axis(every_value) if every_value else {"type": "log"}),
        ),
    )
    return _unvalidated(data, layout)
