"""rnnviz in the browser: type a sentence, see every gate of an LSTM, GRU or RNN, token by token.

Layout and widgets only: capture, predictions and figures live in the rest of the package.
Every choice lives in the URL, so a link reopens the exact view. `streamlit run app.py` in a
checkout (app.py calls `main`) and `rnnviz app` (which runs this file, so it works from an
installed wheel too) both open it.
"""

from __future__ import annotations

import gc
import html
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import rnnviz
from rnnviz import export, figures, lesson
from rnnviz.capture import cell_kind
from rnnviz.custom import CustomModel, first_recurrent, load_entry_point
from rnnviz.errors import ModelError, RnnvizError
from rnnviz.inspection import MAX_TEXT_CHARACTERS, TextRun, inspect_text
from rnnviz.models import bundled_names, read_config, resolve
from rnnviz.ordering import ORDERINGS, busiest_unit, shown_units, unit_order
from rnnviz.presets import presets_for
from rnnviz.ui import corpus_view, gradients_view, lab_view
from rnnviz.trace import QUANTITIES_BY_CELL
from rnnviz.uploads import MAX_WEIGHTS_BYTES, load_upload
from rnnviz.view_state import ALIGNMENTS, VIEWS, ModelShape, ViewState, clamp, parse_query

VIEW_TITLES = {  # short enough for one row of tabs beside the sidebar at a projector's 1280 px
    "heatmaps": "Heatmaps",
    "inspector": "Unit inspector",
    "compare": "Compare",
    "trajectory": "Trajectory",
    "lecture": "Lecture",
    "gradients": "Gradients",
    "lab": "Lab",
    "corpus": "Corpus",
    "export": "Export",
}
# Beyond this many cells per heatmap the click layer (one hover point per cell, with its token and
# unit as strings, in every panel) makes the chart's data megabytes (400 characters × 64 units ×
# 6 panels: 150k points), so long texts are clicked in the inspector's heatmap or with fewer units.
CLICKABLE_CELLS = 6000

# One intra-op thread: the work per request is small (batch 1), and sessions run in parallel
# threads; OpenMP workers spinning against each other on a few cores cost far more.
torch.set_num_threads(1)


@st.cache_resource
def freeze_startup_heap() -> None:
    """Once per server process: move the objects that live as long as it (torch, plotly, streamlit and
    this package, ~220k of them) out of the garbage collector's reach.

    Streamlit runs a full `gc.collect()` after every script run (`runner.postScriptGC`), holding the
    GIL; over this heap it took ~130 ms idle and ~200 ms under a page load, during which the server
    sent nothing, so the page's last messages (and its charts) waited. Frozen, that pass visits only
    what the runs made since, and still frees their garbage.
    """
    gc.collect()  # nothing that is already garbage gets frozen
    gc.freeze()


def cli_model_folders() -> list[str]:
    """Model folders or entry points given as `rnnviz app --model …` (streamlit passes them after `--`)."""
    args = sys.argv[1:]
    return [value for flag, value in zip(args, args[1:]) if flag == "--model"]


@dataclass(frozen=True)
class Offer:
    """What the page needs to offer a model: a one-line description, its task and its bounds."""

    description: str
    task: str
    shape: ModelShape


def offer(model: rnnviz.LoadedModel | CustomModel | rnnviz.ModelConfig) -> Offer:
    if isinstance(model, CustomModel):
        recurrent = first_recurrent(model.module if model.recurrent_path is None
                                    else model.module.get_submodule(model.recurrent_path))
        quantities = QUANTITIES_BY_CELL[cell_kind(recurrent)]
        shape = ModelShape(recurrent.num_layers, recurrent.bidirectional, recurrent.hidden_size, quantities)
        return Offer(f"{model.description} — from a Python entry point", "custom", shape)
    config = model if isinstance(model, rnnviz.ModelConfig) else model.config
    quantities = QUANTITIES_BY_CELL["rnn_tanh" if config.cell == "rnn" else config.cell]
    shape = ModelShape(config.num_layers, config.bidirectional, config.hidden_size, quantities)
    return Offer(describe(config), config.task, shape)


@st.cache_resource
def server_models() -> dict[str, tuple[str, Offer]]:
    """name → (where to load it from, its offer): bundled models, `--model` folders and entry points."""
    # Configs only (cheap) for folders; an entry point has to be built to know its shape.
    offered = {name: (name, offer(read_config(resolve(name))[0])) for name in bundled_names()}
    for source in cli_model_folders():
        is_folder = Path(source).is_dir()
        model = read_config(source)[0] if is_folder else loaded_model(source)
        name = model.name
        offered[name if name not in offered else f"{name} ({source})"] = (source, offer(model))
    return offered


