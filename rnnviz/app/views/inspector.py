"""Unit inspector: one unit over the text, the text coloured by it, its update at the selected token
in numbers, and the hidden-state heatmap to pick another unit or token."""

from __future__ import annotations

import streamlit as st

from rnnviz import figures, lecture
from rnnviz.app.state import ViewState
from rnnviz.app.widgets import chosen_units, clickable_heatmap, unit_series
from rnnviz.inspection import TextRun
from rnnviz.quantities import LABELS


def render(run: TextRun, state: ViewState) -> None:
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    recorded = run.recurrent_call
    step = state.step
    st.subheader(f"Unit {state.unit} — layer {state.layer}, {state.direction}, at token {labels[step]}")
    series = unit_series(run, state, state.unit)
    st.plotly_chart(figures.unit_timeline(series, labels, state.unit, step), key="timeline")
    colour_by = st.radio("colour the text by", list(series), index=list(series).index("hidden"), horizontal=True,
                         format_func=lambda q: LABELS.get(q, q), key="colour_by")
    scale = figures.colour_scale(colour_by, series[colour_by], recorded.cell)
    st.markdown(figures.coloured_tokens_html(run.tokens, series[colour_by], scale), unsafe_allow_html=True)
    st.markdown("**The update at this token, with the recorded numbers**")
    moment = lecture.unit_step(series, step, state.unit, state.direction)
    for line in lecture.written_update(recorded.cell, moment):
        st.latex(line)
    st.markdown("  \n".join(lecture.gate_sentences(recorded.cell, moment)))
    order = chosen_units(run, state)
    hidden = run.states(state.layer, state.direction, "hidden")
    clickable_heatmap(
        figures.quantity_heatmap(hidden, labels, "hidden", recorded.cell, order, (step, state.unit), clickable=True),
        "inspector-heatmap")
