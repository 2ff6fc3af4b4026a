"""rnnviz in the browser: type a sentence, see every gate of an LSTM, GRU or RNN, token by token.

The page: the sidebar, the sentence box, the row of views. Each view lives in rnnviz/app/views/
(its __init__ lists them), the choices and the URL in state.py, the models in catalogue.py. `streamlit run app.py` in a
checkout and `rnnviz app` (which runs this file, so it works from an installed wheel too) open it.
"""

from __future__ import annotations

import gc
from dataclasses import replace

import streamlit as st
import torch

from rnnviz.analysis.inspection import MAX_TEXT_CHARACTERS, NotatedRun, TextRun
from rnnviz.analysis.ordering import ORDERINGS, busiest_unit
from rnnviz.app import budget, catalogue
from rnnviz.app.catalogue import load_uploaded_model
from rnnviz.app.state import (
    NOTICES,
    PRESET,
    RERUN_PAGE,
    UNIT_BOX,
    Offer,
    ViewInputs,
    ViewState,
    apply_preset,
    current_state,
    restore_from_url_once,
    start_model,
    unit_chosen_by_hand,
    unit_is_automatic,
    with_text_length,
    write_url,
)
from rnnviz.app.views import VIEWS, VIEWS_BY_NAME, unmet_notice
from rnnviz.core.exactness import EXACT_WITHIN
from rnnviz.core.quantities import DIRECTIONS
from rnnviz.display import readable_number
from rnnviz.errors import RnnvizError
from rnnviz.models.presets import presets_for
from rnnviz.models.uploads import MAX_WEIGHTS_BYTES

# A title on one line at a projector's 1280 px, and room at the end of the sentence box (Streamlit's
# "Press Enter to submit form" hint covered its last characters; the Run button says the same).
PAGE_CSS = """
<style>
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding-top: 0.2rem; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
[data-testid="stMainBlockContainer"] { padding-top: 3.8rem; }
[data-testid="InputInstructions"] { display: none; }
[data-testid="stButtonGroup"] button { padding-left: 0.6rem; padding-right: 0.6rem; }
[data-testid="stElementContainer"]:has(.rnnviz-page-style) { display: none; }
</style>
<span class="rnnviz-page-style"></span>
"""

# One intra-op thread: the work per request is small (batch 1), and sessions run in parallel
# threads; OpenMP workers spinning against each other on a few cores cost far more.
torch.set_num_threads(1)


@st.cache_resource
def freeze_startup_heap() -> None:
    """Once per server process: move the objects that live as long as it (torch, plotly, streamlit,
    this package) out of the garbage collector's reach, so that Python's own full collections (and
    Streamlit's after-run pass, where runner.postScriptGC is left on) visit only what the runs made
    since; the bundled config turns that pass off (see README, bench/load_test.py)."""
    gc.collect()  # nothing that is already garbage gets frozen
    gc.freeze()


def change_model() -> None:
    offered = catalogue.offers()
    name = st.session_state.get("model")
    start_model(
        offered[name].task if name in offered else None,
        offered[name].labels if name in offered else (),
    )


def sidebar(offered: dict[str, Offer], state: ViewState, untrainable: bool) -> None:
    with st.sidebar:
        st.header("Model")
        st.selectbox(
            "model",
            list(offered),
            key="model",
            on_change=change_model,
            help="Every bundled model; see the description below.",
        )
        entry = offered[state.model]
        st.caption(entry.description)
        st.selectbox(
            "presets",
            [""] + presets_for(entry.task, entry.labels),
            key=PRESET,
            on_change=apply_preset,
            format_func=lambda p: p.replace("\n", " ↵ ") or "— pick an example —",
        )
        with st.expander("Your own model"):
            st.caption(
                f"Upload config.json and model.safetensors in the format of the bundled models "
                f"(pretrained/*/, see README); weights up to {MAX_WEIGHTS_BYTES // 2**20} MB. "
                "Your model is visible only in this browser session, and nothing is unpickled."
            )
            st.file_uploader("config.json", type=["json"], key="upload_config")
            st.file_uploader("model.safetensors", type=["safetensors"], key="upload_weights")
            st.button("Load my model", on_click=load_uploaded_model, key="upload_load")
            if st.session_state.get(catalogue.UPLOAD_MESSAGE):
                st.error(st.session_state[catalogue.UPLOAD_MESSAGE])
        st.header("What to show")
        st.selectbox(
            "layer", list(range(entry.num_layers)), key="layer", format_func=lambda k: f"layer {k}"
        )
        st.radio(
            "direction",
            list(DIRECTIONS[: 2 if entry.bidirectional else 1]),
            key="direction",
            horizontal=True,
        )
        st.selectbox(
            "order units by",
            list(ORDERINGS),
            key="order",
            help="The same order is used in every heatmap. 'similarity' ranks by correlation with the "
            "selected unit.",
        )
        st.number_input(
            "unit",
            min_value=0,
            max_value=entry.hidden_size - 1,
            value=None,
            key=UNIT_BOX,
            placeholder="the busiest",
            on_change=unit_chosen_by_hand,
            help="The unit shown in the inspector and the lecture; clicking a heatmap cell sets it. "
            "Empty: the unit that varies most over the text (the heatmaps' caption names it).",
        )
        st.number_input(
            "units shown",
            min_value=1,
            max_value=max(entry.hidden_size, 1),
            step=8,
            key="units_shown",
            help="The first units in the chosen order; order by variance to see the busiest ones.",
        )
        st.header("Notation")
        st.radio(
            "GRU update",
            ["pytorch", "textbook"],
            key="gru_update",
            horizontal=True,
            format_func={
                "pytorch": "PyTorch: h = (1−z)·n + z·h",
                "textbook": "textbook: h = z·n + (1−z)·h",
            }.get,
            help="The textbook's z is PyTorch's 1 − z: heatmaps, hovers and equations then show 1 − z as z.",
        )
        st.radio(
            "LSTM candidate",
            ["g", "c~"],
            key="candidate",
            horizontal=True,
            format_func={"g": "g (PyTorch)", "c~": "c̃"}.get,
        )
        st.radio(
            "state and input",
            ["h", "S"],
            key="symbols",
            horizontal=True,
            format_func={"h": "h_t, x_t", "S": "S_i, X_i (the lesson's)"}.get,
        )
        st.header("Weights")
        if untrainable:
            st.radio(
                "weights",
                ["trained", "untrained"],
                key="weights",
                horizontal=True,
                help="untrained: the same architecture freshly initialised (PyTorch's own initialisation, "
                "seeded), on the same text with the same colour scales, to see what training built.",
            )
            if state.weights == "untrained":
                st.number_input("initialisation seed", min_value=0, max_value=2**31 - 1, key="seed")
        else:
            st.caption(
                "Trained weights only: an uploaded model or an entry point is shown as given."
            )


