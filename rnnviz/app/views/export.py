"""Export view: the trace (NPZ, JSON), and each quantity's heatmap (standalone HTML) and values (CSV)."""

from __future__ import annotations

import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.ordering import unit_order
from rnnviz.app.state import ViewInputs, ViewState
from rnnviz.app.widgets import chosen_units
from rnnviz.core.quantities import LABELS
from rnnviz.exports import files as export


def heatmap_figures(run: TextRun, state: ViewState):
    """One heatmap per quantity of the chosen layer and direction, all in one unit order, for export:
    without the click layer, which only Streamlit reads (a standalone HTML file hovers the heatmap)."""
    recorded = run.recurrent_call
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    order = chosen_units(run, state)
    built = []
    for quantity in recorded.quantities:
        values = run.states(state.layer, state.direction, quantity)
        figure = figures.quantity_heatmap(
            values,
            labels,
            quantity,
            recorded.cell,
            order,
            selected=(state.step, state.unit),
            clickable=False,
        )
        built.append((quantity, values, figure))
    return labels, order, built


def render(inputs: ViewInputs) -> None:
    run, state = inputs.recorded, inputs.state
    st.markdown(
        "Every chart also has a camera button (top right of the chart) that saves a PNG in the browser, "
        "offline."
    )
    labels, order, built = heatmap_figures(run, state)
    every_unit = unit_order(
        run.states(state.layer, state.direction, "hidden"), state.order, state.unit
    )
    stem = f"{run.model}-layer{state.layer}-{state.direction}"
    st.caption(
        f"Figures show the {len(order)} units the heatmaps show; the CSV files hold all "
        f"{len(every_unit)} units of layer {state.layer} {state.direction}, ordered by {state.order}; "
        "the trace files hold every layer and direction."
    )
    st.download_button(
        "trace (NPZ)",
        data=lambda: export.trace_npz(run),
        file_name=f"{run.model}-trace.npz",
        mime="application/octet-stream",
        on_click="ignore",
        key="export-npz",
    )
    st.download_button(
        "trace (JSON)",
        data=lambda: export.trace_json_text(run),
        file_name=f"{run.model}-trace.json",
        mime="application/json",
        on_click="ignore",
        key="export-json",
    )
    for quantity, values, figure in built:
        left, right = st.columns(2)
        name = LABELS.get(quantity, quantity)
        left.download_button(
            f"{name} — figure (HTML)",
            data=lambda figure=figure: export.figure_html(figure),
            file_name=f"{stem}-{quantity}.html",
            mime="text/html",
            on_click="ignore",
            key=f"export-html-{quantity}",
        )
        right.download_button(
            f"{name} — values of all {len(every_unit)} units (CSV)",
            data=lambda values=values: export.heatmap_csv(values, run.tokens, every_unit),
            file_name=f"{stem}-{quantity}.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"export-csv-{quantity}",
        )