def session_uploads() -> dict[str, rnnviz.LoadedModel]:
    """Models this session uploaded: kept in its own session state, never visible to another."""
    return st.session_state.setdefault("uploads", {})


def model_catalogue() -> dict[str, Offer]:
    offered = {name: entry for name, (_, entry) in server_models().items()}
    offered.update({name: offer(model) for name, model in session_uploads().items()})
    return offered


@st.cache_resource
def loaded_model(source: str) -> rnnviz.LoadedModel | CustomModel:
    """Weights load once per server process and are shared, read-only, by every session."""
    if ":" in source and not Path(source).is_dir():
        return load_entry_point(source)
    return rnnviz.load(source)


@st.cache_resource(max_entries=256)
def text_run(source: str, text: str) -> TextRun:
    """A trace computed once per (model, text) and reused while only the view changes."""
    return inspect_text(loaded_model(source), text, truncate=True)


def model_for(name: str) -> rnnviz.LoadedModel | CustomModel:
    uploads = session_uploads()
    return uploads[name] if name in uploads else loaded_model(server_models()[name][0])


def run_for(name: str, text: str) -> TextRun:
    uploads = session_uploads()
    if name not in uploads:
        return text_run(server_models()[name][0], text)
    runs = st.session_state.setdefault("upload_runs", {})
    if (name, text) not in runs:
        if len(runs) >= 32:
            runs.clear()
        runs[(name, text)] = inspect_text(uploads[name], text, truncate=True)
    return runs[(name, text)]


def load_uploaded_model() -> None:
    """Button callback: validate and load the two uploaded files, then switch to the model."""
    config_file, weights_file = st.session_state.get("upload_config"), st.session_state.get("upload_weights")
    if config_file is None or weights_file is None:
        st.session_state["upload_message"] = "Choose both files: config.json and model.safetensors."
        return
    try:
        loaded = load_upload(config_file.getvalue(), weights_file.getvalue())
    except ModelError as error:
        st.session_state["upload_message"] = f"Could not load the model: {error}"
        return
    name = f"upload: {loaded.config.name}"
    session_uploads()[name] = loaded
    st.session_state.pop("upload_runs", None)
    st.session_state["upload_message"] = ""
    st.session_state["model"] = name
    reset_unit_choices()


def describe(config: rnnviz.ModelConfig) -> str:
    metrics = config.metrics
    if config.task == "classifier":
        shown = f"test accuracy {metrics['test_accuracy']:.3f}" if "test_accuracy" in metrics else "no metric"
    else:
        shown = (f"validation {metrics['val_loss_nats_per_char']:.3f} nats/char" if "val_loss_nats_per_char" in metrics
                 else "no metric")
    return f"{config.description} — {shown}"


def restore_state_once(catalogue) -> None:
    """On a session's first run, the URL's choices become the widgets' values."""
    if "restored" in st.session_state:
        return
    default_model = "sst2-lstm" if "sst2-lstm" in catalogue else next(iter(catalogue))
    shapes = {name: entry.shape for name, entry in catalogue.items()}
    state, notices = parse_query(dict(st.query_params), shapes, default_model)
    examples = presets_for(catalogue[state.model].task)
    if "text" not in st.query_params and examples and catalogue[state.model].task != "classifier":
        state = replace(state, text=examples[0].partition("  ⟷  ")[0])  # a text of the model's own kind
    for key, value in vars(state).items():
        st.session_state[key] = value
    st.session_state["present"] = bool(state.present)
    # Without a unit in the link, the page picks one that does something on the text (see auto_unit).
    st.session_state["unit_auto"] = "unit" not in st.query_params
    st.session_state["notices"] = notices
    st.session_state["restored"] = True


def current_state(catalogue, write_back: bool = False) -> ViewState:
    """The page's choices, brought within the model's bounds.

    `write_back` (only before any widget is drawn) stores them in the session: that also
    keeps the values of widgets a view does not draw (Streamlit forgets those otherwise),
    so switching views never loses a choice.
    """
    shapes = {name: entry.shape for name, entry in catalogue.items()}
    values = {k: st.session_state[k] for k in vars(ViewState()) if k in st.session_state}
    if values.get("view") is None:  # the segmented control was clicked off
        values["view"] = "heatmaps"
    values["present"] = int(bool(values.get("present", 0)))
    state, _ = clamp(ViewState(**values), shapes)
    state = replace(state, units_shown=min(state.units_shown, shapes[state.model].hidden_size))
    if write_back:
        for key, value in vars(state).items():
            st.session_state[key] = bool(value) if key == "present" else value
    return state


