"""Memory view: how much of what a token wrote into the state survives to later tokens (the product
of the forget gates, or the GRU's update gates; for a plain RNN, which has no such gate, the norm of
∂h_t/∂h_s) beside how much of the output's gradient reaches each token — two answers to "how far
back does it remember?"."""

from __future__ import annotations

import streamlit as st

from rnnviz import figures
from rnnviz.analysis.gradients import gradient_flow
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.retention import (
    STATE_DEPENDENCE_MAX_TOKENS,
    rnn_state_dependence,
    text_retention,
)
from rnnviz.app.state import ViewInputs, ViewState
from rnnviz.figures.gradients import flow_lines
from rnnviz.figures.memory import dependence_heatmap, retention_heatmap


@st.cache_data(max_entries=32, show_spinner=False)
def _flow(_model, key: tuple, ids: tuple[int, ...]):
    return gradient_flow(_model, ids)


def reading(direction: str) -> str:
    return (
        "later"
        if direction == "forward"
        else "earlier (the backward direction reads right to left)"
    )


def gated_retention(run: TextRun, state: ViewState, labels: list[str]) -> None:
    retention = text_retention(run, state.layer, state.direction, state.unit)
    gate = (
        "forget gate f"
        if run.recurrent_call.cell == "lstm"
        else "update gate z (PyTorch's: the share kept)"
    )
    st.markdown(
        f"**Retention** R[s→t] = the product of the {gate} over the tokens after s up to t: how much of "
        f"what token s wrote into the state is still there when the layer reaches "
        f"{reading(state.direction)} token t."
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


def rnn_dependence(model, run: TextRun, state: ViewState, labels: list[str]) -> None:
    rnn = model.module.rnn
    suffix = f"l{state.layer}" + ("_reverse" if state.direction == "backward" else "")
    st.markdown(
        "**How long h_s still counts**: a plain RNN has no gate that says what it keeps, so retention "
        "is read from the recurrence itself — $\\lVert\\partial h_t/\\partial h_s\\rVert_F/\\sqrt{units}$, "
        "the product of $\\partial h_k/\\partial h_{k-1} = \\mathrm{diag}(\\varphi') W_{hh}$ over the "
        "tokens between: how strongly a change of the state at "
        f"token s still moves it at {reading(state.direction)} token t (1 on the diagonal; faint = "
        "forgotten). Every step multiplies by W_hh and the nonlinearity's slope, so it shrinks "
        "geometrically — the vanishing gradient."
    )
    if len(run.tokens) > STATE_DEPENDENCE_MAX_TOKENS:
        st.caption(
            f"The token × token map is drawn up to {STATE_DEPENDENCE_MAX_TOKENS} tokens; this text has "
            f"{len(run.tokens)}. The gradient's reach below covers every token."
        )
        return
    matrix = rnn_state_dependence(
        run.states(state.layer, state.direction, "hidden"),
        getattr(rnn, f"weight_hh_{suffix}").detach().numpy(),
        rnn.nonlinearity,
        state.direction,
    )
    st.plotly_chart(
        dependence_heatmap(matrix, labels, f"layer {state.layer} {state.direction}: ‖∂h_t/∂h_s‖"),
        key="dependence",
        theme=None,
    )


def render(inputs: ViewInputs) -> None:
    model, run, state = inputs.model, inputs.recorded, inputs.state
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    if run.recurrent_call.cell.startswith("rnn"):
        rnn_dependence(model, run, state, labels)
    else:
        gated_retention(run, state, labels)
    st.markdown(
        "**Gradient reach**: ‖∂y/∂h_t‖, how much of the output's sensitivity travels back to token t "
        "(the Gradients view has more)."
    )
    flow = _flow(model, (model.name, id(model.module)), tuple(run.encoding.ids))
    st.plotly_chart(flow_lines(flow, labels), key="memory-gradient")
