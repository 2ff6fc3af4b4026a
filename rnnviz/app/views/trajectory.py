"""Trajectory view: the hidden states of one sentence (or two) projected onto their first two
principal components, as paths labelled by their tokens."""

from __future__ import annotations

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.projection import fit_pca
from rnnviz.app.state import ViewInputs
from rnnviz.errors import RnnvizError

BOTH = "this sentence and the second one"


def render(inputs: ViewInputs) -> None:
    """`text_run(text)` reads another text with the same model."""
    run, state, text_run = inputs.run, inputs.state, inputs.other_text
    fit_on = st.radio(
        "fit the projection on", ["this sentence", BOTH], horizontal=True, key="pca_fit"
    )
    hidden = run.states(state.layer, state.direction, "hidden")
    paths = [("first", hidden, figures.token_labels(run.tokens))]
    if fit_on == BOTH:
        st.text_input("second sentence", key="text2")
        try:
            other = text_run(state.text2)
            paths.append(
                (
                    "second",
                    other.states(state.layer, state.direction, "hidden"),
                    figures.token_labels(other.tokens),
                )
            )
        except RnnvizError as error:
            st.info(f"Second sentence: {error}")
    projection = fit_pca(np.concatenate([p for _, p, _ in paths]))
    st.plotly_chart(
        figures.trajectory_figure(
            [(name, projection.apply(states), labels) for name, states, labels in paths], projection
        ),
        key="trajectory",
    )
