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
from rnnviz.analysis.lecture import reading_order
from rnnviz.app import widgets
from rnnviz.app.state import (
    LINKED_STEP,
    PLAYING,
    RERUN_PAGE,
    ViewInputs,
    ViewState,
    choose_step,
    unit_is_automatic,
    write_url,
)
from rnnviz.app.widgets import unit_series
from rnnviz.display import token_display
from rnnviz.figures.lecture import cell_diagram, concatenated_reading, reading_prediction_curve
from rnnviz.models.architectures import TextClassifier

PLAY_TICK = "play_tick"  # when play last moved on
SLIDER = "lecture_step"
READING = "lecture_reading"  # the (model, text, direction) whose reading the lecture last started

# Readable from the back of a hall: large type, black on white, in the lecture's own container.
# A written update is a few short aligned lines; should one still be wider than its column, it
# shrinks to fit rather than scrolling its result out of sight.
LECTURE_CSS = """
<style>
.st-key-lecture p, .st-key-lecture li, .st-key-lecture label { font-size: 1.3rem !important; color: #000; }
.st-key-lecture .katex { font-size: 1.15em !important; }
.st-key-lecture .katex-display { margin: 0.2em 0 1rem 0 !important; padding: 0 0.3em; }
.rnnviz-reading { font-size: 1.9rem; line-height: 1.45; margin: 0; }
.rnnviz-reading small { font-size: 1.1rem; color: #555; margin-right: 0.6rem; }
.rnnviz-reading .current { background: #ffe08a; border-bottom: 4px solid #000; font-weight: 700; padding: 0 0.1em; }
.rnnviz-reading .unread { color: #c4c4c4; }
.rnnviz-reading .elided { color: #888; }
[data-testid="stElementContainer"]:has(.rnnviz-lecture-style) { display: none; }
</style>
<span class="rnnviz-lecture-style"></span>
"""
# The presenter screen (widgets.PRESENTER_CSS hides the page's own parts): the stage a little tighter.
PRESENTER_CSS = """
<style>
.st-key-lecture [data-testid="stVerticalBlock"] { gap: 0.5rem; }
</style>
<span class="rnnviz-lecture-style"></span>
"""
PLAY_SECONDS = 1.2
# A reading line is at most this many characters (about two lines beside the sidebar, one on the
# presenter screen at 1280 px): a long text shows the part around the current token. Keyed by
# (characters, presenting): a character model's line has no spaces to break at, so it stays one line.
READING_CHARACTERS = {(False, False): 150, (False, True): 70, (True, False): 45, (True, True): 60}


def reading_window(tokens: list[str], step: int, characters: bool, limit: int) -> range:
    """The positions of the tokens shown around `step`: as many as fit in `limit` characters."""
    width = [len(token) + (0 if characters else 1) for token in tokens]
    low, high, used = step, step + 1, width[step]
    while True:
        grown = False
        for side in (1, -1):  # grow towards the unread text first, then back
            if side == 1 and high < len(tokens) and used + width[high] <= limit:
                used, high, grown = used + width[high], high + 1, True
            if side == -1 and low > 0 and used + width[low - 1] <= limit:
                used, low, grown = used + width[low - 1], low - 1, True
        if not grown:
            return range(low, high)


def reading_line_html(
    tokens: list[str], step: int, direction: str, characters: bool, limit: int = 10**9
) -> str:
    """The text revealed up to the current token in the direction the layer reads, the token marked;
    a text longer than `limit` characters is shown around the current token, the rest elided."""
    order = reading_order(len(tokens), direction)
    read = set(order[: order.index(step) + 1])
    window = reading_window(tokens, step, characters, limit)
    parts = ['<span class="elided">…</span>'] if window.start > 0 else []
    for position in window:
        token = tokens[position]
        shown = html.escape(token.replace(" ", "\u2423") if characters and token == " " else token)
        shown = shown.replace("\n", "↵")
        kind = "current" if position == step else ("read" if position in read else "unread")
        parts.append(
            f'<span class="{kind}">{shown if kind != "unread" else "·" * max(1, min(len(token), 3))}</span>'
        )
    if window.stop < len(tokens):
        parts.append('<span class="elided">…</span>')
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


