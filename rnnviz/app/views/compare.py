"""Compare view: two sentences' predictions after each token, and the difference of a quantity at
aligned positions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.app.state import ALIGNMENTS, ViewInputs
from rnnviz.app.widgets import chosen_units
from rnnviz.errors import RnnvizError


def actual_next_probability(run: TextRun) -> np.ndarray:
    """P(token t+1 | tokens ≤ t) for every position but the last: how well a language model foresaw the text."""
    following = np.asarray(run.encoding.ids[1:])
    return run.predictions[np.arange(len(following)), run.prediction_columns(following)]


def render(inputs: ViewInputs) -> None:
    """`text_run(text)` reads another text with the same model."""
    run, state, text_run = inputs.run, inputs.state, inputs.other_text
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
