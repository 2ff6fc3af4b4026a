"""Arbitrary text and arbitrary links never break the pipeline: tokenizer → capture → figures → export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnviz
from rnnviz import figures
from rnnviz.analysis import lecture
from rnnviz.analysis.inspection import MAX_TEXT_CHARACTERS, inspect_text
from rnnviz.analysis.ordering import ORDERINGS, unit_order
from rnnviz.app.state import Offer, ViewState, parse_query
from rnnviz.errors import RnnvizError
from rnnviz.exports.files import heatmap_csv, trace_json_text

NASTY = [
    "",
    " \t\n ",
    "🎬🍿 great film 👍🏽",
    "e\u0301te\u0301 cafe\u0301",  # combining marks
    "مرحبا بالعالم שלום",  # right-to-left scripts
    "nul\x00 bell\x07 escape\x1b[31m",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "a" * 5000,  # a very long single word
    "good " * 30_000,  # 150 k characters
]

texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
)


@pytest.fixture(scope="module")
def models():
    return [rnnviz.load(name) for name in ("sst2-lstm",)]


def check_figures(run) -> None:
    record = run.recurrent_call
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    assert len(labels) == len(set(labels)) == len(run.tokens)
    for quantity in record.quantities:
        values = run.states(0, "forward", quantity)
        assert np.isfinite(values).all()
        for ordering in ORDERINGS:
            order = unit_order(values, ordering, 0)
            assert sorted(order) == list(range(values.shape[1]))
        figure = figures.quantity_heatmap(
            values, labels, quantity, record.cell, order[:16], (0, 0), clickable=True
        )
        assert np.isfinite(np.asarray(figure.data[0].z, dtype=float)).all()
        assert heatmap_csv(values, run.tokens, order).count("\n") == values.shape[1] + 1
    series = {q: run.states(0, "forward", q)[:, 0] for q in record.quantities}
    lines = lecture.written_update(record.cell, lecture.unit_step(series, len(run.tokens) - 1, 0))
    assert all("nan" not in line for line in lines)
    html_text = figures.coloured_tokens_html(
        run.tokens, series["hidden"], figures.colour_scale("hidden", series["hidden"])
    )
    assert "<script" not in html_text and "<img" not in html_text
    payload = json.loads(trace_json_text(run))  # allow_nan=False inside: no NaN or inf
    assert len(payload["tokens"]) == len(run.tokens)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=texts)
def test_any_text_gives_a_clear_refusal_or_finite_figures(models, text):
    for loaded in models:
        try:
            run = inspect_text(loaded, text, truncate=True)
        except RnnvizError as error:
            assert str(error)  # a message a person can act on
            assert not text.strip() or "no tokens" in str(error)
            continue
        assert len(run.text) <= MAX_TEXT_CHARACTERS
        assert run.truncated == (len(text) > MAX_TEXT_CHARACTERS)
        check_figures(run)


SHAPES = {
    "m": Offer("an LSTM", "classifier", 2, True, 16, ("hidden", "cell")),
    "n": Offer("an RNN", "language_model", 1, False, 4, ("hidden",)),
}
query_values = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["", "nan", "1e9", "-0", "m", "n"]),
)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(
        st.sampled_from([*vars(ViewState()), "junk", "x"]), query_values, max_size=8
    )
)
def test_any_link_parses_to_a_valid_view_with_notices(params):
    state, notices = parse_query(params, SHAPES, "m")
    shape = SHAPES[state.model]
    assert 0 <= state.layer < shape.num_layers and 0 <= state.unit < shape.hidden_size
    assert state.direction in ("forward", "backward")[: 1 + shape.bidirectional]
    assert state.order in ORDERINGS and state.quantity in shape.quantities
    for key in set(params) - set(vars(ViewState())):
        assert any(key in n for n in notices)
