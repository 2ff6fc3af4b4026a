"""What if: an edit inside the recurrence — set or scale a gate, the cell state or the hidden state of
chosen units from a token on — and what it does to the prediction after every token and to every
later quantity. Each bundled model's lesson example (models/presets.py) zeroes the units that matter
most from one token on, and says what a rerun of that model gives."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from rnnviz import figures
from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.interventions import EditEffect, edit_effect
from rnnviz.app.state import EDIT_KINDS, EDIT_STEPS, EDIT_UNITS, ViewInputs, ViewState, choose_step
from rnnviz.app.widgets import ablation_ranking, chosen_units
from rnnviz.core.edits import Edit
from rnnviz.core.quantities import LABELS
from rnnviz.display import token_display
from rnnviz.errors import RnnvizError
from rnnviz.models.presets import WHATIF_EXAMPLES, WhatIfExample

UNIT_CHOICES = {
    "selected": "the selected unit",
    "list": "units I list",
    "top": "the top k by effect",
}
STEP_CHOICES = {"from": "from the selected token on", "at": "at the selected token only"}
# Beyond it an edit only shows float overflow: a state scaled by 1e308 is inf, a prediction nan.
MAX_EDIT_VALUE = 1e4
KIND_CHOICES = {"set": "set to", "scale": "multiply by"}


def example_wording(example: WhatIfExample, run: TextRun) -> str:
    """The lesson example's button, worded after what it edits and what the rerun gives."""
    recorded = run.recurrent_call
    where = (
        f" in layer {example.layer} {example.direction}"
        if recorded.num_layers > 1 or recorded.bidirectional
        else ""
    )
    before, after = token_display(example.before), token_display(example.after)
    outcome = (
        f"the prediction stays {before}"
        if example.before == example.after
        else f"the prediction turns from {before} to {after}"
    )
    if run.task == "language_model":
        outcome = f"the next character after the text turns from '{before}' to '{after}'"
    return (
        f"Lesson example: on '{example.text.replace(chr(10), ' ↵ ')}', set the {LABELS[example.quantity]} of "
        f"the {example.top} units that matter most to 0 from '{example.token}' on{where}: {outcome}"
    )


def _apply_example(example: WhatIfExample) -> None:
    st.session_state.update(
        text=example.text,
        step=example.step,
        layer=example.layer,
        direction=example.direction,
        edit_quantity=example.quantity,
        edit_units="top",
        edit_top=example.top,
        edit_steps="from",
        edit_kind="set",
        edit_value="0",
    )
    if example.text2:
        st.session_state["text2"] = example.text2
    choose_step(example.step)


def edited_units(model, run: TextRun, state: ViewState, name: str) -> tuple[list[int], str]:
    """The units the edit reaches, and how they were chosen, in words."""
    if state.edit_units == "selected":
        return [state.unit], f"unit {state.unit} (the selected one)"
    if state.edit_units == "list":
        try:
            units = sorted({int(part) for part in state.edit_unit_list.replace(",", " ").split()})
        except ValueError:
            raise RnnvizError(
                f"units to edit: '{state.edit_unit_list}' is not a list of whole numbers"
            ) from None
        hidden = run.recurrent_call.hidden_size
        if not units or not all(0 <= u < hidden for u in units):
            raise RnnvizError(
                f"units to edit: list units between 0 and {hidden - 1}, separated by commas"
            )
        return units, f"units {', '.join(map(str, units[:12]))}{' …' if len(units) > 12 else ''}"
    ranking = ablation_ranking(model, run, name, state.step, until_end=state.edit_steps == "from")
    units = [unit for unit, _ in ranking.top(state.edit_top)]
    return (
        units,
        f"the {len(units)} units whose ablation moves the prediction most ({ranking.measure})",
    )