def start_of_reading(state: ViewState, order: list[int], both: bool = False) -> None:
    """A new reading (model, text or direction) opens at its first token in reading order — the last
    token of the text for a backward layer — unless the link that opened the page names a token."""
    reading = (state.model, state.text, "both" if both else state.direction)
    before = st.session_state.get(READING)
    if before == reading:
        return
    st.session_state[READING] = reading
    if before is None and st.session_state.get(LINKED_STEP):
        return  # the page was opened on this token
    _step_to(order[0])


def render(inputs: ViewInputs) -> None:
    """The lecture of `inputs.run`; its model also gives the prediction on what a backward layer has
    read (the bundled format only)."""
    run, state, model = inputs.run, inputs.state, inputs.model
    st.markdown(LECTURE_CSS, unsafe_allow_html=True)
    if state.present:
        st.markdown(widgets.PRESENTER_CSS + PRESENTER_CSS, unsafe_allow_html=True)
    playing = bool(st.session_state.get(PLAYING, False))
    both = bool(state.both) and run.recurrent_call.bidirectional
    # both directions read together, one token each per step; the step is the forward one's token
    direction = "forward" if both else state.direction
    start_of_reading(state, reading_order(len(run.tokens), direction), both)

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def stage() -> None:
        if st.session_state.pop(RERUN_PAGE, False):
            st.rerun(scope="app")
        order = reading_order(len(run.tokens), direction)
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
            if both:
                both_directions_stage(run, state, step, order, playing)
            else:
                lecture_stage(run, state, step, order, playing, model)

    stage()


def controls(run: TextRun, step: int, order: list[int], playing: bool, both: bool = False) -> None:
    """◀ ▶, play / pause, the slider (it fills in reading order), for a bidirectional layer the
    choice of both directions side by side, and the presenter toggle."""
    bidirectional = run.recurrent_call.bidirectional
    widths = [0.7, 0.7, 1.2, 3.4, 1.5, 1.9] if bidirectional else [0.8, 0.8, 1.2, 5, 1.9]
    back, forward, play, slider, *both_column, present = st.columns(
        widths, vertical_alignment="center"
    )
    if bidirectional:
        both_column[0].toggle(
            "both",
            key="both",
            on_change=lambda: st.session_state.update({RERUN_PAGE: True}),
            help="Forward and backward side by side, each from its own first token, and the "
            "concatenated h the next layer reads.",
        )
    last = len(run.tokens) - 1
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
    if (
        len(order) > 1
    ):  # its options in reading order: a backward reading fills it from the left too
        slider.select_slider(
            "token",
            options=order,
            key=SLIDER,
            label_visibility="collapsed",
            on_change=lambda: choose_step(st.session_state[SLIDER]),
            format_func=(
                (
                    lambda t: (
                        f"→ {token_display(run.tokens[t])} ← {token_display(run.tokens[last - t])}"
                    )
                )
                if both
                else (lambda t: f"{token_display(run.tokens[t])} ·{t}")
            ),
        )
    present.toggle(
        "presenter",
        key="present",
        on_change=lambda: st.session_state.update({RERUN_PAGE: True}),
        help="One screen for a projector: no title, sentence box or tabs; ← → step.",
    )