def apply_preset() -> None:
    choice = st.session_state.get("preset")
    if choice:
        first, _, second = choice.partition("  ⟷  ")
        st.session_state["text"] = first
        if second:
            st.session_state["text2"] = second


def reset_unit_choices() -> None:
    """A new model has other layers and units: start its view at the first ones (the unit chosen
    again for the text), and give it a text of its own kind (a sentence, or a passage of Shakespeare)."""
    st.session_state["layer"] = 0
    st.session_state["direction"] = "forward"
    st.session_state["unit"] = 0
    st.session_state["unit_auto"] = True
    st.session_state["step"] = 0
    st.session_state["quantity"] = "hidden"
    st.session_state["preset"] = ""
    catalogue = model_catalogue()
    task = catalogue[st.session_state["model"]].task if st.session_state.get("model") in catalogue else None
    if task != st.session_state.get("text_task"):
        examples = presets_for(task) if task else []
        if examples:
            first, _, second = examples[0].partition("  ⟷  ")
            st.session_state["text"] = first
            st.session_state["text2"] = second or first
    st.session_state["text_task"] = task


def unit_chosen_by_hand() -> None:
    st.session_state["unit_auto"] = False


def auto_unit(run: TextRun, state: ViewState) -> int:
    """The unit the page shows until one is chosen: the one whose cell state (LSTM) or hidden state
    varies most over this text in the chosen layer and direction."""
    quantity = "cell" if "cell" in run.recorded.quantities else "hidden"
    return busiest_unit(run.states(state.layer, state.direction, quantity))


def unit_choice_note(run: TextRun, state: ViewState) -> str:
    if st.session_state.get("unit_auto", False):
        quantity = "cell state c" if "cell" in run.recorded.quantities else "hidden state h"
        return (f"Unit {state.unit} is shown because its {quantity} varies most over this text "
                "(largest variance); pick another in the sidebar or click a heatmap cell.")
    return f"Unit {state.unit}, as chosen."


def sidebar(catalogue) -> None:
    with st.sidebar:
        st.header("Model")
        names = list(catalogue)
        st.selectbox("model", names, key="model", on_change=reset_unit_choices,
                     format_func=lambda n: n, help="Every bundled model; see the description below.")
        entry = catalogue[st.session_state["model"]]
        shape = entry.shape
        st.caption(entry.description)
        st.selectbox("presets", [""] + presets_for(entry.task), key="preset", on_change=apply_preset,
                     format_func=lambda p: p.replace("\n", " ↵ ") or "— pick an example —")
        with st.expander("Your own model"):
            st.caption(f"Upload config.json and model.safetensors in the format of the bundled models "
                       f"(pretrained/*/, see README); weights up to {MAX_WEIGHTS_BYTES // 2**20} MB. "
                       "Your model is visible only in this browser session, and nothing is unpickled.")
            st.file_uploader("config.json", type=["json"], key="upload_config")
            st.file_uploader("model.safetensors", type=["safetensors"], key="upload_weights")
            st.button("Load my model", on_click=load_uploaded_model, key="upload_load")
            if st.session_state.get("upload_message"):
                st.error(st.session_state["upload_message"])
        st.header("What to show")
        st.selectbox("layer", list(range(shape.num_layers)), key="layer",
                     format_func=lambda k: f"layer {k}")
        st.radio("direction", ["forward", "backward"][: 2 if shape.bidirectional else 1], key="direction",
                 horizontal=True)
        st.selectbox("order units by", list(ORDERINGS), key="order",
                     help="The same order is used in every heatmap. 'similarity' ranks by correlation with the selected unit.")
        st.number_input("unit", min_value=0, max_value=shape.hidden_size - 1, key="unit", on_change=unit_chosen_by_hand,
                        help="The unit shown in the inspector and the lecture; clicking a heatmap cell sets it. "
                             "Until you choose one, the unit that varies most over the text.")
        st.number_input("units shown", min_value=1, max_value=max(shape.hidden_size, 1), step=8, key="units_shown",
                        help="The first units in the chosen order; order by variance to see the busiest ones.")


