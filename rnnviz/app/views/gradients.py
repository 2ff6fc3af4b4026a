"""Gradients view: gradient flow per timestep, token attributions, and the cells side by side.

`render(loaded, run, layer, direction, load_model)` draws the whole view for the text in `run`.
Widgets: grad_class (classifier) or grad_position / grad_token (language model), grad_steps.
"""

from __future__ import annotations

import html
from typing import Callable

import numpy as np
import streamlit as st

from rnnviz.analysis.gradients import Attributions, GradientFlow, gradient_flow, token_attributions
from rnnviz.analysis.inspection import TextRun
from rnnviz.app import widgets
from rnnviz.app.state import ViewInputs
from rnnviz.core.quantities import layer_key
from rnnviz.errors import RnnvizError
from rnnviz.figures import readable_number, token_labels
from rnnviz.figures.gradients import (
    attribution_bars,
    attribution_html,
    dependence_lines,
    flow_comparison,
    flow_heatmap,
    flow_lines,
)
from rnnviz.models.architectures import LoadedModel, bundled_names

COMPARED_MODELS = ("sst2-rnn", "sst2-gru", "sst2-lstm")


def _key(loaded: LoadedModel) -> tuple:
    # Uploaded and bundled models may share a name; the module's identity tells them apart.
    return loaded.name, str(loaded.folder), id(loaded.module)


@st.cache_data(max_entries=64, show_spinner=False)
def _flow(
    _loaded: LoadedModel, key: tuple, ids: tuple[int, ...], target: int | None, position: int | None
) -> GradientFlow:
    return gradient_flow(_loaded, ids, target=target, position=position)


COMPLETE_WITHIN = 0.01  # the completeness error integrated gradients are refined to, and ✓ marks


@st.cache_data(max_entries=64, show_spinner=False)
def _attributions(
    _loaded: LoadedModel,
    key: tuple,
    ids: tuple[int, ...],
    target: int | None,
    position: int | None,
    n_steps: int,
) -> Attributions:
    return token_attributions(
        _loaded, ids, target=target, position=position, n_steps=n_steps, refine_to=COMPLETE_WITHIN
    )


def _output_choice(loaded: LoadedModel, run: TextRun) -> tuple[int, int | None]:
    """The differentiated output, chosen with grad_ widgets: (target, position)."""
    if run.task == "classifier":
        labels = list(run.prediction_labels)
        predicted = int(run.predictions[-1].argmax())
        target = st.selectbox(
            "output y: the score (logit) of class",
            range(len(labels)),
            index=predicted,
            format_func=lambda k: labels[k] + (" (predicted)" if k == predicted else ""),
            key="grad_class",
        )
        return int(target), None
    steps = len(run.tokens)
    position = (
        steps - 1
        if steps == 1
        else st.slider(
            "output y: next-token log-probability after position",
            0,
            steps - 1,
            steps - 1,
            key="grad_position",
        )
    )
    top = [loaded.tokenizer.stoi.get(token, 1) for token, _ in run.top_outcomes(position, k=5)]
    target = st.selectbox(
        "next token",
        top,
        key="grad_token",
        format_func=lambda i: (
            f"{loaded.tokenizer.itos[i]!r} "
            f"(p = {run.predictions[position][run.prediction_columns([i])[0]]:.3f})"
        ),
    )
    return int(target), int(position)


