"""Heatmaps view: the prediction after each token, then every quantity of the chosen layer and
direction as one grid whose cells select a unit and token when clicked."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.ordering import unit_order
from rnnviz.analysis.predict import sample_continuation
from rnnviz.app import widgets
from rnnviz.app.state import ViewInputs, ViewState
from rnnviz.app.widgets import chosen_units, clickable_heatmap

# Beyond this many cells per panel the click layer (a point per cell in every panel) makes the chart's
# data megabytes, so long texts are clicked in the inspector's heatmap or with fewer units.
CLICKABLE_CELLS = 6000


def next_tokens_in_grid(run: TextRun) -> bool:
    """A language model's top-k table joins the heatmap grid where every panel shares the token axis."""
    return (
        run.task == "language_model"
        and run.predictions is not None
        and figures.shares_token_axis(len(run.tokens), len(run.recurrent_call.quantities))
    )


def class_curves(run: TextRun) -> figures.ClassPredictions | None:
    """A classifier's probabilities after each token, drawn as the heatmap grid's first row."""
    if run.predictions is None or run.task not in ("classifier", "custom"):
        return None
    return figures.ClassPredictions(run.predictions, list(run.prediction_labels))


def prediction_panel(model, run: TextRun) -> None:
    """What stands above the grid: a language model's next characters and sampling; a classifier's
    curves are the grid's first row."""
    if run.predictions is None:
        st.caption(
            f"{run.model} gives no per-step predictions (its entry point has no per_step); its states follow."
        )
    elif run.task not in ("classifier", "custom"):
        labels = figures.token_labels(run.tokens, run.encoding.unknown)
        if next_tokens_in_grid(run):
            st.caption(
                "The top-5 next characters after each position are the first row of the heatmaps below, "
                "on their token axis."
            )
        else:
            st.plotly_chart(
                figures.next_token_figure(run.predictions, labels, list(run.prediction_labels), 5),
                key="prediction",
                theme=None,
            )  # its own plain look (figures.PlainFigure)
        left, right, go_column = st.columns([2, 2, 1])
        length = left.slider("characters to sample", 20, 400, 120, step=20, key="sample_length")
        temperature = right.slider("temperature", 0.1, 2.0, 0.8, step=0.1, key="temperature")
        if go_column.button("Sample", key="sample"):
            continuation = sample_continuation(model, run.text, length, temperature, seed=0)
            st.code(run.text + continuation, language=None)


def shown_units_note(run: TextRun, state: ViewState, order: np.ndarray) -> str:
    """Which units the heatmaps show, and why the selected one may stand in the last row."""
    total = run.recurrent_call.hidden_size
    note = f"showing {len(order)} of {total} units ordered by {state.order}"
    if len(order) and int(order[-1]) == state.unit and len(order) == state.units_shown < total:
        first = unit_order(
            run.states(state.layer, state.direction, "hidden"), state.order, state.unit
        )
        if state.unit not in first[: len(order)]:
            return (
                note
                + f" (the first {len(order) - 1}, then the selected unit {state.unit} in the last row)."
            )
    return note + "."


def colour_ranges(run: TextRun, state: ViewState, reference: TextRun | None) -> dict:
    """The colour range of every quantity as `reference` (the trained run of the same text) draws it,
    so that freshly initialised weights are seen on the trained model's scales; None: the run's own."""
    if reference is None:
        return {}
    cell = run.recurrent_call.cell_kind
    return {
        q: figures.colour_scale(q, reference.states(state.layer, state.direction, q), cell)
        for q in run.recurrent_call.quantities
    }


def render(inputs: ViewInputs) -> None:
    model, run, state, reference = inputs.model, inputs.run, inputs.state, inputs.trained
    if state.present:
        return render_presenter(run, state, reference)
    prediction_panel(model, run)
    recorded = run.recurrent_call
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    order = chosen_units(run, state)
    clickable = len(labels) * len(order) <= CLICKABLE_CELLS
    inputs.notes.append(
        f"layer {state.layer}, {state.direction}; {shown_units_note(run, state, order)} "
        "Click a cell to inspect that unit at that token."
        + (
            ""
            if clickable
            else " Long text: to click cells, show fewer units or use the inspector's heatmap."
        )
    )
    next_tokens = (
        figures.NextTokens(run.predictions, list(run.prediction_labels))
        if next_tokens_in_grid(run)
        else None
    )
    grid = figures.quantity_grid(
        {q: run.states(state.layer, state.direction, q) for q in recorded.quantities},
        labels,
        recorded.cell_kind,
        order,
        selected=(state.step, state.unit),
        clickable=clickable,
        next_tokens=next_tokens,
        notation=state.notation,
        colour_ranges=colour_ranges(run, state, reference),
        predictions=class_curves(run),
    )
    # theme=None: its own plain look (figures.PlainFigure)
    clickable_heatmap(grid, "heatmaps", len(labels), order.tolist(), theme=None)
    if (
        run.recurrent_call.bidirectional
        and run.predictions is not None
        and run.task != "language_model"
    ):
        # below the grid: at 720 px the heatmaps begin on the first screen
        st.caption(
            "A bidirectional model's prediction after token t (the curves above) is the whole model run on "
            "the first t + 1 tokens: its backward direction reads that prefix from its last token back to "
            "the first."
        )
    token = figures.token_text(labels[state.step])
    st.button(
        f"Inspect unit {state.unit} at '{token}' (token {state.step})",
        key="open_inspector",
        icon=":material/search:",
        on_click=lambda: st.session_state.update(view="inspector"),
    )


def render_presenter(run: TextRun, state: ViewState, reference: TextRun | None = None) -> None:
    """One 1280×720 screen: what the model says, then every quantity's heatmap side by side around
    the selected token, chart text 20 px."""
    quantities = run.recurrent_call.quantities
    shown = widgets.presenter_tokens(len(run.tokens), state.step, len(quantities))
    line = f"layer {state.layer} {state.direction}"
    if run.predictions is not None and run.task != "language_model":
        label, p = run.top_outcomes(len(run.tokens) - 1, 1)[0]
        line = f"<b>prediction: {html.escape(label)} ({p:.0%})</b> · " + line
    order = chosen_units(run, state)[: widgets.PRESENTER_UNITS]
    if state.unit not in order:
        order = np.append(order[:-1], state.unit)
    if len(shown) < len(run.tokens):
        line += f" · tokens {shown.start}–{shown.stop - 1} of {len(run.tokens)}"
    widgets.presenter_screen(line + f" · {len(order)} units, ordered by {state.order}")
    labels = figures.token_labels(run.tokens, run.encoding.unknown)[shown.start : shown.stop]
    grid = figures.quantity_grid(
        {
            q: run.states(state.layer, state.direction, q)[shown.start : shown.stop]
            for q in quantities
        },
        labels,
        run.recurrent_call.cell_kind,
        order,
        selected=(state.step - shown.start, state.unit) if state.step in shown else None,
        font_size=widgets.PRESENTER_FONT,
        arrangement="side by side",
        notation=state.notation,
        colour_ranges=colour_ranges(run, state, reference),
    )
    grid.update_layout(height=600)
    st.plotly_chart(grid, key="heatmaps", theme=None)
