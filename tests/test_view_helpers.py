"""Pure helpers behind the views: unit orders, link parsing, the written update, PCA, exports."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from rnnviz import figures
from rnnviz.analysis import lecture
from rnnviz.analysis.ordering import shown_units, unit_order
from rnnviz.analysis.projection import fit_pca
from rnnviz.app.state import Offer, ViewState, parse_query
from rnnviz.exports.files import heatmap_csv

LSTM_SHAPE = Offer(
    "an LSTM",
    "classifier",
    2,
    True,
    8,
    ("input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"),
)
MODELS = {
    "m": LSTM_SHAPE,
    "g": Offer(
        "a GRU", "classifier", 1, False, 4, ("reset_gate", "update_gate", "new_gate", "hidden")
    ),
}


def test_variance_and_mean_orders_put_the_largest_first():
    values = np.array([[0.0, 1.0, 5.0], [0.0, -1.0, 5.1], [0.0, 1.0, 4.9]])
    assert list(unit_order(values, "variance")) == [1, 2, 0]
    assert list(unit_order(values, "mean")) == [2, 1, 0]


def test_similarity_order_starts_with_the_unit_then_its_closest_correlates():
    t = np.linspace(0, 3, 20)
    values = np.stack([np.sin(t), -np.sin(t), np.sin(t) + 0.01 * t, np.cos(5 * t)], axis=1)
    order = unit_order(values, "similarity", reference_unit=0)
    assert list(order[:2]) == [0, 2] and order[-1] == 1


def test_clustering_order_puts_correlated_units_next_to_each_other():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    # units 0, 2, 4 follow a; units 1, 3, 5 follow b
    values = np.stack(
        [a, b, a + 0.05 * rng.normal(size=50), b + 0.05 * rng.normal(size=50), a * 2, b * 3], axis=1
    )
    order = list(unit_order(values, "clustering"))
    groups = [u % 2 for u in order]
    assert groups in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])


def test_the_selected_unit_stays_in_view():
    assert list(shown_units(np.array([3, 1, 2, 0]), 2, selected=0)) == [
        3,
        0,
    ]  # as many rows as asked
    assert list(shown_units(np.array([3, 1, 2, 0]), 2, selected=1)) == [3, 1]


def test_a_link_round_trips_through_query_parameters():
    state = ViewState(
        model="m",
        text="a & b?",
        view="lecture",
        layer=1,
        direction="backward",
        unit=7,
        step=4,
        order="mean",
    )
    parsed, notices = parse_query(state.to_query(), MODELS, "m")
    assert parsed == state and notices == []


@pytest.mark.parametrize(
    "query, field, notice",
    [
        (
            {"model": "g", "direction": "backward"},
            "direction",
            "direction",
        ),  # GRU here is one-directional
        ({"model": "m", "layer": "2"}, "layer", "layer"),
        ({"model": "m", "unit": "-1"}, "unit", "unit"),
        ({"model": "m", "step": "99999999999"}, "step", "step"),
        ({"model": "m", "order": "random"}, "order", "order"),
        ({"model": "m", "unit": "1e9"}, "unit", "whole number"),
    ],
)
def test_invalid_link_values_fall_back_to_defaults_with_a_notice(query, field, notice):
    state, notices = parse_query(query, MODELS, "m")
    assert getattr(state, field) == getattr(ViewState(), field)
    assert any(notice in n for n in notices)


def test_written_lstm_update_adds_up_with_the_recorded_numbers():
    series = {
        "forget_gate": np.array([0.5, 0.9]),
        "input_gate": np.array([0.2, 0.4]),
        "cell_gate": np.array([0.5, -0.5]),
        "output_gate": np.array([0.7, 0.6]),
        "cell": np.array([0.1, 0.9 * 0.1 + 0.4 * -0.5]),
        "hidden": np.array([0.7 * np.tanh(0.1), 0.6 * np.tanh(-0.11)]),
    }
    lines = lecture.written_update("lstm", lecture.unit_step(series, 1, unit=3))
    # each row of the derivation on a line of its own, the result last
    assert r"&= 0.900 \cdot (0.100) + 0.400 \cdot (-0.500) \\ &= -0.110\end{aligned}" in lines[0]
    assert lines[1].endswith(f"&= {0.6 * np.tanh(-0.11):.3f}\\end{{aligned}}")


def test_written_gru_update_uses_the_previous_hidden_state():
    series = {
        "reset_gate": np.array([0.3, 0.6]),
        "update_gate": np.array([0.5, 0.25]),
        "new_gate": np.array([0.2, -0.4]),
        "hidden": np.array([0.1, 0.75 * -0.4 + 0.25 * 0.1]),
    }
    line = lecture.written_update("gru", lecture.unit_step(series, 1, unit=0))[0]
    assert r"(1 - 0.250) \cdot (-0.400) + 0.250 \cdot (0.100) \\ &= -0.275" in line


def test_pca_projection_recovers_a_planted_plane():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(30, 2)) * [3.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0].T  # 2 orthonormal directions in 6-D
    states = plane @ basis + 0.5
    projection = fit_pca(states)
    assert projection.explained[0] + projection.explained[1] == pytest.approx(1.0, abs=1e-9)
    projected = projection.apply(states)
    # distances are preserved: the projection is onto the plane that holds the points
    original = np.linalg.norm(states[:, None] - states[None], axis=-1)
    kept = np.linalg.norm(projected[:, None] - projected[None], axis=-1)
    np.testing.assert_allclose(kept, original, atol=1e-9)


def test_difference_heatmap_aligns_sentences_at_the_end():
    first = np.arange(10, dtype=np.float32).reshape(5, 2)  # "the movie was not good"
    second = np.ones((4, 2), dtype=np.float32)  # "the movie was good"
    labels_1 = figures.token_labels(["the", "movie", "was", "not", "good"])
    labels_2 = figures.token_labels(["the", "movie", "was", "good"])
    figure = figures.difference_heatmap(first, second, labels_1, labels_2, "hidden", align="end")
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), (second - first[1:]).T)
    assert figure.data[0].x[-1].startswith("good vs good")
    start = figures.difference_heatmap(first, second, labels_1, labels_2, "hidden", align="start")
    np.testing.assert_array_equal(np.asarray(start.data[0].z), (second - first[:4]).T)


def test_heatmap_csv_has_a_row_per_shown_unit_and_a_column_per_token():
    values = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32)  # [time, units]
    rows = list(csv.reader(io.StringIO(heatmap_csv(values, ["a", "b"], np.array([2, 0])))))
    assert rows[0] == ["unit", "0:a", "1:b"]
    assert rows[1] == ["2", "0.3", "0.6"] and rows[2] == ["0", "0.1", "0.4"]


def test_coloured_text_escapes_markup_and_marks_every_token():
    html_text = figures.coloured_tokens_html(
        ["<img src=x onerror=alert(1)>", "ok"],
        np.array([0.5, -0.5]),
        figures.ColourScale("RdBu_r", -1, 1),
    )
    assert "<img" not in html_text and "&lt;img" in html_text and html_text.count("<span") == 2


def test_clickable_heatmap_has_one_transparent_marker_per_cell():
    """Performance guard as much as behaviour: one invisible marker is drawn (maxdisplayed), while
    every cell keeps a point to hover and click."""
    figure = figures.quantity_heatmap(
        np.zeros((3, 4)), figures.token_labels(["a", "b", "c"]), "hidden", clickable=True
    )
    markers = figure.data[1]
    assert len(markers.x) == 12 and markers.marker.opacity == 0
    assert (
        markers.marker.maxdisplayed == 1
    )  # one SVG node drawn, not one per cell; hover searches all
    assert set(markers.x) == set(figure.data[0].x)
    assert {str(unit) for unit in markers.y.tolist()} == set(figure.data[0].y)  # looked up by text
