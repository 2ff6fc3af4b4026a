"""Every choice on the page as one `ViewState`, its round trip through the URL, and the session;
each model as one `Offer` (what bounds the choices about it); what a view is given (`ViewInputs`).

A shared link must reopen the exact view; a link with nonsense in it (unknown model, unit 99999,
layer "x") must still open, on defaults, with a notice saying what was ignored. The session keys
the page shares between its parts are named here, once; each view's own widget keys live in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Mapping

import streamlit as st

from rnnviz.analysis.inspection import NotatedRun, TextRun
from rnnviz.analysis.ordering import ORDERINGS
from rnnviz.app.views import DEFAULT_VIEW, VIEWS_BY_NAME
from rnnviz.core.quantities import DIRECTIONS, Notation
from rnnviz.models.architectures import LoadedModel
from rnnviz.models.custom import CustomModel
from rnnviz.models.presets import PAIR, first_text, presets_for

DEFAULT_MODEL = "sst2-lstm"
# Session keys shared between the page's parts (a ViewState field's key is its name).
RESTORED = "restored"  # the URL has been read into the session, once
LINKED_STEP = "linked_step"  # the link that opened the session named a token
NOTICES = "notices"  # what the link asked for and could not have
UNIT_AUTO = (
    "unit_auto"  # no unit chosen yet: the page shows the busiest one (ordering.busiest_unit)
)
UNIT_BOX = "unit_box"  # the sidebar's unit box: a unit chosen by hand, or None (the busiest)
RERUN_PAGE = "rerun_page"  # a change inside the sentence-and-view fragment the sidebar must show
TEXT_TASK = "text_task"  # the task the current text was chosen for
# The widgets drawn outside the sentence-and-view fragment (the sidebar's and the view tabs): written
# back by the whole page's run only, before they are drawn (the fragment runs after it, and alone on
# Enter).
OUTSIDE_FRAGMENT_KEYS = frozenset(
    {"model", "layer", "direction", "order", "units_shown", "gru_update", "candidate", "symbols"}
    | {"weights", "seed", "view"}
)
PLAYING = "playing"  # the lecture plays
PRESET = "preset"

WEIGHTS = ("trained", "untrained")
EDIT_UNITS = ("selected", "list", "top")  # the selected unit, the units listed, the top k by effect
EDIT_STEPS = ("from", "at")  # from the selected token on, or at it only
EDIT_KINDS = ("set", "scale")
ALIGNMENTS = ("end", "start")
MAX_QUERY_TEXT = 2000


@dataclass(frozen=True)
class ViewState:
    model: str = "sst2-lstm"
    text: str = "the movie was not good"
    text2: str = "the movie was good"
    view: str = DEFAULT_VIEW
    layer: int = 0
    direction: str = "forward"
    unit: int = 0
    step: int = 0
    order: str = "index"
    units_shown: int = 64
    quantity: str = "hidden"
    align: str = "end"
    present: int = 0  # 1: the lecture's presenter screen
    both: int = 0  # 1: a bidirectional lecture reads both directions side by side
    weights: str = (
        "trained"  # or "untrained": the same architecture freshly initialised with `seed`
    )
    seed: int = 0
    # What if: the edit made inside the recurrence (quantity, which units, which tokens, set or scale)
    edit_quantity: str = "hidden"
    edit_units: str = "top"
    edit_unit_list: str = ""
    edit_top: int = 40
    edit_steps: str = "from"
    edit_kind: str = "set"
    edit_value: str = "0"
    # Notation: the GRU's update convention, the LSTM candidate's name, h/x or the lesson's S/X
    gru_update: str = "pytorch"
    candidate: str = "g"
    symbols: str = "h"
    # The classroom: the lecturer's room and its secret (in the link only while the Class view shows)
    room: str = ""
    room_key: str = ""

    @property
    def notation(self) -> Notation:
        return Notation(self.gru_update, self.candidate, self.symbols)

    def to_query(self) -> dict[str, str]:
        """Only what differs from the defaults, so links stay short."""
        default = ViewState()
        # The room's key stays out of every other view's link: a shared Heatmaps link never leaks it.
        # A backward reading starts at the last token, so its step 0 (the end) is no default: written.
        return {
            k: str(int(v) if isinstance(v, bool) else v)
            for k, v in asdict(self).items()
            if (v != getattr(default, k) or (k == "step" and self.direction == "backward"))
            and (self.view == "class" or k not in ("room", "room_key"))
        }


@dataclass(frozen=True)
class Offer:
    """One model as the page offers it: a one-line description, its task and classes, and what
    bounds the choices about it (layers, directions, units, quantities)."""

    description: str
    task: str
    num_layers: int
    bidirectional: bool
    hidden_size: int
    quantities: tuple[str, ...]
    labels: tuple[str, ...] = ()  # a classifier's classes (they pick its presets)
    opened: bool = False  # given as `rnnviz app --model`: the page starts on the first such model


@dataclass(frozen=True)
class ViewInputs:
    """What the page hands every view's `render`."""

    state: ViewState
    model: LoadedModel | CustomModel  # the weights shown (freshly initialised where state asks)
    # None only for a view that does not read the text (View.reads_text), before any is typed
    run: (
        NotatedRun | None
    )  # the text's states in the chosen notation: what views that draw states read
    recorded: (
        TextRun | None
    )  # the run as recorded: what analyses (edits, retention) and exports read
    other_text: Callable[[str], NotatedRun]  # another text, read by the same model
    load_model: Callable[[str], LoadedModel]  # a bundled model by name, loaded once per server
    # the trained weights' run of the text where `run` is of freshly initialised ones (its colour
    # ranges and unit are kept), else None
    trained: NotatedRun | None = None
    # lines the page writes small under its exactness badge, above the view: one element fewer to
    # redraw per sentence than a caption of the view's own (bench/ab_pages.py)
    notes: list[str] = field(default_factory=list)