def lecture_stage(
    run: TextRun, state: ViewState, step: int, order: list[int], playing: bool, model=None
) -> None:
    """Reading line, controls, the cell with the unit's values, the update in numbers, the prediction."""
    recorded = run.recurrent_call
    characters = run.task == "language_model"
    presenting = bool(state.present)
    st.markdown(
        reading_line_html(
            run.tokens,
            step,
            state.direction,
            characters,
            READING_CHARACTERS[characters, presenting],
        ),
        unsafe_allow_html=True,
    )
    controls(run, step, order, playing)
    series = unit_series(run, state, state.unit)
    moment = lecture.unit_step(series, step, state.unit, state.direction)
    hidden = run.states(state.layer, state.direction, "hidden")
    values = {
        q: (
            float(np.nanmean(run.states(state.layer, state.direction, q)[step])),
            float(series[q][step]),
        )
        for q in recorded.quantities
    }
    values["previous"] = (
        (0.0, 0.0)
        if moment.from_initial
        else (float(np.nanmean(hidden[moment.previous_step])), moment.previous_hidden)
    )
    token = token_display(run.tokens[step])
    label = f"token {step} '{token}' — unit {state.unit}, layer {state.layer} {state.direction}"
    # 20 px on the presenter screen (sidebar closed, a wide column); smaller beside the sidebar
    font = 20 if presenting else 14
    diagram_column, numbers_column = st.columns([1.1, 1])
    with diagram_column:
        st.plotly_chart(
            cell_diagram(
                recorded.cell_kind,
                values,
                label,
                font_size=font,
                direction=state.direction,
                height=330 if presenting else 300,
                notation=state.notation,
                token=run.tokens[step],
            ),
            key="cell-diagram",
            theme=None,
        )
        prediction_bars(run, state, step, order, model, font)
    with numbers_column:
        for line in lecture.written_update(recorded.cell_kind, moment, state.notation):
            st.latex(line)
        st.markdown("  \n".join(lecture.gate_sentences(recorded.cell_kind, moment, state.notation)))
        prediction_curve(run, state, step, order, model, font)
    if not presenting:
        if state.direction == "backward" and run.task != "language_model":
            st.caption(backward_prediction_note(model))
        st.caption(unit_choice_note(run, state))
        with st.expander("the equations of the cell"):
            for equation in lecture.equations(recorded.cell_kind, state.notation):
                st.latex(equation)


def both_directions_stage(
    run: TextRun, state: ViewState, step: int, order: list[int], playing: bool
) -> None:
    """A bidirectional layer read both ways at once: at step k the forward direction reads token k
    and the backward one token T − 1 − k, each from its own first token; below, what the next layer
    (or the head) reads: [h→_t ; h←_t], complete once both have passed t."""
    recorded = run.recurrent_call
    characters = run.task == "language_model"
    presenting = bool(state.present)
    last = len(run.tokens) - 1
    readings = (("forward", step), ("backward", last - step))
    for direction, token in readings:
        st.markdown(
            reading_line_html(
                run.tokens, token, direction, characters, READING_CHARACTERS[characters, presenting]
            ),
            unsafe_allow_html=True,
        )
    controls(run, step, order, playing, both=True)
    for column, (direction, token) in zip(st.columns(2), readings):
        series = {
            q: run.states(state.layer, direction, q)[:, state.unit] for q in recorded.quantities
        }
        moment = lecture.unit_step(series, token, state.unit, direction)
        with column:
            arrow = "→" if direction == "forward" else "←"
            st.markdown(
                f"**{arrow} {direction}** at token {token} '{token_display(run.tokens[token])}'"
            )
            for line in lecture.written_update(recorded.cell_kind, moment, state.notation):
                st.latex(line)
            if not presenting:
                st.markdown(
                    "  \n".join(lecture.gate_sentences(recorded.cell_kind, moment, state.notation))
                )
    final = state.layer == recorded.num_layers - 1
    reader = "both read" if final else f"layer {state.layer + 1} reads"
    st.plotly_chart(
        concatenated_reading(
            run.states(state.layer, "forward", "hidden")[:, state.unit],
            run.states(state.layer, "backward", "hidden")[:, state.unit],
            step + 1,
            last - step,
            figures.token_labels(run.tokens, run.encoding.unknown),
            state.unit,
            reader,
            font_size=20 if presenting else 16,
            # the presenter screen's column spans the screen, the sidebar closed
            figure_px=1180 if presenting else figures.ASSUMED_FIGURE_PX,
            smallest_font=20 if presenting else 11,  # a presenter screen's text stays 20 px
            row_px=22 if presenting else 30,  # the presenter screen fits 720 px
        ),
        key="concatenated-reading",
        theme=None,
    )
    if final:
        note = (
            "The head reads h→ at the last token and h← at the first: both exist only once both "
            "directions have read the whole text."
        )
    else:
        note = (
            f"Layer {state.layer + 1} reads [h→_t ; h←_t] ({2 * recorded.hidden_size} numbers) at every "
            "token t: a token's input is complete only once both directions have passed it."
        )
    st.caption(note)


