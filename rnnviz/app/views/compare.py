"""Compare view: two sentences' predictions after each token, and the difference of a quantity at
aligned positions."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.app import widgets
from rnnviz.app.state import ALIGNMENTS, ViewInputs, ViewState
from rnnviz.app.widgets import chosen_units
from rnnviz.errors import RnnvizError


def actual_next_probability(run: TextRun) -> np.ndarray:
    """P(token t+1 | tokens ≤ t) for every position but the last: how well a language model foresaw the text."""
    following = np.asarray(run.encoding.ids[1:])
    return run.predictions[np.arange(len(following)), run.prediction_columns(following)]


def render(inputs: ViewInputs) -> None:
    """`text_run(text)` reads another text with the same model."""
    run, state, text_run = inputs.run, inputs.state, inputs.other_text
    if state.present:
        return render_presenter(run, state, text_run)
    st.text_input("second sentence", key="text2")
    try:
        other = text_run(state.text2)
    except RnnvizError as error:
        st.info(f"Second sentence: {error}")
        return
    first_labels = figures.token_labels(run.tokens, run.encoding.unknown)
    second_labels = figures.token_labels(other.tokens, other.encoding.unknown)
    if (
        run.predictions is not None
        and other.predictions is not None
        and run.task != "language_model"
    ):
        class_index = int(run.predictions[-1].argmax())
        st.plotly_chart(
            figures.comparison_figure(
                [
                    ("first: " + run.text, run.predictions[:, class_index], first_labels),
                    ("second: " + other.text, other.predictions[:, class_index], second_labels),
                ],
                run.prediction_labels[class_index],
            ),
            key="compare-curves",
        )
    elif run.task == "language_model" and len(run.tokens) > 1 and len(other.tokens) > 1:
        curves = [
            (name, actual_next_probability(r), labels[:-1])
            for name, r, labels in (("first", run, first_labels), ("second", other, second_labels))
        ]
        st.plotly_chart(
            figures.comparison_figure(curves, "the character that actually follows"),
            key="compare-curves",
        )
        st.caption(
            "After each character, the probability the model gave to the character that actually comes next: "
            "high where the text is what the model expects."
        )
    left, right = st.columns(2)
    left.selectbox(
        "quantity",
        list(run.recurrent_call.quantities),
        key="quantity",
        format_func=state.notation.label,
    )
    right.radio("align positions at the", list(ALIGNMENTS), key="align", horizontal=True)
    first = run.states(state.layer, state.direction, state.quantity)
    second = other.states(state.layer, state.direction, state.quantity)
    st.plotly_chart(
        figures.difference_heatmap(
            first,
            second,
            first_labels,
            second_labels,
            state.quantity,
            state.align,
            chosen_units(run, state),
            notation=state.notation,
        ),
        key="compare-difference",
    )


def render_presenter(run: TextRun, state: ViewState, text_run) -> None:
    """One 1280×720 screen: the two texts' predictions after each token over the difference of a
    quantity at aligned positions, chart text 20 px."""
    try:
        other = text_run(state.text2)
    except RnnvizError as error:
        st.info(f"Second sentence: {error}")
        return
    widgets.presenter_screen(
        f"<b>first</b>: {html.escape(run.text[:70])} · <b>second</b>: {html.escape(other.text[:70])}"
    )
    first_labels = figures.token_labels(run.tokens, run.encoding.unknown)
    second_labels = figures.token_labels(other.tokens, other.encoding.unknown)
    font = widgets.PRESENTER_FONT
    if run.predictions is not None and other.predictions is not None:
        if run.task == "language_model":
            curves = [
                (name, actual_next_probability(r), labels[:-1])
                for name, r, labels in (
                    ("first", run, first_labels),
                    ("second", other, second_labels),
                )
            ]
            outcome = "the character that actually follows"
        else:
            class_index = int(run.predictions[-1].argmax())
            curves = [
                ("first", run.predictions[:, class_index], first_labels),
                ("second", other.predictions[:, class_index], second_labels),
            ]
            outcome = run.prediction_labels[class_index]
        curve_figure = figures.comparison_figure(curves, outcome, font_size=font)
        curve_figure.update_layout(height=260)
        curve_figure.update_traces(
            textfont_size=font
        )  # the words over the points, as large as the rest
        if max(len(labels) for _, _, labels in curves) > 20:  # long: no word over every point
            curve_figure.update_traces(mode="lines+markers")
            curve_figure.update_xaxes(tickmode="auto", nticks=12, title=None)
        st.plotly_chart(curve_figure, key="compare-curves", theme=None)
    units = chosen_units(run, state)[: widgets.PRESENTER_UNITS]
    difference = figures.difference_heatmap(
        run.states(state.layer, state.direction, state.quantity),
        other.states(state.layer, state.direction, state.quantity),
        first_labels,
        second_labels,
        state.quantity,
        state.align,
        units,
        font_size=font,
        notation=state.notation,
    )
    difference.update_layout(height=320)
    st.plotly_chart(difference, key="compare-difference", theme=None)