def chosen_units(run: TextRun, state: ViewState) -> np.ndarray:
    """Rows of every heatmap: the chosen order over the hidden state, cut to 'units shown'."""
    order = unit_order(run.states(state.layer, state.direction, "hidden"), state.order, state.unit)
    return shown_units(order, state.units_shown, state.unit)


def heatmap_figures(run: TextRun, state: ViewState, font_size: int = 12):
    """One heatmap per quantity of the chosen layer and direction, all in one unit order, for export:
    without the click layer, which only Streamlit reads (a standalone HTML file hovers the heatmap)."""
    record = run.recorded
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    order = chosen_units(run, state)
    built = []
    for quantity in record.quantities:
        values = run.states(state.layer, state.direction, quantity)
        figure = figures.quantity_heatmap(values, labels, quantity, record.cell, order,
                                          selected=(state.step, state.unit), clickable=False, font_size=font_size)
        built.append((quantity, values, figure))
    return labels, order, built


def clickable_heatmap(figure, key: str, labels: list[str], theme: str | None = "streamlit") -> None:
    """A heatmap whose clicked cell (its point carries token index and unit) becomes the selected step and unit."""

    def on_select() -> None:
        points = st.session_state[key].get("selection", {}).get("points", [])
        cell = next((c for c in map(figures.clicked_cell, points) if c is not None), None)
        if cell is not None:
            st.session_state["step"], st.session_state["unit"] = cell
            st.session_state["unit_auto"] = False

    st.plotly_chart(figure, key=key, on_select=on_select, selection_mode="points", theme=theme)


def next_tokens_in_grid(run: TextRun) -> bool:
    """A language model's top-k table joins the heatmap grid where every panel shares the token axis."""
    return (run.task == "language_model" and run.per_step is not None
            and figures.shares_token_axis(len(run.tokens), len(run.recorded.quantities)))


def prediction_panel(loaded: rnnviz.LoadedModel | CustomModel, run: TextRun, font_size: int = 12) -> None:
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    if run.per_step is None:
        st.caption(f"{run.model} gives no per-step predictions (its entry point has no per_step); its states follow.")
    elif run.task in ("classifier", "custom"):
        st.plotly_chart(figures.class_probability_figure(run.per_step, labels, list(run.outcomes), font_size),
                        key="prediction", theme=None)  # its own plain look (figures.PlainFigure)
        label, p = run.top_outcomes(len(run.tokens) - 1, 1)[0]
        st.markdown(f"**Prediction:** {label} ({p:.1%})")
        if run.recorded.bidirectional:
            st.caption("A bidirectional model's prediction after token t is the whole model run on the first t + 1 "
                       "tokens: its backward direction reads that prefix from its last token back to the first.")
    else:
        if next_tokens_in_grid(run):
            st.caption("The top-5 next characters after each position are the first row of the heatmaps below, "
                       "on their token axis.")
        else:
            st.plotly_chart(figures.next_token_figure(run.per_step, labels, list(run.outcomes), 5, font_size),
                            key="prediction", theme=None)  # its own plain look (figures.PlainFigure)
        left, right, go_col = st.columns([2, 2, 1])
        length = left.slider("characters to sample", 20, 400, 120, step=20, key="sample_length")
        temperature = right.slider("temperature", 0.1, 2.0, 0.8, step=0.1, key="temperature")
        if go_col.button("Sample", key="sample"):
            from rnnviz.predict import sample_continuation

            continuation = sample_continuation(loaded, run.text, length, temperature, seed=0)
            st.code(run.text + continuation, language=None)


def shown_units_note(run: TextRun, state: ViewState, order: np.ndarray) -> str:
    """Which units the heatmaps show, and why the selected one may stand in the last row."""
    total = run.recorded.hidden_size
    note = f"showing {len(order)} of {total} units ordered by {state.order}"
    if len(order) and int(order[-1]) == state.unit and len(order) == state.units_shown < total:
        first = unit_order(run.states(state.layer, state.direction, "hidden"), state.order, state.unit)
        if state.unit not in first[: len(order)]:
            return note + f" (the first {len(order) - 1}, then the selected unit {state.unit} in the last row)."
    return note + "."