def reads_suffixes(run: TextRun, state: ViewState, model) -> bool:
    """A backward lecture of a bundled classifier shows the model on the part of the text it has read."""
    return (
        state.direction == "backward"
        and run.task == "classifier"
        and isinstance(getattr(model, "module", None), TextClassifier)
    )


def lecture_predictions(run: TextRun, state: ViewState, model) -> np.ndarray:
    """[T, C]: row t is the prediction a reader at token t is shown: on the prefix up to t (the page's
    per-token prediction), or, backward, on the suffix from t to the end, which is what it has read."""
    if reads_suffixes(run, state, model):
        return _suffix_predictions(
            model, (model.name, id(model.module), run.text), run.encoding.ids
        )
    return run.predictions


@st.cache_data(max_entries=32, show_spinner=False)
def _suffix_predictions(_model, key: tuple, ids: list[int]) -> np.ndarray:
    return lecture.class_probabilities_per_suffix(_model.module, list(ids))


def prediction_title(run: TextRun, state: ViewState, step: int, model) -> str:
    token = token_display(run.tokens[step])
    if run.task == "language_model":
        return f"next character after '{token}'"
    if reads_suffixes(run, state, model):
        return f"prediction on '{token}' … the end (read so far)"
    if state.direction == "backward":  # no suffix run for this model: say what the bars are
        return f"prediction on the start … '{token}'"
    return f"prediction after '{token}'"


def backward_prediction_note(model) -> str:
    if isinstance(getattr(model, "module", None), TextClassifier):
        return (
            "A backward layer at token t has read from t to the end: the prediction shown is the whole "
            "model run on that part of the text. The per-token prediction of Heatmaps is the model "
            "run on the start up to t."
        )
    return (
        "A backward layer at token t has read from t to the end; the prediction shown is the model run "
        "on the start up to t (this model is not in the bundled format, so no other run is made)."
    )


def prediction_bars(
    run: TextRun, state: ViewState, step: int, order: list[int], model, font: int
) -> None:
    """The prediction beside the reading: every class in its own fixed order (a language model: the
    likeliest next characters, likeliest first)."""
    if run.predictions is None:
        return
    if run.task == "language_model":
        outcomes = run.top_outcomes(step, 4)
    else:
        row = lecture_predictions(run, state, model)[step]
        outcomes = [(label, float(p)) for label, p in zip(run.prediction_labels, row)]
    st.plotly_chart(
        figures.step_prediction_figure(
            outcomes,
            prediction_title(run, state, step, model),
            font_size=20,
            height=52 + 34 * len(outcomes),
            by_class=run.task != "language_model",  # the colours of the curve's lines
        ),
        key="step-prediction",
        theme=None,
    )


def prediction_curve(
    run: TextRun, state: ViewState, step: int, order: list[int], model, font: int
) -> None:
    """A classifier's prediction after every token read so far, one line per class."""
    if run.predictions is None or run.task == "language_model" or len(order) < 2:
        return
    probabilities = lecture_predictions(run, state, model)
    st.plotly_chart(
        reading_prediction_curve(
            probabilities,
            order,
            order.index(step) + 1,
            figures.token_labels(run.tokens, run.encoding.unknown),
            list(run.prediction_labels),
            "as the text is read",
            font_size=20,
            height=230,
        ),
        key="reading-prediction",
        theme=None,
    )


def unit_choice_note(run: TextRun, state: ViewState) -> str:
    if unit_is_automatic():
        quantity = "cell state c" if "cell" in run.recurrent_call.quantities else "hidden state h"
        # the page picks the unit on the trained weights' run, under fresh weights too (page.py)
        weights = (
            " under the trained weights (kept here to compare)"
            if state.weights == "untrained"
            else ""
        )
        return (
            f"Unit {state.unit} is shown because its {quantity} varies most over this text{weights} "
            "(largest variance); pick another in the sidebar or click a heatmap cell."
        )
    return f"Unit {state.unit}, as chosen."