def render(inputs: ViewInputs) -> None:
    model, run, state = inputs.model, inputs.recorded, inputs.state
    recorded = run.recurrent_call
    example = WHATIF_EXAMPLES.get(state.model)
    if (
        example is not None
    ):  # bundled models only: each example is checked against a rerun of its model
        st.button(
            example_wording(example, run),
            key="whatif_preset",
            on_click=_apply_example,
            args=(example,),
            icon=":material/school:",
        )
    if state.notation.textbook_update and recorded.cell_kind == "gru":
        st.caption(
            "Edits are made in PyTorch's convention: the update gate z edited here is the share of the old "
            "state kept (the textbook's 1 − z)."
        )
    first, second, third = st.columns([1.2, 1.2, 1])
    first.selectbox(
        "edit",
        list(recorded.quantities),
        key="edit_quantity",
        format_func=lambda q: LABELS.get(q, q),
    )
    first.radio("of", list(EDIT_UNITS), key="edit_units", format_func=UNIT_CHOICES.get)
    if state.edit_units == "list":
        first.text_input(
            "units (comma separated)", key="edit_unit_list", placeholder="e.g. 17, 40, 101"
        )
    elif state.edit_units == "top":
        first.number_input("k", min_value=1, max_value=recorded.hidden_size, key="edit_top")
    token = figures.token_text(figures.token_labels(run.tokens)[state.step])
    second.radio(
        f"at which tokens (selected: '{token}', token {state.step})",
        list(EDIT_STEPS),
        key="edit_steps",
        format_func=STEP_CHOICES.get,
    )
    second.caption(
        "Select another token by clicking a heatmap cell, or with the lecture's controls."
    )
    third.radio(
        "and", list(EDIT_KINDS), key="edit_kind", format_func=KIND_CHOICES.get, horizontal=True
    )
    third.text_input(
        "value", key="edit_value", help="0 ablates; 1 with 'set to' holds a gate open."
    )
    try:
        value = float(state.edit_value)
    except ValueError:
        st.warning(f"value: '{state.edit_value}' is not a number")
        return
    if not math.isfinite(value) or abs(value) > MAX_EDIT_VALUE:
        st.warning(
            f"value: {state.edit_value} is outside what an edit can show: give a number between "
            f"−{MAX_EDIT_VALUE:g} and {MAX_EDIT_VALUE:g} (gates lie in [0, 1], states in [−1, 1])"
        )
        return
    if run.prefixes is not None:
        st.info(
            "What if reruns the model on every prefix of this text, which is longer than this "
            f"server runs at once (predictions after the first {run.prefixes} tokens only, see the "
            "notice above): try a shorter text."
        )
        return
    name = recorded.name(state.layer, state.direction, state.edit_quantity)
    units, which = edited_units(model, run, state, name)
    steps = slice(state.step, None) if state.edit_steps == "from" else state.step
    edit = Edit(
        name,
        units=units,
        steps=steps,
        **({"value": value} if state.edit_kind == "set" else {"scale": value}),
    )
    effect = edit_effect(model, run, [edit])
    show_effect(run, state, effect, which)


def show_effect(run: TextRun, state: ViewState, effect: EditEffect, which: str) -> None:
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    action = f"{'set to' if state.edit_kind == 'set' else 'multiplied by'} {state.edit_value}"
    where = (
        f"from token {state.step} on" if state.edit_steps == "from" else f"at token {state.step}"
    )
    st.markdown(
        f"**The edit**: {LABELS.get(state.edit_quantity, state.edit_quantity)} of {which}, {action}, {where}, "
        f"in layer {state.layer} {state.direction}; later tokens and layers feel it."
    )
    if run.task == "language_model":
        followed = np.asarray(run.encoding.ids[1:])
        rows = np.arange(len(followed))
        curves = [
            ("as trained", effect.before[rows, followed], labels[:-1]),
            ("edited", effect.after[rows, followed], labels[:-1]),
        ]
        st.plotly_chart(
            figures.comparison_figure(curves, "the character that actually follows"),
            key="whatif-curves",
        )
    else:
        k = int(effect.before[-1].argmax())
        curves = [
            ("as trained", effect.before[:, k], labels),
            ("edited", effect.after[:, k], labels),
        ]
        st.plotly_chart(figures.comparison_figure(curves, effect.outcomes[k]), key="whatif-curves")
    before, after = token_display(effect.label_before), token_display(effect.label_after)
    p_before, p_after = float(effect.before[-1].max()), float(effect.after[-1].max())
    verdict = "**the prediction changes**" if before != after else "the prediction stays"
    st.markdown(
        f"After the last token: {before} ({p_before:.1%}) → {after} ({p_after:.1%}): {verdict}."
    )
    order = chosen_units(run, state)
    left, right = st.columns(2)
    shown = ("cell", "hidden") if run.recurrent_call.cell_kind == "lstm" else ("hidden",)
    for column, quantity in zip((left, right), shown):
        name = run.recurrent_call.name(state.layer, state.direction, quantity)
        original = run.states(state.layer, state.direction, quantity)
        column.plotly_chart(
            figures.difference_heatmap(
                original,
                original + effect.differences[name],
                labels,
                labels,
                quantity,
                "start",
                order,
                title=f"{LABELS[quantity]}: edited − as trained",
                plot_px=figures.ASSUMED_FIGURE_PX / 2 - 160,  # one of two columns, less its margins
            ),
            key=f"whatif-difference-{quantity}",
        )