def parse_query(
    params: Mapping[str, str], models: Mapping[str, Offer], default_model: str
) -> tuple[ViewState, list[str]]:
    """A ViewState from query parameters; anything invalid falls back to its default, with a notice."""
    notices: list[str] = []
    values: dict[str, object] = {}
    types = {f.name: f.type for f in fields(ViewState)}
    for key, raw in params.items():
        if key not in types:
            notices.append(f"ignored unknown link parameter '{key}'")
            continue
        raw = str(raw)
        if types[key] == "int":
            try:
                values[key] = int(raw)
            except ValueError:
                notices.append(f"ignored {key}='{raw[:40]}': not a whole number")
        else:
            if len(raw) > MAX_QUERY_TEXT:
                notices.append(f"{key} from the link was cut to {MAX_QUERY_TEXT} characters")
                raw = raw[:MAX_QUERY_TEXT]
            values[key] = raw
    state = replace(ViewState(model=default_model), **values)
    return clamp(state, models, notices, default_model)


def clamp(
    state: ViewState,
    models: Mapping[str, Offer],
    notices: list[str] | None = None,
    default_model: str | None = None,
) -> tuple[ViewState, list[str]]:
    """Bring every field within what the chosen model and the page offer."""
    notices = [] if notices is None else notices
    default = ViewState()
    if state.model not in models:
        fallback = default_model if default_model in models else next(iter(models))
        notices.append(f"unknown model '{state.model[:60]}', showing {fallback}")
        state = replace(state, model=fallback)
    shape = models[state.model]
    checks = {
        "view": state.view in VIEWS_BY_NAME,
        "direction": state.direction in DIRECTIONS[: 2 if shape.bidirectional else 1],
        "order": state.order in ORDERINGS,
        "align": state.align in ALIGNMENTS,
        "quantity": state.quantity in shape.quantities,
        "layer": 0 <= state.layer < shape.num_layers,
        "unit": 0 <= state.unit < shape.hidden_size,
        "units_shown": 1 <= state.units_shown <= 4096,
        "step": 0 <= state.step <= 100_000,
        "present": state.present in (0, 1),
        "both": state.both in (0, 1),
        "weights": state.weights in WEIGHTS,
        "seed": 0 <= state.seed < 2**31,
        "edit_quantity": state.edit_quantity in shape.quantities,
        "edit_units": state.edit_units in EDIT_UNITS,
        "edit_top": 1 <= state.edit_top <= 4096,
        "edit_steps": state.edit_steps in EDIT_STEPS,
        "edit_kind": state.edit_kind in EDIT_KINDS,
        "gru_update": state.gru_update in ("pytorch", "textbook"),
        "candidate": state.candidate in ("g", "c~"),
        "symbols": state.symbols in ("h", "S"),
    }
    for key, ok in checks.items():
        if not ok:
            notices.append(
                f"'{key}' = {str(getattr(state, key))[:40]} is not available here; using {getattr(default, key)}"
            )
            state = replace(state, **{key: getattr(default, key)})
    return state, notices


def opening_model(catalogue: Mapping[str, Offer]) -> str | None:
    """The model a fresh page shows: the first one `rnnviz app --model` gave, else the default."""
    opened = [name for name, entry in catalogue.items() if entry.opened]
    return opened[0] if opened else DEFAULT_MODEL if DEFAULT_MODEL in catalogue else None