def untrained_seed(state: ViewState, untrainable: bool) -> int | None:
    """The seed of the freshly initialised weights the page shows, or None for the trained ones."""
    return state.seed if state.weights == "untrained" and untrainable else None


_RELATIVE_BEYOND_ONE = " (relative where a value exceeds 1)"


def exactness_badge(state: ViewState, seed: int | None) -> str | None:
    """Every run says how closely the numbers on the page match the model's own outputs (markdown)."""
    measured = catalogue.exactness(state.model, state.text, seed)
    if measured is None:
        return None
    error = readable_number(measured.max_scaled_error, 2)
    if measured.exact:
        # a difference of exactly 0 (the RNN's h is the module's own) is not "to 0"
        match = "exactly (0)" if measured.max_scaled_error == 0 else f"to {error}"
        return (
            f":green-badge[:material/check: matches PyTorch {match}] "
            ":gray[largest difference between the quantities shown and the module's own outputs"
            f"{_RELATIVE_BEYOND_ONE if measured.max_abs_error > measured.max_scaled_error else ''}]"
        )
    return (
        f":red-badge[differs from PyTorch by {error}] :gray[more than the {EXACT_WITHIN:g} "
        "a float32 capture is held to]"
    )


def show_view(state: ViewState, raw: TextRun | None, seed: int | None) -> list[str]:
    """Draw the chosen view, or say why it does not apply to this model; a failing view says so and
    leaves the page working. `seed`: the freshly initialised weights shown, or None for the trained ones.
    Returns the notes the view left for the page to write above it."""
    model = catalogue.model(state.model, seed)
    view = VIEWS_BY_NAME[state.view]
    notice = unmet_notice(view, model)
    if notice:
        st.info(notice)
        return []
    # untrained weights are drawn on the trained run's colour ranges, so the two compare by eye
    trained = (
        None
        if seed is None or raw is None
        else NotatedRun(catalogue.text_run(state.model, state.text), state.notation)
    )

    def other_text(text: str) -> NotatedRun:
        return NotatedRun(catalogue.text_run(state.model, text, seed), state.notation)

    inputs = ViewInputs(
        state=state,
        model=model,
        run=None if raw is None else NotatedRun(raw, state.notation),
        recorded=raw,
        other_text=other_text,
        load_model=catalogue.shared_model,
        trained=trained,
    )
    try:
        view.render(inputs)
    except RnnvizError as error:
        st.warning(str(error))
    except Exception as error:  # noqa: BLE001 — a broken view must not take the page down
        st.error(f"This view failed: {type(error).__name__}: {error}. The other views still work.")
    return inputs.notes