def view_heatmaps(run: TextRun, state: ViewState) -> None:
    record = run.recorded
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    order = chosen_units(run, state)
    clickable = len(labels) * len(order) <= CLICKABLE_CELLS
    st.caption(f"layer {state.layer}, {state.direction}; {shown_units_note(run, state, order)} "
               "Click a cell to inspect that unit at that token."
               + ("" if clickable else
                  " Long text: to click cells, show fewer units or use the Unit inspector's heatmap."))
    # One chart with a panel per quantity, in the lecture's reading order: side by side on one pair of
    # axes for short sentences; stacked on subplots for longer texts (sharing one token axis past 40).
    next_tokens = figures.NextTokens(run.per_step, list(run.outcomes)) if next_tokens_in_grid(run) else None
    grid = figures.quantity_grid({q: run.states(state.layer, state.direction, q) for q in record.quantities},
                                 labels, record.cell, order, selected=(state.step, state.unit), clickable=clickable,
                                 next_tokens=next_tokens)
    clickable_heatmap(grid, "heatmaps", labels, theme=None)  # its own plain look (figures.PlainFigure)
    token = figures.token_text(labels[state.step])
    st.button(f"Inspect unit {state.unit} at '{token}' (token {state.step})", key="open_inspector",
              icon=":material/search:", on_click=lambda: st.session_state.update(view="inspector"))


def unit_series(run: TextRun, state: ViewState, unit: int) -> dict[str, np.ndarray]:
    return {q: run.states(state.layer, state.direction, q)[:, unit] for q in run.recorded.quantities}


def view_inspector(run: TextRun, state: ViewState) -> None:
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    record = run.recorded
    step = min(state.step, len(labels) - 1)
    st.subheader(f"Unit {state.unit} — layer {state.layer}, {state.direction}, at token {labels[step]}")
    series = unit_series(run, state, state.unit)
    st.plotly_chart(figures.unit_timeline(series, labels, state.unit, step), key="timeline")
    colour_by = st.radio("colour the text by", list(series), index=list(series).index("hidden"), horizontal=True,
                         format_func=lambda q: figures.LABELS.get(q, q), key="colour_by")
    scale = figures.colour_scale(colour_by, series[colour_by], record.cell)
    st.markdown(figures.coloured_tokens_html(run.tokens, series[colour_by], scale), unsafe_allow_html=True)
    st.markdown("**The update at this step, with the recorded numbers**")
    moment = lesson.unit_step(series, step, state.unit)
    for line in lesson.written_update(record.cell, moment):
        st.latex(line)
    order = chosen_units(run, state)
    hidden = run.states(state.layer, state.direction, "hidden")
    clickable_heatmap(
        figures.quantity_heatmap(hidden, labels, "hidden", record.cell, order, (step, state.unit), clickable=True),
        "inspector-heatmap", labels)


def view_compare(name: str, run: TextRun, state: ViewState) -> None:
    st.text_input("second sentence", key="text2")
    try:
        other = run_for(name, st.session_state["text2"])
    except RnnvizError as error:
        st.info(f"Second sentence: {error}")
        return
    first_labels = figures.token_labels(run.tokens, run.encoding.unknown)
    second_labels = figures.token_labels(other.tokens, other.encoding.unknown)
    if run.per_step is not None and other.per_step is not None and run.task != "language_model":
        class_index = int(run.per_step[-1].argmax())
        st.plotly_chart(figures.comparison_figure(
            [("first: " + run.text, run.per_step[:, class_index], first_labels),
             ("second: " + other.text, other.per_step[:, class_index], second_labels)],
            run.outcomes[class_index]), key="compare-curves")
    elif run.task == "language_model" and len(run.tokens) > 1 and len(other.tokens) > 1:
        curves = [(name, actual_next_probability(r), labels[:-1]) for name, r, labels in
                  (("first", run, first_labels), ("second", other, second_labels))]
        st.plotly_chart(figures.comparison_figure(curves, "the character that actually follows"), key="compare-curves")
        st.caption("After each character, the probability the model gave to the character that actually comes next: "
                   "high where the text is what the model expects.")
    quantities = list(run.recorded.quantities)
    left, right = st.columns(2)
    left.selectbox("quantity", quantities, key="quantity", format_func=lambda q: figures.LABELS.get(q, q))
    right.radio("align positions at the", list(ALIGNMENTS), key="align", horizontal=True)
    quantity = st.session_state["quantity"]
    first = run.states(state.layer, state.direction, quantity)
    second = other.states(state.layer, state.direction, quantity)
    order = chosen_units(run, state)
    st.plotly_chart(figures.difference_heatmap(first, second, first_labels, second_labels, quantity,
                                               st.session_state["align"], order), key="compare-difference")


