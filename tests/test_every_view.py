"""Every registered view, for every bundled model (both directions of a bidirectional one), opened
from a link through the real page (AppTest): what a person reads is there, nothing failed, and a
view that does not apply to a model says so. The page's caches hold each model and run once per
process, so the matrix costs little more than drawing the views."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.app.state import ViewState, parse_query
from rnnviz.app.views import DEFAULT_VIEW, VIEWS
from rnnviz.models.architectures import bundled_names, load

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# The quantities a cell records, as a textbook names them (the heatmap grid's panels, in order).
PANELS = {
    "LSTM": [
        "input gate i",
        "forget gate f",
        "cell candidate g",
        "output gate o",
        "cell state c",
        "hidden state h",
    ],
    "GRU": ["reset gate r", "update gate z", "candidate n", "hidden state h"],
    "RNN": ["hidden state h"],
}


@dataclass(frozen=True)
class Case:
    model: str
    direction: str
    cell: str  # the recurrent module's class: LSTM, GRU or RNN
    task: str


def bundled_cases() -> list[Case]:
    cases = []
    for name in bundled_names():
        loaded = load(name)
        recurrent = loaded.module.rnn  # the bundled format: embedding → rnn → head
        for direction in ("forward", "backward")[: 1 + recurrent.bidirectional]:
            cases.append(Case(name, direction, type(recurrent).__name__, loaded.config.task))
    return cases


CASES = bundled_cases()


@dataclass(frozen=True)
class Shown:
    """What a person reads on the page, by kind."""

    headings: list[str]
    charts: list[str]  # chart titles, and the panel titles of a grid of charts
    captions: list[str]
    notices: list[str]  # info and warning boxes
    buttons: list[str]
    unit: int
    view_elements: int  # elements the view drew below the sentence box and the exactness badge


def chart_titles(at: AppTest) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        title = layout.get("title")
        if isinstance(title, dict) and title.get("text"):
            titles.append(title["text"])
        titles += [a["text"] for a in layout.get("annotations", []) if a.get("text")]
    return titles


def view_elements(at: AppTest) -> int:
    """How many elements the view drew: those after the sentence box in the page's body (inside its
    fragment, below the row of views), not counting the exactness badge and its notes."""
    elements = list(at.main.children.values())
    while not any(e.type == "form" for e in elements):  # down into the fragment and the page body
        elements = list(elements[-1].children.values())
    form = next(i for i, e in enumerate(elements) if e.type == "form")
    after = elements[form + 1 :]
    return sum(1 for e in after if "matches PyTorch" not in str(getattr(e, "value", "")))


def notes_under_the_badge(at: AppTest) -> list[str]:
    """The small grey lines the page writes under its exactness badge (a view's notes)."""
    return [
        line.removeprefix(":gray[:small[").removesuffix("]]")
        for m in at.markdown
        for line in m.value.split("  \n")
        if line.startswith(":gray[:small[")
    ]


def shown(at: AppTest) -> Shown:
    return Shown(
        headings=[h.value for h in at.subheader],
        charts=chart_titles(at),
        # captions, and the notes the page writes under its badge
        captions=[c.value for c in at.caption] + notes_under_the_badge(at),
        notices=[n.value for n in [*at.info, *at.warning]],
        buttons=[b.label for b in [*at.button, *at.get("download_button")]],
        unit=int(at.session_state["unit"]),
        view_elements=view_elements(at),
    )


def opened(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = str(value)
    return at.run()


# What each view shows a person, for a case; a view without an entry must still draw something.
def heatmaps_read(seen: Shown, case: Case) -> None:
    assert [t for t in seen.charts if t in PANELS[case.cell]] == PANELS[case.cell]
    assert any(c.startswith(f"layer 0, {case.direction};") for c in seen.captions)


def inspector_read(seen: Shown, case: Case) -> None:
    assert any(h.startswith(f"Unit {seen.unit} — layer 0, {case.direction}") for h in seen.headings)
    assert f"unit {seen.unit} over time" in seen.charts


def compare_read(seen: Shown, case: Case) -> None:
    assert "difference of hidden state h (second − first, aligned at the end)" in seen.charts
    follows = "P(the character that actually follows) after each token"
    assert (follows in seen.charts) == (case.task == "language_model")


def trajectory_read(seen: Shown, case: Case) -> None:
    assert "hidden-state trajectory (PCA)" in seen.charts


def lecture_read(seen: Shown, case: Case) -> None:
    after = "next character after" if case.task == "language_model" else "prediction after"
    if case.direction == "backward":  # what a backward layer has read: from its token to the end
        after = "prediction on"
    assert any(t.startswith(after) for t in seen.charts), seen.charts


def whatif_read(seen: Shown, case: Case) -> None:
    assert "hidden state h: edited − as trained" in seen.charts
    assert ("cell state c: edited − as trained" in seen.charts) == (case.cell == "LSTM")


def memory_read(seen: Shown, case: Case) -> None:
    if case.cell == "RNN":  # no gate keeps anything: the map reads the recurrence's own ∂h_t/∂h_s
        assert {f"layer 0 {case.direction}: ‖∂h_t/∂h_s‖", "gradient norm per timestep"} <= set(
            seen.charts
        ), seen.charts
    else:
        assert {f"unit {seen.unit}", "mean over units", "gradient norm per timestep"} <= set(
            seen.charts
        )


def gradients_read(seen: Shown, case: Case) -> None:
    assert seen.headings == [
        "Gradient flow through time",
        "Token attributions",
        "RNN vs GRU vs LSTM on this sentence",
    ]


def lab_read(seen: Shown, case: Case) -> None:
    assert "Train" in seen.buttons


def corpus_read(seen: Shown, case: Case) -> None:
    # a corpus was read (shared data here), or the view says how to give it one
    read = any(c.startswith(f"{case.model} on ") for c in seen.captions)
    assert read or any("corpus" in n.lower() for n in seen.notices), (seen.captions, seen.notices)


def export_read(seen: Shown, case: Case) -> None:
    assert {"trace (NPZ)", "trace (JSON)", "hidden state h — figure (HTML)"} <= set(seen.buttons)


READS = {
    "heatmaps": heatmaps_read,
    "inspector": inspector_read,
    "compare": compare_read,
    "trajectory": trajectory_read,
    "lecture": lecture_read,
    "whatif": whatif_read,
    "memory": memory_read,
    "gradients": gradients_read,
    "lab": lab_read,
    "corpus": corpus_read,
    "export": export_read,
}


@pytest.fixture(scope="module", autouse=True)
def corpus_cache(tmp_path_factory):
    """The corpus view's indexes go to a folder of this module's own (they are built once here)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNVIZ_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.parametrize("view", [v.name for v in VIEWS])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.model}-{c.direction}" for c in CASES])
def test_every_view_shows_every_bundled_model_in_every_direction(case: Case, view: str):
    at = opened(model=case.model, direction=case.direction, view=view)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not [w.value for w in at.warning if w.value.startswith("From the link")]
    assert at.button_group[0].value == view and at.session_state["direction"] == case.direction
    seen = shown(at)
    assert seen.view_elements > 0, "the view drew nothing"
    if view in READS:
        READS[view](seen, case)


def test_the_row_of_views_shows_every_registered_view_by_its_title_in_order():
    at = opened()
    tabs = at.button_group[0]
    assert tabs.options == [view.title for view in VIEWS]
    assert tabs.value == DEFAULT_VIEW == ViewState().view


def test_a_link_accepts_every_registered_view_and_nothing_else():
    offers = {"m": _offer()}
    for view in VIEWS:
        state, notices = parse_query({"view": view.name}, offers, "m")
        assert (state.view, notices) == (view.name, [])
    for unknown in ("nowhere", "Heatmaps", "what if", ""):
        state, notices = parse_query({"view": unknown}, offers, "m")
        assert state.view == DEFAULT_VIEW
        assert notices == [f"'view' = {unknown} is not available here; using {DEFAULT_VIEW}"], (
            unknown
        )


def test_an_unknown_view_in_a_link_opens_the_first_view_with_a_notice():
    at = opened(view="nowhere")
    assert not at.exception, at.exception
    assert at.button_group[0].value == DEFAULT_VIEW
    assert any(
        f"'view' = nowhere is not available here; using {DEFAULT_VIEW}" in w.value
        for w in at.warning
    )


def _offer():
    from rnnviz.app.state import Offer

    return Offer("an LSTM", "classifier", 1, False, 8, ("hidden", "cell"))


@pytest.fixture
def entry_point_app(monkeypatch):
    """The page as `rnnviz app --model custom_entry_point:build_model` starts it: a model that is
    not in the bundled format (its model list is cached per process: cleared before and after)."""
    import streamlit as st

    monkeypatch.setattr(sys, "argv", ["app.py", "--model", "custom_entry_point:build_model"])
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_a_view_that_needs_the_bundled_format_says_so_for_an_entry_point_model(entry_point_app):
    applies = [view.title for view in VIEWS if view.needs is None]
    for view in VIEWS:
        at = opened(model="vowel-tagger", text="hello world", view=view.name)
        assert not at.exception, (view.name, at.exception)
        assert not at.error, (view.name, [e.value for e in at.error])
        notices = [i.value for i in at.info if "bundled format" in i.value]
        if view.needs is None:
            assert notices == [] and view_elements(at) > 0, view.name
        else:  # instead of the view: why, and which views this model does show
            assert notices == [
                "This view needs a model in the bundled format (embedding → rnn → head, see "
                f"README). This model shows: {', '.join(applies)}."
            ], view.name
            assert not at.get("plotly_chart"), view.name
