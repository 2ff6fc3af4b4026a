"""The Class view: the lecturer's room. A QR code and a join link for the phones, then the room live:
every sentence with its final prediction and where it flipped, the sentences as points in state
space, and one click to open a sentence in the other views or hide it.

Only this view (reached with the room's secret in the link) lists a room; the phones' side is
rnnviz/classroom/routes.py. Students' text is drawn with st.text and escaped in figures: never
Markdown or HTML.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np
import segno
import streamlit as st

from rnnviz.analysis.projection import fit_pca
from rnnviz.app import catalogue
from rnnviz.app.state import ViewInputs, ViewState
from rnnviz.classroom.rules import shown_code
from rnnviz.classroom.store import Room, StoredSentence, class_store
from rnnviz.figures.classroom import class_state_space
from rnnviz.settings import public_url

REFRESH_SECONDS = 1.0  # the list and the counts
STATE_SPACE_SECONDS = 3.0
SHOWN_SENTENCES = 20  # rows drawn; the state space shows them all
SORTS = ("newest", "most surprising")
SORT_KEY = "class_sort"
SHOW_HIDDEN_KEY = "class_show_hidden"
OPEN_ELSEWHERE = "class_open_elsewhere"  # a sentence was sent to another view: rerun the page
OPEN_IN = {"heatmaps": "Heatmaps", "lecture": "Lecture", "whatif": "What if"}
QR_CSS = "<style>.rnnviz-qr svg { width: 100%; height: auto; display: block; }</style>"


def join_link(code: str) -> str:
    """Where phones go: this server as the lecturer's browser reaches it, or $RNNVIZ_PUBLIC_URL."""
    base = public_url()
    if base is None:
        address = urlsplit(st.context.url or "http://localhost:8501/")
        base = f"{address.scheme}://{address.netloc}"
    return f"{base}/join/{code}"


def lecturer_room(state: ViewState, source: str) -> Room:
    """The room in the link when its secret matches; otherwise a new one, put into the link."""
    store = class_store()
    if state.room and state.room_key:
        room = store.lecturer_room(state.room, state.room_key)
        if room is not None:
            return room
        st.warning(
            "The room in this link has ended (12 hours after its last use) or its key does not "
            "match; a new room is open below."
        )
    room, secret = store.create_room(source)
    st.session_state["room"], st.session_state["room_key"] = room.code, secret
    st.query_params["room"], st.query_params["room_key"] = room.code, secret
    return room


def new_room() -> None:
    st.session_state["room"], st.session_state["room_key"] = "", ""


def close_room(code: str) -> None:
    class_store().close_room(code)


def open_elsewhere(text: str, view: str) -> None:
    """Button callback: the sentence becomes the page's text, shown in `view`."""
    st.session_state["text"] = text
    st.session_state["view"] = view
    st.session_state["step"] = 0
    st.session_state[OPEN_ELSEWHERE] = True


def set_hidden(code: str, sentence_id: int, hidden: bool) -> None:
    class_store().set_hidden(code, sentence_id, hidden)


@st.cache_resource(max_entries=4, show_spinner=False)
def room_sentences(database: str, code: str, revision: int) -> list[StoredSentence]:
    """A room's sentences, read again only when the room changed (its revision grew)."""
    return class_store().sentences(code)


def render(inputs: ViewInputs) -> None:
    state = inputs.state
    source = catalogue.server_offers().get(state.model, (None,))[0]
    if source is None:
        st.info(
            "A room reads the phones' sentences with a model the server has (a bundled one, or one "
            "given to `rnnviz app --model`); an uploaded model lives in this browser only. Pick "
            "another model in the sidebar."
        )
        return
    room = lecturer_room(state, source)
    if room.closed:
        st.info("This room is closed: phones can no longer send to it. Its sentences stay below.")
        st.button("Open a new room", on_click=new_room, key="class_new_room")
    elif room.model != source:
        class_store().set_model(room.code, source)  # the phones' next sentences: the model shown
    link = join_link(room.code)
    qr, about = st.columns([1, 1], gap="large")
    with qr:
        svg = segno.make(link, error="m").svg_inline(scale=10, border=4, omitsize=True)
        st.markdown(f'{QR_CSS}<div class="rnnviz-qr">{svg}</div>', unsafe_allow_html=True)
    with about:
        st.subheader("Join with your phone")
        st.code(link, language=None)
        st.markdown(f"## Room `{shown_code(room.code)}`")
        if urlsplit(link).hostname in ("localhost", "127.0.0.1", "::1"):
            st.warning(
                "Phones cannot reach localhost: open this page at the computer's network address, "
                "or start the app with RNNVIZ_PUBLIC_URL=http://ADDRESS:PORT."
            )
        st.caption(
            f"Sentences are read by {state.model}. This page's link holds the room's key: keep it "
            "for yourself (it reopens the room on another computer or after a restart)."
        )
        if not room.closed:
            st.button("Close the room", on_click=close_room, args=(room.code,), key="class_close")
    listing, space = st.columns([3, 2], gap="medium")
    with listing:
        live_list(room.code)
    with space:
        live_state_space(room.code)