def actual_next_probability(run: TextRun) -> np.ndarray:
    """P(token t+1 | tokens ≤ t) for every position but the last: how well a language model foresaw the text."""
    following = np.asarray(run.encoding.ids[1:])
    return run.per_step[np.arange(len(following)), following]


def view_trajectory(name: str, run: TextRun, state: ViewState) -> None:
    fit_on = st.radio("fit the projection on", ["this sentence", "this sentence and the second one"], horizontal=True,
                      key="pca_fit")
    if fit_on != "this sentence":
        st.text_input("second sentence", key="text2")
    hidden = run.states(state.layer, state.direction, "hidden")
    paths = [("first", hidden, figures.token_labels(run.tokens))]
    if fit_on != "this sentence":
        try:
            other = run_for(name, st.session_state["text2"])
            paths.append(("second", other.states(state.layer, state.direction, "hidden"), figures.token_labels(other.tokens)))
        except RnnvizError as error:
            st.info(f"Second sentence: {error}")
    projection = figures.fit_pca(np.concatenate([p for _, p, _ in paths]))
    st.plotly_chart(figures.trajectory_figure([(n, projection.apply(p), l) for n, p, l in paths], projection),
                    key="trajectory")


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
[data-testid="stMainBlockContainer"] h1, [data-testid="stForm"], [data-testid="stButtonGroup"] { display: none !important; }
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
        parts.append(f'<span class="{kind}">{shown if kind != "unread" else "·" * max(1, min(len(token), 3))}</span>')
    arrow = "reading →" if direction == "forward" else "← reading backward"
    separator = "" if characters else " "
    return f'<div class="rnnviz-reading"><small>{arrow}</small>{separator.join(parts)}</div>'


def _step_to(step: int) -> None:
    st.session_state["step"] = step
    st.session_state["lecture_step"] = step


def _move(order: list[int], by: int) -> None:
    """◀ / ▶: one token back or on in reading order."""
    here = order.index(min(st.session_state.get("step", 0), len(order) - 1)) if order else 0
    _step_to(order[max(0, min(len(order) - 1, here + by))])


def _toggle_play(order: list[int]) -> None:
    playing = not st.session_state.get("playing", False)
    if playing and st.session_state.get("step") == order[-1]:
        _step_to(order[0])  # play from the start once the end was reached
    st.session_state["playing"] = playing
    st.session_state["play_tick"] = time.monotonic()
    st.session_state["lecture_rerun_page"] = True  # the timer is set by the whole page


def view_lecture(loaded, run: TextRun, state: ViewState) -> None:
    st.markdown(LECTURE_CSS, unsafe_allow_html=True)
    if st.session_state.get("present"):
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)
    playing = bool(st.session_state.get("playing", False))

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def stage() -> None:
        if st.session_state.pop("lecture_rerun_page", False):
            st.rerun(scope="app")
        order = reading_order(len(run.tokens), state.direction)
        step = min(st.session_state.get("step", 0), len(order) - 1)
        if playing:
            now = time.monotonic()
            if now - st.session_state.get("play_tick", 0.0) >= PLAY_SECONDS * 0.8:
                st.session_state["play_tick"] = now
                if step == order[-1]:  # the end: stop, and let the page drop the timer
                    st.session_state["playing"] = False
                    st.rerun(scope="app")
                step = order[order.index(step) + 1]
        _step_to(step)
        st.query_params["step"] = str(step)
        with st.container(key="lecture"):
            lecture_stage(loaded, run, state, step, order, playing)

    stage()