def restore_from_url_once(catalogue: Mapping[str, Offer]) -> None:
    """On a session's first run, the URL's choices become the widgets' values."""
    if RESTORED in st.session_state:
        return
    default_model = opening_model(catalogue) or next(iter(catalogue))
    state, notices = parse_query(dict(st.query_params), catalogue, default_model)
    task, labels = catalogue[state.model].task, catalogue[state.model].labels
    if "text" not in st.query_params and presets_for(task, labels):
        state = replace(state, text=first_text(task, labels))  # a text of the model's own kind
    if "text2" not in st.query_params and presets_for(task, labels):
        state = replace(state, text2=first_text(task, labels, second=True))
    for key, value in vars(
        state
    ).items():  # current_state, run next, brings them to the widgets' types
        st.session_state[key] = value
    st.session_state[UNIT_AUTO] = "unit" not in st.query_params
    st.session_state[UNIT_BOX] = None if st.session_state[UNIT_AUTO] else state.unit
    st.session_state[LINKED_STEP] = "step" in st.query_params
    st.session_state[TEXT_TASK] = (task, labels)
    st.session_state[NOTICES] = notices
    st.session_state[RESTORED] = True


def current_state(catalogue: Mapping[str, Offer], whole_page: bool = True) -> ViewState:
    """The page's choices, brought within the model's bounds and stored back in the session (call it
    once per run, before any widget it writes is drawn): that also keeps the values of widgets a view
    does not draw (Streamlit forgets those otherwise), so switching views never loses a choice.
    `whole_page=False` (the sentence-and-view fragment) leaves the widgets outside it alone."""
    values = {k: st.session_state[k] for k in vars(ViewState()) if k in st.session_state}
    if values.get("view") is None:  # the segmented control was clicked off
        values["view"] = DEFAULT_VIEW
    values["both"] = int(bool(values.get("both", 0)))
    values["present"] = int(bool(values.get("present", 0)))
    default_model = opening_model(catalogue)
    state, _ = clamp(ViewState(**values), catalogue, default_model=default_model)
    state = replace(state, units_shown=min(state.units_shown, catalogue[state.model].hidden_size))
    for key, value in vars(state).items():
        if whole_page or key not in OUTSIDE_FRAGMENT_KEYS:
            st.session_state[key] = bool(value) if key in ("present", "both") else value
    return state


def with_text_length(state: ViewState, tokens: int) -> ViewState:
    """The state with its step inside a text of `tokens` tokens: the one place a step is clamped."""
    return replace(state, step=max(0, min(state.step, tokens - 1)))


def write_url(state: ViewState) -> None:
    """The address bar shows the view: only what differs from the defaults."""
    st.query_params.from_dict(state.to_query())


def choose_step(step: int) -> None:
    """Set the selected token (the lecture's controls, a clicked heatmap cell)."""
    st.session_state["step"] = step


def choose_unit(unit: int) -> None:
    """A unit chosen inside the view (a clicked cell, a ranked unit): the sidebar's box shows it."""
    st.session_state["unit"] = unit
    st.session_state[UNIT_BOX] = unit
    st.session_state[UNIT_AUTO] = False
    st.session_state[RERUN_PAGE] = True


def unit_chosen_by_hand() -> None:
    """The sidebar's unit box: a number is that unit, an empty box the busiest one again."""
    chosen = st.session_state.get(UNIT_BOX)
    st.session_state[UNIT_AUTO] = chosen is None
    if chosen is not None:
        st.session_state["unit"] = int(chosen)


def unit_is_automatic() -> bool:
    return bool(st.session_state.get(UNIT_AUTO, False))


def start_model(task: str | None, labels: tuple[str, ...] = ()) -> None:
    """A new model has other layers and units: start its view at the first ones (the unit chosen
    again for the text), and give it a text of its own kind (a sentence, or a passage of Shakespeare)."""
    for key, value in (
        ("layer", 0),
        ("direction", "forward"),
        ("unit", 0),
        (UNIT_BOX, None),
        ("step", 0),
        ("quantity", "hidden"),
        (PRESET, ""),
        (UNIT_AUTO, True),
    ):
        st.session_state[key] = value
    if (task, labels) != st.session_state.get(TEXT_TASK) and task and presets_for(task, labels):
        st.session_state["text"] = first_text(task, labels)
        st.session_state["text2"] = first_text(task, labels, second=True)
    st.session_state[TEXT_TASK] = (task, labels)


def apply_preset() -> None:
    """The chosen example becomes the text (and a pair's second half the second sentence)."""
    choice = st.session_state.get(PRESET)
    if choice:
        first, _, second = choice.partition(PAIR)
        st.session_state["text"] = first
        if second:
            st.session_state["text2"] = second