def render(inputs: ViewInputs) -> None:
    """Draw the gradients view for `run` (the text as `loaded` read it).

    layer, direction: the layer and direction the rest of the page shows; their curves are
    named in the summary line. load_model(name) loads a bundled model for the side-by-side
    comparison (the app's cached loader); models that are not bundled are skipped. A presenter
    screen (present=1) shows the gradient flow alone, chart text 20 px.
    """
    loaded, run, load_model = inputs.model, inputs.recorded, inputs.load_model
    layer, direction = inputs.state.layer, inputs.state.direction
    if inputs.state.present:
        return render_presenter(loaded, run, layer, direction)
    labels = token_labels(run.tokens, run.encoding.unknown)
    ids = tuple(run.encoding.ids)
    left, right = st.columns([3, 1])
    with left:
        target, position = _output_choice(loaded, run)
    with right:
        n_steps = st.slider(
            "integration steps",
            10,
            200,
            50,
            step=10,
            key="grad_steps",
            help="Integrated gradients start with this many points and double them until their sum "
            "matches y(x) − y(baseline) within 1 % (or a few seconds' work is reached).",
        )
    predicted = int(run.predictions[-1].argmax()) if run.task == "classifier" else None
    try:
        # the predicted class as None: the same cache entry as this model's curve in the comparison
        flow = _flow(loaded, _key(loaded), ids, None if target == predicted else target, position)
        attributions = _attributions(loaded, _key(loaded), ids, target, position, n_steps)
    except RnnvizError as error:
        st.error(str(error))
        return

    st.subheader("Gradient flow through time")
    row = flow.row(layer, direction) if layer_key(layer, direction) in flow.rows else 0
    norms = flow.norms_hidden[row]
    st.markdown(
        f"y = {flow.output} = **{flow.output_value:.4f}**. Backpropagation through time carries ∂y/∂h_t back "
        f"from the output; in {flow.rows[row].replace('.', ' ')} its norm is {readable_number(norms[-1])} at the "
        f"last token and {readable_number(norms[0])} at the first."
    )
    st.caption(
        "∂y/∂h_t is the total derivative through everything downstream of h_t, computed by re-running the "
        f"layers step by step with the model's own weights (matches the fused module to within "
        f"{readable_number(flow.reproduction_error, 2)})."
    )
    st.plotly_chart(flow_heatmap(flow, labels), key="grad_chart_heatmap")
    st.plotly_chart(flow_lines(flow, labels), key="grad_chart_lines")
    st.plotly_chart(dependence_lines(flow, labels), key="grad_chart_dependence")
    st.caption(
        "‖∂h_final/∂h_t‖_F: the Frobenius norm of the Jacobian of the layer's final state (h_T forward, "
        "h_1 backward) with respect to h_t; for an LSTM with c_t held fixed. At the final step it is √units."
    )

    st.subheader("Token attributions")
    st.markdown("**Integrated gradients**")
    st.markdown(attribution_html(run.tokens, attributions.integrated), unsafe_allow_html=True)
    st.markdown("**Gradient × input**")
    st.markdown(attribution_html(run.tokens, attributions.gradient_x_input), unsafe_allow_html=True)
    st.plotly_chart(attribution_bars(attributions, labels), key="grad_chart_attributions")
    change = attributions.output_value - attributions.baseline_value
    complete = attributions.completeness_error <= COMPLETE_WITHIN
    points = (
        f"{attributions.n_steps} points"
        if attributions.n_steps == n_steps
        else f"{attributions.n_steps} points (doubled from {n_steps} until the sum held)"
    )
    st.caption(
        f"Completeness: integrated gradients sum to y(x) − y(baseline). Here Σ attributions = "
        f"{attributions.integrated.sum():.4f} and y(x) − y(baseline) = {attributions.output_value:.4f} − "
        f"({attributions.baseline_value:.4f}) = {change:.4f}: relative error "
        f"{attributions.completeness_error:.2%} {'✓' if complete else '✗'}. "
        "Baseline: every token replaced by the all-zero <pad> embedding; Captum, Gauss–Legendre, "
        f"{points}. Red raises y, blue lowers it."
    )
    if not complete:
        st.caption(
            f"✗: along the straight path from the baseline to this text the gradient changes too fast "
            f"(saturating gates, a long recurrence) for {attributions.n_steps} points to add it up, the "
            "most this page computes for a text this long. The integrated gradients above are "
            "approximate: read their signs and ranking, not their sizes."
        )
    st.caption(
        "Why the two methods can disagree in sign on a word: gradient × input is the slope at this exact sentence "
        "times the word's embedding — a local, first-order guess. Integrated gradients averages that slope along "
        "the whole path from the all-padding baseline to the sentence, so it also counts how the word acts "
        "together with the others (e.g. 'good' after 'not'). Only integrated gradients adds up to the change "
        "in y (the completeness line above); trust it where they differ."
    )

    st.subheader("RNN vs GRU vs LSTM on this sentence")
    _comparison(run, load_model)