def lecture_stage(loaded, run: TextRun, state: ViewState, step: int, order: list[int], playing: bool) -> None:
    """Reading line, controls, the cell with the unit's values, the update in numbers, the prediction."""
    record = run.recorded
    characters = run.task == "language_model"
    st.markdown(reading_line_html(run.tokens, step, state.direction, characters), unsafe_allow_html=True)
    back, forward, play, slider, present = st.columns([0.8, 0.8, 1.2, 5, 1.9], vertical_alignment="center")
    here = order.index(step)
    back.button("", icon=":material/chevron_left:", key="step_back", on_click=_move, args=(order, -1),
                disabled=here == 0, shortcut="Left", use_container_width=True, help="one token back (← key)")
    forward.button("", icon=":material/chevron_right:", key="step_forward", on_click=_move, args=(order, 1),
                   disabled=here == len(order) - 1, shortcut="Right", use_container_width=True,
                   help="one token on (→ key)")
    play.button("pause" if playing else "play", icon=":material/pause:" if playing else ":material/play_arrow:",
                key="play", on_click=_toggle_play, args=(order,), use_container_width=True,
                type="primary" if playing else "secondary")
    if len(order) > 1:
        slider.slider("token", 0, len(order) - 1, key="lecture_step", label_visibility="collapsed",
                      on_change=lambda: st.session_state.update(step=st.session_state["lecture_step"]),
                      format="token %d")
    present.toggle("presenter", key="present", on_change=lambda: st.session_state.update(lecture_rerun_page=True),
                   help="One screen for a projector: no title, sentence box or tabs; ← → step.")
    series = unit_series(run, state, state.unit)
    moment = lesson.unit_step(series, step, state.unit, state.direction)
    diagram_column, numbers_column = st.columns([1.05, 1])
    values = {q: (float(np.nanmean(run.states(state.layer, state.direction, q)[step])), float(series[q][step]))
              for q in record.quantities}
    label = f"token {step} '{run.tokens[step]}' — unit {state.unit}, layer {state.layer} {state.direction}"
    # 20 px on the presenter screen (sidebar closed, a wide column); smaller beside the sidebar
    diagram_font = 20 if st.session_state.get("present") else 15
    diagram_column.plotly_chart(lesson.cell_diagram(record.cell, values, label, font_size=diagram_font,
                                                    direction=state.direction, height=360),
                                key="cell-diagram", theme=None)
    with numbers_column:
        for line in lesson.written_update(record.cell, moment):
            st.latex(line)
        st.markdown("  \n".join(lesson.gate_sentences(record.cell, moment)))
        step_prediction(run, step)
    st.caption(unit_choice_note(run, state))
    with st.expander("the equations of the cell"):
        for equation in lesson.EQUATIONS[record.cell]:
            st.latex(equation)


def step_prediction(run: TextRun, step: int) -> None:
    """The model's prediction after the current token: class probabilities or the likeliest next characters."""
    if run.per_step is None:
        return
    if run.task == "language_model":
        title = f"next character after '{run.tokens[step]}'"
        outcomes = run.top_outcomes(step, 4)
    else:
        title = f"prediction after '{run.tokens[step]}'"
        outcomes = run.top_outcomes(step, len(run.outcomes))[:4]
    st.plotly_chart(figures.step_prediction_figure(outcomes, title, font_size=20, height=60 + 38 * len(outcomes)),
                    key="step-prediction", theme=None)


def view_export(run: TextRun, state: ViewState) -> None:
    st.markdown("Every chart also has a camera button (top right of the chart) that saves a PNG in the browser, offline.")
    labels, order, built = heatmap_figures(run, state)
    every_unit = unit_order(run.states(state.layer, state.direction, "hidden"), state.order, state.unit)
    stem = f"{run.model}-layer{state.layer}-{state.direction}"
    st.caption(f"Figures show the {len(order)} units the heatmaps show; the CSV files hold all "
               f"{len(every_unit)} units of layer {state.layer} {state.direction}, ordered by {state.order}; "
               "the trace files hold every layer and direction.")
    st.download_button("trace (NPZ)", data=lambda: export.trace_npz(run), file_name=f"{run.model}-trace.npz",
                       mime="application/octet-stream", on_click="ignore", key="export-npz")
    st.download_button("trace (JSON)", data=lambda: export.trace_json_text(run), file_name=f"{run.model}-trace.json",
                       mime="application/json", on_click="ignore", key="export-json")
    for quantity, values, figure in built:
        left, right = st.columns(2)
        left.download_button(f"{figures.LABELS.get(quantity, quantity)} — figure (HTML)",
                             data=lambda figure=figure: export.figure_html(figure),
                             file_name=f"{stem}-{quantity}.html", mime="text/html", on_click="ignore",
                             key=f"export-html-{quantity}")
        right.download_button(f"{figures.LABELS.get(quantity, quantity)} — values of all {len(every_unit)} units (CSV)",
                              data=lambda values=values: export.heatmap_csv(values, run.tokens, every_unit),
                              file_name=f"{stem}-{quantity}.csv", mime="text/csv", on_click="ignore",
                              key=f"export-csv-{quantity}")


