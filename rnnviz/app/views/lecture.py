"""Lecture view: the text read token by token in the direction the layer reads it, the cell with the
chosen unit's values, its update written out in numbers, and the prediction so far; ◀ ▶ (arrow keys)
and play; a presenter screen for a projector."""

from __future__ import annotations

import html
import time
from dataclasses import replace

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis import lecture
from rnnviz.analysis.inspection import TextRun
from rnnviz.app.state import (
    PLAYING,
    ViewInputs,
    ViewState,
    choose_step,
    unit_is_automatic,
    write_url,
)
from rnnviz.app.widgets import unit_series
from rnnviz.figures.lecture import cell_diagram

PLAY_TICK = "play_tick"  # when play last moved on
RERUN_PAGE = (
    "lecture_rerun_page"  # a control asks the whole page to run (play's timer is set there)
)
SLIDER = "lecture_step"

# Readable from the back of a hall: large type, black on white, in the lecture's own container.
LECTURE_CSS = """
<style>
.st-key-lecture p, .st-key-lecture li, .st-key-lecture label { font-size: 1.3rem !important; color: #000; }
.st-key-lecture .katex { font-size: 1.15em !important; }
.rnnviz-reading { font-size: 1.9rem; line-height: 1.45; margin: 0; }
.rnnviz-reading small { font-size: 1.1rem; color: #555; margin-right: 0.6rem; }
.rnnviz-reading .current { background: #ffe08a; border-bottom: 4px solid #000; font-weight: 700; padding: 0 0.1em; }
.rnnviz-reading .unread { color: #c4c4c4; }
</style>
"""
# The presenter screen: one 1280×720 screen without the page header, title, sentence box or view tabs
# (the toggle beside the controls leaves it).
PRESENTER_CSS = """
<style>
[data-testid="stHeader"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 0.8rem !important; padding-bottom: 0.5rem !important; }
[data-testid="stMainBlockContainer"] h1, [data-testid="stForm"],
[data-testid="stButtonGroup"] { display: none !important; }
</style>
"""
PLAY_SECONDS = 1.2


def reading_order(steps: int, direction: str) -> list[int]:
    """Token positions in the order the layer reads them: left to right, or right to left (backward)."""
    return list(range(steps)) if direction == "forward" else list(range(steps - 1, -1, -1))


def reading_line_html(tokens: list[str], step: int, direction: str, characters: bool) -> str:
    """The text revealed up to the current token in the direction the layer reads, the token marked."""
    order = reading_order(len(tokens), direction)
    read = set(order[: order.index(step) + 1])
    parts = []
    for position, token in enumerate(tokens):
        shown = html.escape(token.replace(" ", "\u2423") if characters and token == " " else token)
        shown = shown.replace("\n", "↵")
        kind = "current" if position == step else ("read" if position in read else "unread")
        parts.append(
            f'<span class="{kind}">{shown if kind != "unread" else "·" * max(1, min(len(token), 3))}</span>'
        )
    arrow = "reading →" if direction == "forward" else "← reading backward"
    separator = "" if characters else " "
    return f'<div class="rnnviz-reading"><small>{arrow}</small>{separator.join(parts)}</div>'


def _step_to(step: int) -> None:
    choose_step(step)
    st.session_state[SLIDER] = step


def _move(order: list[int], by: int) -> None:
    """◀ / ▶: one token back or on in reading order."""
    here = order.index(min(st.session_state.get("step", 0), len(order) - 1)) if order else 0
    _step_to(order[max(0, min(len(order) - 1, here + by))])


def _toggle_play(order: list[int]) -> None:
    playing = not st.session_state.get(PLAYING, False)
    if playing and st.session_state.get("step") == order[-1]:
        _step_to(order[0])  # play from the start once the end was reached
    st.session_state[PLAYING] = playing
    st.session_state[PLAY_TICK] = time.monotonic()
    st.session_state[RERUN_PAGE] = True  # the timer is set by the whole page


def render(inputs: ViewInputs) -> None:
    run, state = inputs.run, inputs.state
    st.markdown(LECTURE_CSS, unsafe_allow_html=True)
    if state.present:
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
    playing = bool(st.session_state.get(PLAYING, False))

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def stage() -> None:
        if st.session_state.pop(RERUN_PAGE, False):
            st.rerun(scope="app")
        order = reading_order(len(run.tokens), state.direction)
        step = min(st.session_state.get("step", 0), len(order) - 1)
        if playing:
            now = time.monotonic()
            if now - st.session_state.get(PLAY_TICK, 0.0) >= PLAY_SECONDS * 0.8:
                st.session_state[PLAY_TICK] = now
                if step == order[-1]:  # the end: stop, and let the page drop the timer
                    st.session_state[PLAYING] = False
                    st.rerun(scope="app")
                step = order[order.index(step) + 1]
        _step_to(step)
        write_url(
            replace(state, step=step)
        )  # a fragment's rerun does not reach the page's own write
        with st.container(key="lecture"):
            lecture_stage(run, state, step, order, playing)

    stage()