@st.fragment(run_every=REFRESH_SECONDS)
def live_list(code: str) -> None:
    """The room's sentences as they come, redrawn every second without reloading the page."""
    if st.session_state.pop(OPEN_ELSEWHERE, False):
        st.rerun(scope="app")
    store = class_store()
    room = store.phone_room(code)
    if room is None:
        st.warning("This room has ended.")
        return
    sentences = room_sentences(str(store.path), code, room.revision)
    counts = st.columns(3)
    counts[0].metric("phones joined", store.phones_joined(code))
    counts[1].metric("sentences", len(sentences))
    counts[2].metric("hidden", sum(s.hidden for s in sentences))
    controls = st.columns([3, 2])
    order = (
        controls[0].segmented_control("order", SORTS, key=SORT_KEY, default=SORTS[0]) or SORTS[0]
    )
    show_hidden = controls[1].toggle("show hidden", key=SHOW_HIDDEN_KEY)
    shown = [s for s in sentences if show_hidden or not s.hidden]
    if order == "newest":
        shown.sort(key=lambda s: -s.id)
    else:
        shown.sort(key=lambda s: (-s.surprise, -s.id))
    if not shown:
        st.info("No sentences yet: scan the code, type a sentence, press Enter.")
    for sentence in shown[:SHOWN_SENTENCES]:
        sentence_row(code, sentence)
    if len(shown) > SHOWN_SENTENCES:
        st.caption(f"{len(shown) - SHOWN_SENTENCES} more in the state space →")


@st.fragment(run_every=STATE_SPACE_SECONDS)
def live_state_space(code: str) -> None:
    """The class's sentences in state space, redrawn less often than the list: a chart of hundreds of
    points is the heaviest thing the lecturer's browser draws (bench/bench_classroom.py)."""
    store = class_store()
    room = store.phone_room(code)
    figure = (
        None
        if room is None
        else state_space_figure(str(store.path), code, room.revision, room.model)
    )
    if figure is None:
        st.caption("The class's sentences appear here as points in state space from two on.")
    else:
        st.plotly_chart(figure, use_container_width=True, theme=None, key="class-state-space")


def sentence_row(code: str, sentence: StoredSentence) -> None:
    with st.container(border=True, key=f"class-sentence-{sentence.id}"):
        st.text(sentence.text)  # st.text: what a student typed is never Markdown or HTML
        flipped = (
            f' · changed at "{sentence.flip_word}"' if sentence.flip_word else " · never changed"
        )
        hidden = " · hidden" if sentence.hidden else ""
        st.text(f"{sentence.final_label} {sentence.final_probability:.0%}{flipped}{hidden}")
        buttons = st.columns(len(OPEN_IN) + 1)
        for column, (view, title) in zip(buttons, OPEN_IN.items()):
            column.button(
                title,
                key=f"class-open-{view}-{sentence.id}",
                on_click=open_elsewhere,
                args=(sentence.text, view),
                use_container_width=True,
            )
        buttons[-1].button(
            "Show" if sentence.hidden else "Hide",
            key=f"class-hide-{sentence.id}",
            on_click=set_hidden,
            args=(code, sentence.id, not sentence.hidden),
            use_container_width=True,
        )


@st.cache_resource(max_entries=4, show_spinner=False)
def state_space_figure(database: str, code: str, revision: int, model: str):
    """The room's visible sentences read by its model, as points in state space; None below two.
    Built again only when the room changed."""
    shown = [
        s for s in room_sentences(database, code, revision) if s.model == model and not s.hidden
    ]
    if len(shown) < 2:
        return None
    states = np.stack([s.final_state for s in shown])
    projection = fit_pca(states)
    return class_state_space(
        projection.apply(states),
        [s.final_label for s in shown],
        [s.text for s in shown],
        [s.id for s in shown],
        projection,
    )
