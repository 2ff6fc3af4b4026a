"""Unit inspector: one unit over the text, the text coloured by it, its update at the selected token
in numbers, and the hidden-state heatmap to pick another unit or token."""

from __future__ import annotations

import streamlit as st

from rnnviz import figures
from rnnviz.analysis import lecture
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.interventions import rank_units_by_change
from rnnviz.app.state import ViewInputs, ViewState, choose_unit
from rnnviz.app.views.heatmaps import colour_ranges
from rnnviz.app.widgets import ablation_ranking, chosen_units, clickable_heatmap, unit_series
from rnnviz.models.architectures import LoadedModel

TOP_UNITS = 8


def units_that_matter(model, run: TextRun, state: ViewState) -> None:
    """The units whose ablation at this token moves the prediction most, each a click away, and the
    cheaper ranking by how much each moved here."""
    if not isinstance(model, LoadedModel):
        return
    quantity = "cell" if "cell" in run.recurrent_call.quantities else "hidden"
    name = run.recurrent_call.name(state.layer, state.direction, quantity)
    # open: its rankings are computed only then (an ablation per unit is most of this view's time)
    shown = st.expander(
        f"Units that matter at token {state.step}", key="units_that_matter", on_change="rerun"
    )
    if not shown.open:
        return
    with shown:
        moved = rank_units_by_change(run, name, state.step)
        st.caption(
            f"Largest {moved.measure}: "
            + ", ".join(f"unit {u} ({v:+.2f})" for u, v in moved.top(TOP_UNITS))
        )
        # one batched rerun per unit: instant for a sentence, seconds for a long passage, so asked for
        if st.toggle(
            "rank by effect on the prediction (ablating each unit here)",
            key="rank_by_effect",
            value=len(run.tokens) <= 60,
        ):
            ranking = ablation_ranking(model, run, name, state.step)
            st.caption(f"By effect: {ranking.measure}. Click one to inspect it.")
            columns = st.columns(TOP_UNITS)
            for column, (unit, score) in zip(columns, ranking.top(TOP_UNITS)):
                column.button(
                    f"unit {unit}",
                    key=f"matter_{unit}",
                    help=f"Δp = {score:+.3f}",
                    on_click=choose_unit,
                    args=(unit,),
                    use_container_width=True,
                )


def render(inputs: ViewInputs) -> None:
    model, run, state, reference = inputs.model, inputs.run, inputs.state, inputs.trained
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    recorded = run.recurrent_call
    step = state.step
    st.subheader(
        f"Unit {state.unit} — layer {state.layer}, {state.direction}, at token {labels[step]}"
    )
    series = unit_series(run, state, state.unit)
    notation = state.notation
    st.plotly_chart(
        figures.unit_timeline(series, labels, state.unit, step, notation=notation), key="timeline"
    )
    colour_by = st.radio(
        "colour the text by",
        list(series),
        index=list(series).index("hidden"),
        horizontal=True,
        format_func=notation.label,
        key="colour_by",
    )
    scale = figures.colour_scale(
        colour_by,
        series[colour_by]
        if reference is None
        else unit_series(reference, state, state.unit)[colour_by],
        recorded.cell_kind,
    )
    st.markdown(
        figures.coloured_tokens_html(run.tokens, series[colour_by], scale), unsafe_allow_html=True
    )
    st.markdown("**The update at this token, with the recorded numbers**")
    moment = lecture.unit_step(series, step, state.unit, state.direction)
    for line in lecture.written_update(recorded.cell_kind, moment, notation):
        st.latex(line)
    st.markdown("  \n".join(lecture.gate_sentences(recorded.cell_kind, moment, notation)))
    units_that_matter(model, run, state)
    order = chosen_units(run, state)
    hidden = run.states(state.layer, state.direction, "hidden")
    clickable_heatmap(
        figures.quantity_heatmap(
            hidden,
            labels,
            "hidden",
            recorded.cell_kind,
            order,
            (step, state.unit),
            clickable=True,
            notation=notation,
            scale=colour_ranges(run, state, reference).get("hidden"),
        ),
        "inspector-heatmap",
        len(labels),
        order.tolist(),
    )