def bundled_format_only(name: str) -> bool:
    """Gradients and corpus analyses read the bundled format's embedding and head."""
    if isinstance(model_for(name), CustomModel):
        st.info("This view needs a model in the bundled format (embedding → rnn → head, see README); "
                "models from a Python entry point show heatmaps, inspector, compare, trajectory and lecture.")
        return False
    return True


def main() -> None:
    presenting = st.query_params.get("present") == "1" and st.query_params.get("view") == "lecture"
    st.set_page_config(page_title="rnnviz — inside recurrent networks", layout="wide",  # every run, first
                       initial_sidebar_state="collapsed" if presenting else "auto")
    freeze_startup_heap()
    catalogue = model_catalogue()
    if not catalogue:
        st.error("No bundled models found in pretrained/. Run `rnnviz train sst2-lstm` or restore the pretrained folder.")
        return
    restore_state_once(catalogue)
    for notice in st.session_state.pop("notices", []):
        st.warning(f"From the link: {notice}")
    state = current_state(catalogue, write_back=True)
    run, problem = None, None
    if state.text.strip():
        try:
            run = run_for(state.model, state.text)
        except RnnvizError as error:
            problem = str(error)
    if run is not None and st.session_state.get("unit_auto", False):
        st.session_state["unit"] = auto_unit(run, state)  # before the sidebar draws the unit box
    st.session_state.setdefault("text_task", catalogue[state.model].task)
    sidebar(catalogue)
    st.markdown('<span class="rnnviz-page-title"></span>', unsafe_allow_html=True)
    st.markdown(PAGE_CSS, unsafe_allow_html=True)
    st.title("rnnviz — inside a recurrent network")
    with st.form("sentence-form", border=False):
        left, right = st.columns([6, 1])
        left.text_input("sentence", key="text", max_chars=None, label_visibility="collapsed",
                        placeholder="type a sentence and press Enter",
                        help=f"Press Enter or Run. Texts beyond {MAX_TEXT_CHARACTERS} characters are cut.")
        right.form_submit_button("Run", use_container_width=True)
    st.segmented_control("view", list(VIEWS), key="view", format_func=VIEW_TITLES.get, label_visibility="collapsed")
    state = current_state(catalogue)
    name = state.model
    if not state.text.strip():
        st.info("Type a sentence above and press Enter — for example *the movie was not good*.")
        st.query_params.from_dict(state.to_query())
        return
    if run is None:
        st.warning(problem or "The text could not be read.")
        return
    if run.truncated:
        st.warning(f"The text is longer than {MAX_TEXT_CHARACTERS} characters; only the first {MAX_TEXT_CHARACTERS} are shown.")
    unknown = [t for t, u in zip(run.tokens, run.encoding.unknown) if u]
    if unknown:
        st.caption(f"Not in the model's vocabulary (read as ⟨unk⟩): {', '.join(unknown[:20])}")
    state = replace(state, step=min(state.step, len(run.tokens) - 1))
    views = {
        "heatmaps": lambda: (prediction_panel(model_for(name), run), view_heatmaps(run, state)),
        "inspector": lambda: view_inspector(run, state),
        "compare": lambda: view_compare(name, run, state),
        "trajectory": lambda: view_trajectory(name, run, state),
        "lecture": lambda: view_lecture(model_for(name), run, state),
        "gradients": lambda: bundled_format_only(name) and gradients_view.render(
            model_for(name), run, state.layer, state.direction, loaded_model),
        "lab": lab_view.render,
        "corpus": lambda: bundled_format_only(name) and corpus_view.render(
            model_for(name), name, run, state.layer, state.direction),
        "export": lambda: view_export(run, state),
    }
    try:
        views[state.view]()
    except RnnvizError as error:
        st.warning(str(error))
    except Exception as error:  # noqa: BLE001 — a broken view must not take the page down
        st.error(f"This view failed: {type(error).__name__}: {error}. The other views still work.")
    final = current_state(catalogue)
    st.query_params.from_dict(replace(final, step=min(final.step, len(run.tokens) - 1)).to_query())


# A title on one line at a projector's 1280 px, and room at the end of the sentence box (Streamlit's
# "Press Enter to submit form" hint covered its last characters; the Run button says the same).
PAGE_CSS = """
<style>
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding-top: 0.2rem; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
[data-testid="InputInstructions"] { display: none; }
[data-testid="stElementContainer"]:has(.rnnviz-page-title) { display: none; }
</style>
"""


if __name__ == "__main__":  # `streamlit run rnnviz/webapp.py`, as `rnnviz app` does
    main()