def _comparison(run: TextRun, load_model: Callable[[str], LoadedModel]) -> None:
    available = set(bundled_names())
    curves, skipped, tokens = [], [], None
    for name in COMPARED_MODELS:
        if name not in available:
            skipped.append(f"{name} (not bundled yet)")
            continue
        try:
            model = load_model(name)
            encoding = model.encode(run.text)
            flow = _flow(model, _key(model), tuple(encoding.ids), None, None)
        except RnnvizError as error:
            skipped.append(f"{name} ({error})")
            continue
        curves.append((name, flow.norms_hidden[flow.row(model.config.num_layers - 1, "forward")]))
        tokens = encoding.tokens if tokens in (None, encoding.tokens) else []
    if skipped:
        st.info("Skipped: " + "; ".join(skipped) + ".")
    if not curves:
        return
    labels = (
        token_labels(tokens) if tokens else [f"·{i}" for i in range(max(len(c) for _, c in curves))]
    )
    padded = [
        (name, np.pad(values, (0, len(labels) - len(values)), constant_values=np.nan))
        for name, values in curves
    ]
    st.plotly_chart(flow_comparison(padded, labels), key="grad_chart_comparison")
    st.caption(
        "Each model's predicted-class score, differentiated with respect to the last layer's h_t: how much of "
        "the output's sensitivity reaches each earlier token."
    )


def _chosen_output(loaded: LoadedModel, run: TextRun) -> tuple[int, int | None]:
    """The output chosen on the full view (its widgets' values), else the default: the predicted
    class, or the likeliest next token after the last position."""
    if run.task == "classifier":
        return int(st.session_state.get("grad_class", int(run.predictions[-1].argmax()))), None
    position = int(st.session_state.get("grad_position", len(run.tokens) - 1))
    top = loaded.tokenizer.stoi.get(run.top_outcomes(position, k=1)[0][0], 1)
    return int(st.session_state.get("grad_token", top)), position


def render_presenter(loaded: LoadedModel, run: TextRun, layer: int, direction: str) -> None:
    """One 1280×720 screen: how far back the gradient of the output reaches, as a heatmap over
    layers and as curves on a log scale, side by side; chart text 20 px."""
    target, position = _chosen_output(loaded, run)
    try:
        flow = _flow(loaded, _key(loaded), tuple(run.encoding.ids), target, position)
    except RnnvizError as error:
        st.error(str(error))
        return
    row = flow.row(layer, direction) if layer_key(layer, direction) in flow.rows else 0
    norms = flow.norms_hidden[row]
    widgets.presenter_screen(
        f"‖∂y/∂h_t‖, y = {html.escape(flow.output)}, {flow.rows[row].replace('.', ' ')}: "
        f"<b>{readable_number(norms[-1])}</b> at the last token, <b>{readable_number(norms[0])}</b> "
        "at the first"
    )
    labels = token_labels(run.tokens, run.encoding.unknown)
    font = widgets.PRESENTER_FONT
    heatmap_column, lines_column = st.columns(2)
    heatmap = flow_heatmap(flow, labels, font_size=font)
    heatmap.update_layout(height=580, title=None, margin=dict(l=10, t=20))
    heatmap.update_yaxes(automargin=True, title=None)
    heatmap.update_xaxes(automargin=True, title=None)
    heatmap_column.plotly_chart(heatmap, key="grad_chart_heatmap", theme=None)
    lines = flow_lines(flow, labels, font_size=font)
    lines.update_layout(height=580, margin=dict(l=10))
    lines.update_yaxes(automargin=True, nticks=6, title=dict(standoff=12))
    ticks = one_two_five([trace.y for trace in lines.data])
    if (
        len(ticks) >= 3
    ):  # over decades plotly labels its minor ticks at 3/4 size: label 1, 2, 5 in full
        lines.update_yaxes(tickvals=ticks, ticktext=[f"{tick:g}" for tick in ticks])
    lines.update_xaxes(automargin=True, title=None)
    lines_column.plotly_chart(lines, key="grad_chart_lines", theme=None)


def one_two_five(curves) -> list[float]:
    """Ticks 1, 2, 5 × 10^k inside the range of positive values the curves take."""
    values = np.concatenate([np.asarray(curve, dtype=np.float64) for curve in curves])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return []
    low, high = float(values.min()), float(values.max())
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    return [m * 10.0**k for k in decades for m in (1, 2, 5) if low <= m * 10.0**k <= high]
