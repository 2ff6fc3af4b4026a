"""Pieces several views share: the heatmap rows to show, one unit's series, a clickable heatmap."""

from __future__ import annotations

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.interventions import UnitRanking, rank_units_by_ablation
from rnnviz.analysis.ordering import shown_units, unit_order
from rnnviz.app.state import ViewState, choose_step, choose_unit


def chosen_units(run: TextRun, state: ViewState) -> np.ndarray:
    """Rows of every heatmap: the chosen order over the hidden state, cut to 'units shown'."""
    order = unit_order(run.states(state.layer, state.direction, "hidden"), state.order, state.unit)
    return shown_units(order, state.units_shown, state.unit)


def unit_series(run: TextRun, state: ViewState, unit: int) -> dict[str, np.ndarray]:
    """One unit's every quantity over the text: quantity → [time]."""
    recorded = run.recurrent_call
    return {q: run.states(state.layer, state.direction, q)[:, unit] for q in recorded.quantities}


def clickable_heatmap(figure, key: str, theme: str | None = "streamlit") -> None:
    """A heatmap whose clicked cell (its point carries token index and unit) becomes the selection."""

    def on_select() -> None:
        points = st.session_state[key].get("selection", {}).get("points", [])
        cell = next((c for c in map(figures.clicked_cell, points) if c is not None), None)
        if cell is not None:
            choose_step(cell[0])
            choose_unit(cell[1])

    st.plotly_chart(figure, key=key, on_select=on_select, selection_mode="points", theme=theme)


def ablation_ranking(
    model, run: TextRun, name: str, step: int, until_end: bool = False
) -> UnitRanking:
    """`rank_units_by_ablation` of `run`'s text, cached per (model, text, quantity, token); a language
    model's effect is measured after its last token."""
    return _ablation_ranking(
        model, (model.name, id(model.module), run.text), run, name, step, until_end
    )


@st.cache_data(max_entries=64, show_spinner="ranking units by their effect…")
def _ablation_ranking(
    _model, key: tuple, _run: TextRun, name: str, step: int, until_end: bool
) -> UnitRanking:
    at = len(_run.tokens) - 1 if _run.task == "language_model" else None
    return rank_units_by_ablation(_model, _run, name, step, until_end=until_end, at=at)
