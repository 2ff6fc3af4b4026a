"""Pieces several views share: the heatmap rows to show, one unit's series, a clickable heatmap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.interventions import UnitRanking, rank_units_by_ablation
from rnnviz.analysis.ordering import shown_units, unit_order
from rnnviz.app.state import ViewState, choose_step, choose_unit
from rnnviz.figures.heatmaps import SIDE_BY_SIDE_MAX_COLUMNS


def chosen_units(run: TextRun, state: ViewState) -> np.ndarray:
    """Rows of every heatmap: the chosen order over the hidden state, cut to 'units shown'."""
    order = unit_order(run.states(state.layer, state.direction, "hidden"), state.order, state.unit)
    return shown_units(order, state.units_shown, state.unit)


def unit_series(run: TextRun, state: ViewState, unit: int) -> dict[str, np.ndarray]:
    """One unit's every quantity over the text: quantity → [time]."""
    recorded = run.recurrent_call
    return {q: run.states(state.layer, state.direction, q)[:, unit] for q in recorded.quantities}


def clickable_heatmap(
    figure, key: str, tokens: int, units: Sequence[int], theme: str | None = "streamlit"
) -> None:
    """A heatmap over `tokens` tokens with rows `units` whose clicked cell becomes the selection."""

    def on_select() -> None:
        points = st.session_state[key].get("selection", {}).get("points", [])
        cells = (figures.clicked_cell(point, tokens, units) for point in points)
        cell = next((c for c in cells if c is not None), None)
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


# The presenter screen (present=1): one 1280×720 screen for a projector, without the page header,
# title, sentence box, view tabs or the page's notes above the view; the view's toggle leaves it.
PRESENTER_CSS = """
<style>
[data-testid="stHeader"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 0.6rem !important; padding-bottom: 0.5rem !important; }
[data-testid="stMainBlockContainer"] h1, [data-testid="stForm"],
[data-testid="stButtonGroup"] { display: none !important; }
.st-key-page-body > [data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"], .stMarkdownBadge) {
  display: none !important; }
[data-testid="stElementContainer"]:has(.rnnviz-presenter-style) { display: none; }
div.rnnviz-presenter-line { font-size: 1.4rem !important; line-height: 1.3; margin: 0; color: #000; }
</style>
<span class="rnnviz-presenter-style"></span>
"""
PRESENTER_FONT = 20  # px: chart text read from the back of a hall
PRESENTER_UNITS = 16  # heatmap rows on a presenter screen: each row tall enough for its 20 px label
PRESENTER_TOKENS = 24  # heatmap columns at most: each wide enough for its 20 px token


def presenter_tokens(tokens: int, step: int, panels: int) -> range:
    """The tokens a presenter screen's heatmaps show: all panels on one row (figures'
    SIDE_BY_SIDE_MAX_COLUMNS cells across), around the selected token."""
    width = min(tokens, PRESENTER_TOKENS, max(4, SIDE_BY_SIDE_MAX_COLUMNS // panels))
    start = min(max(0, step - width // 2), tokens - width)
    return range(start, start + width)


def presenter_screen(line: str, on_change=None) -> None:
    """The presenter screen's chrome: the page's own hidden, one line that says what is shown (HTML,
    escaped by the caller), and the toggle that leaves it."""
    st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
    text, toggle = st.columns([6, 1.2], vertical_alignment="center")
    text.markdown(f'<div class="rnnviz-presenter-line">{line}</div>', unsafe_allow_html=True)
    toggle.toggle(
        "presenter",
        key="present",
        on_change=on_change,
        help="One screen for a projector; switch off for the page's title, sentence box and tabs.",
    )
