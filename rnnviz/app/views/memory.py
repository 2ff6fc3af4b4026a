"""Memory view: how much of what a token wrote into the state survives to later tokens (the product
of the forget gates, or the GRU's update gates) beside how much of the output's gradient reaches
each token — two answers to "how far back does it remember?"."""

from __future__ import annotations

import streamlit as st

from rnnviz import figures
from rnnviz.analysis.gradients import gradient_flow
from rnnviz.analysis.retention import text_retention
from rnnviz.app.state import ViewInputs
from rnnviz.figures.gradients import flow_lines
from rnnviz.figures.memory import retention_heatmap


@st.cache_data(max_entries=32, show_spinner=False)
def _flow(_model, key: tuple, ids: tuple[int, ...]):
    return gradient_flow(_model, ids)


def render(inputs: ViewInputs) -> None:
    model, run, state = inputs.model, inputs.recorded, inputs.state
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    retention = text_retention(run, state.layer, state.direction, state.unit)
    gate = (
        "forget gate f"
        if run.recurrent_call.cell == "lstm"
        else "update gate z (PyTorch's: the share kept)"
    )
    reading = (
        "later"
        if state.direction == "forward"
        else "earlier (the backward direction reads right to left)"
    )
    st.markdown(
        f"**Retention** R[s→t] = the product of the {gate} over the tokens after s up to t: how much of "
        f"what token s wrote into the state is still there when the layer reaches a {reading} token t."
    )
    left, right = st.columns(2)
    left.plotly_chart(
        retention_heatmap(retention.unit_matrix, labels, f"unit {state.unit}"),
        key="retention-unit",
        theme=None,
    )
    right.plotly_chart(
        retention_heatmap(retention.mean_matrix, labels, "mean over units"),
        key="retention-mean",
        theme=None,
    )
    st.markdown(
        "**Gradient reach**: ‖∂y/∂h_t‖, how much of the output's sensitivity travels back to token t "
        "(the Gradients view has more)."
    )
    flow = _flow(model, (model.name, id(model.module)), tuple(run.encoding.ids))
    st.plotly_chart(flow_lines(flow, labels), key="memory-gradient")