def lecture_stage(
    run: TextRun, state: ViewState, step: int, order: list[int], playing: bool
) -> None:
    """Reading line, controls, the cell with the unit's values, the update in numbers, the prediction."""
    recorded = run.recurrent_call
    characters = run.task == "language_model"
    st.markdown(
        reading_line_html(run.tokens, step, state.direction, characters), unsafe_allow_html=True
    )
    back, forward, play, slider, present = st.columns(
        [0.8, 0.8, 1.2, 5, 1.9], vertical_alignment="center"
    )
    here = order.index(step)
    back.button(
        "",
        icon=":material/chevron_left:",
        key="step_back",
        on_click=_move,
        args=(order, -1),
        disabled=here == 0,
        shortcut="Left",
        use_container_width=True,
        help="one token back (← key)",
    )
    forward.button(
        "",
        icon=":material/chevron_right:",
        key="step_forward",
        on_click=_move,
        args=(order, 1),
        disabled=here == len(order) - 1,
        shortcut="Right",
        use_container_width=True,
        help="one token on (→ key)",
    )
    play.button(
        "pause" if playing else "play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        key="play",
        on_click=_toggle_play,
        args=(order,),
        use_container_width=True,
        type="primary" if playing else "secondary",
    )
    if len(order) > 1:
        slider.slider(
            "token",
            0,
            len(order) - 1,
            key=SLIDER,
            label_visibility="collapsed",
            on_change=lambda: choose_step(st.session_state[SLIDER]),
            format="token %d",
        )
    present.toggle(
        "presenter",
        key="present",
        on_change=lambda: st.session_state.update({RERUN_PAGE: True}),
        help="One screen for a projector: no title, sentence box or tabs; ← → step.",
    )
    series = unit_series(run, state, state.unit)
    moment = lecture.unit_step(series, step, state.unit, state.direction)
    diagram_column, numbers_column = st.columns([1.05, 1])
    values = {
        q: (
            float(np.nanmean(run.states(state.layer, state.direction, q)[step])),
            float(series[q][step]),
        )
        for q in recorded.quantities
    }
    label = f"token {step} '{run.tokens[step]}' — unit {state.unit}, layer {state.layer} {state.direction}"
    # 20 px on the presenter screen (sidebar closed, a wide column); smaller beside the sidebar
    diagram_font = 20 if state.present else 15
    diagram_column.plotly_chart(
        cell_diagram(
            recorded.cell_kind,
            values,
            label,
            font_size=diagram_font,
            direction=state.direction,
            height=360,
            notation=state.notation,
        ),
        key="cell-diagram",
        theme=None,
    )
    with numbers_column:
        for line in lecture.written_update(recorded.cell_kind, moment, state.notation):
            st.latex(line)
        st.markdown("  \n".join(lecture.gate_sentences(recorded.cell_kind, moment, state.notation)))
        step_prediction(run, step)
    st.caption(unit_choice_note(run, state))
    with st.expander("the equations of the cell"):
        for equation in lecture.equations(recorded.cell_kind, state.notation):
            st.latex(equation)


def step_prediction(run: TextRun, step: int) -> None:
    """The model's prediction after the current token: class probabilities or the likeliest next characters."""
    if run.predictions is None:
        return
    if run.task == "language_model":
        title = f"next character after '{run.tokens[step]}'"
        outcomes = run.top_outcomes(step, 4)
    else:
        title = f"prediction after '{run.tokens[step]}'"
        outcomes = run.top_outcomes(step, len(run.prediction_labels))[:4]
    st.plotly_chart(
        figures.step_prediction_figure(
            outcomes, title, font_size=20, height=60 + 38 * len(outcomes)
        ),
        key="step-prediction",
        theme=None,
    )


def unit_choice_note(run: TextRun, state: ViewState) -> str:
    if unit_is_automatic():
        quantity = "cell state c" if "cell" in run.recurrent_call.quantities else "hidden state h"
        return (
            f"Unit {state.unit} is shown because its {quantity} varies most over this text "
            "(largest variance); pick another in the sidebar or click a heatmap cell."
        )
    return f"Unit {state.unit}, as chosen."