def main() -> None:
    opened = VIEWS_BY_NAME.get(st.query_params.get("view"))
    presenting = st.query_params.get("present") == "1" and opened is not None and opened.presents
    st.set_page_config(
        page_title="rnnviz — inside recurrent networks",
        layout="wide",  # every run, first
        initial_sidebar_state="collapsed" if presenting else "auto",
    )
    freeze_startup_heap()
    offered = catalogue.offers()
    if not offered:
        st.error(
            "No bundled models found in pretrained/. Run `rnnviz train sst2-lstm` or restore the pretrained "
            "folder."
        )
        return
    restore_from_url_once(offered)
    for notice in st.session_state.pop(NOTICES, []):
        st.warning(f"From the link: {notice}")
    state = current_state(offered)
    sidebar(offered, state, catalogue.can_untrain(state.model))
    st.markdown(PAGE_CSS, unsafe_allow_html=True)  # outside the fragment: drawn once a page
    st.title("rnnviz — inside a recurrent network")
    # Outside the fragment, above the sentence box: a view switch reruns the whole page, and a
    # sentence does not redraw the tabs (each element redrawn costs it time: bench/ab_pages.py)
    st.segmented_control(
        "view",
        [view.name for view in VIEWS],
        key="view",
        format_func=lambda name: VIEWS_BY_NAME[name].title,
        label_visibility="collapsed",
    )
    sentence_and_view(offered)


@st.fragment
def sentence_and_view(offered: dict[str, Offer]) -> None:
    """The sentence box and the view: Enter, a view's own controls and a clicked cell rerun this part
    alone, not the sidebar (whose widgets cost a sentence a fifth of its time in the browser:
    bench/ab_pages.py); a change the sidebar must show reruns the whole page."""
    if st.session_state.pop(RERUN_PAGE, False):
        st.rerun(scope="app")
    state = current_state(offered, whole_page=False)
    untrainable = catalogue.can_untrain(state.model)
    seed = untrained_seed(state, untrainable)
    # a long text's page waits its turn, so that it cannot starve other sessions' sentences
    with (
        budget.admitted(catalogue.heavy_text(state.model, state.text, seed)),
        st.container(key="page-body"),  # the presenter screens' CSS hides the notes in it
    ):
        draw_page(offered, state, seed)


def draw_page(offered: dict[str, Offer], state: ViewState, seed: int | None) -> None:
    """Everything beside the sidebar: the run, the sentence box and the view."""
    run, problem = None, None
    if state.text.strip():
        try:
            run = catalogue.text_run(state.model, state.text, seed)
        except RnnvizError as error:
            problem = str(error)
    if run is not None:
        state = with_text_length(state, len(run.tokens))
        if unit_is_automatic():  # before the sidebar draws the unit box
            quantity = "cell" if "cell" in run.recurrent_call.quantities else "hidden"
            # the trained run's busiest unit, also under untrained weights: switching keeps the unit
            chooser = run if seed is None else catalogue.text_run(state.model, state.text)
            state = replace(
                state, unit=busiest_unit(chooser.states(state.layer, state.direction, quantity))
            )
            st.session_state["unit"] = state.unit
    with st.form("sentence-form", border=False):
        left, right = st.columns([6, 1])
        if offered[state.model].task == "language_model":
            # A character model reads newlines as tokens: a box that keeps them (Enter adds a line).
            left.text_area(
                "sentence",
                key="text",
                height=68,
                label_visibility="collapsed",
                placeholder="type or paste a passage, then Ctrl+Enter or Run",
                help=f"Ctrl+Enter or Run reads it. Texts beyond {MAX_TEXT_CHARACTERS} characters "
                "are cut.",
            )
        else:
            left.text_input(
                "sentence",
                key="text",
                max_chars=None,
                label_visibility="collapsed",
                placeholder="type a sentence and press Enter",
                help=f"Press Enter or Run. Texts beyond {MAX_TEXT_CHARACTERS} characters are cut.",
            )
        right.form_submit_button("Run", use_container_width=True)
    write_url(state)  # before any view: the lecture's player writes its own step after this
    if not state.text.strip():
        st.info("Type a sentence above and press Enter — for example *the movie was not good*.")
        if not VIEWS_BY_NAME[state.view].reads_text:
            show_view(state, None, seed)
    elif run is None:
        st.warning(problem or "The text could not be read.")
    else:
        if run.truncated:
            st.warning(
                f"The text is longer than {MAX_TEXT_CHARACTERS} characters; only the first "
                f"{MAX_TEXT_CHARACTERS} are shown."
            )
        for notice in run.notices:  # what this server's limits cut from the run (app/budget.py)
            st.info(notice, icon=":material/memory:")
        unknown = [t for t, u in zip(run.tokens, run.encoding.unknown) if u]
        if unknown:
            st.caption(f"Not in the model's vocabulary (read as ⟨unk⟩): {', '.join(unknown[:20])}")
        # checked after the view is drawn, into its place above it: the heatmaps leave the server
        # first (the check is a second run of the model)
        badge = st.empty()
        if seed is not None:
            st.info(
                f"Freshly initialised weights (seed {state.seed}): what this architecture does before any "
                "training. Switch back to trained weights in the sidebar."
            )
        notes = show_view(state, run, seed)
        written = [exactness_badge(state, seed)] + [f":gray[:small[{note}]]" for note in notes]
        if any(written):
            badge.markdown("  \n".join(line for line in written if line))


if __name__ == "__main__":  # `streamlit run rnnviz/app/page.py`, as `rnnviz app` does
    main()
