"""What issue 20 found off the default path, as properties of the figures and the page: the selected
unit's row always labelled, curves whose token labels never print on top of each other, token labels
whole, and untrained weights drawn on the trained run's colour ranges with the trained run's unit."""

from __future__ import annotations

import numpy as np
from test_app import colour_range, heatmaps, page

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.ordering import busiest_unit
from rnnviz.figures import (
    class_probability_figure,
    comparison_figure,
    quantity_grid,
    quantity_heatmap,
    token_labels,
)
from rnnviz.figures.heatmaps import unit_ticks


def test_unit_ticks_always_name_the_selected_unit_and_never_crowd_it():
    units = [str(u) for u in range(63)] + ["65"]
    ticks = unit_ticks(units, (0, 65), plot_px=330, font_size=14)
    rows = [units.index(name) for name in ticks["tickvals"]]
    assert "65" in ticks["tickvals"] and ticks["tickvals"] == ticks["ticktext"]
    every = int(np.ceil(64 * 14 * 1.2 / 330))
    assert every > 1  # the case of the issue: the axis labels every few rows
    assert all(b - a >= every for a, b in zip(rows, rows[1:]))  # at least a label's height apart


def test_grids_and_the_inspector_label_the_selected_units_row():
    rng = np.random.default_rng(0)
    values = {q: rng.uniform(-1, 1, size=(5, 256)) for q in ("input_gate", "cell", "hidden")}
    labels = token_labels(["the", "movie", "was", "not", "good"])
    order = np.array(list(range(63)) + [65])
    for arrangement in ("side by side", "stacked"):
        grid = quantity_grid(
            values, labels, "lstm", order, selected=(3, 65), arrangement=arrangement
        )
        assert "65" in grid.layout.yaxis.tickvals, arrangement
    one = quantity_heatmap(values["hidden"], labels, "hidden", "lstm", order, selected=(3, 65))
    assert "65" in one.layout.yaxis.tickvals


def test_curves_over_the_same_tokens_name_them_once_and_others_on_opposite_sides():
    labels = token_labels(["the", "movie", "was", "not", "good"])
    same = comparison_figure(
        [("as trained", np.linspace(0, 1, 5), labels), ("edited", np.linspace(1, 0, 5), labels)],
        "negative",
    )
    assert all("text" not in trace.mode for trace in same.data)  # no "not/not" over the points
    assert list(same.layout.xaxis.ticktext) == ["the", "movie", "was", "not", "good"]
    other = token_labels(["the", "movie", "was", "good"])
    different = comparison_figure(
        [("first", np.full(5, 0.5), labels), ("second", np.full(4, 0.5), other)], "negative"
    )
    assert [t.textposition for t in different.data] == ["top center", "bottom center"]


def test_long_token_labels_stand_upright_inside_a_margin_sized_for_the_longest():
    words = ["rebels", "agree", "to", "ceasefire", "talks"] * 8
    figure = class_probability_figure(
        np.full((40, 4), 0.25), token_labels(words), ["World", "Sports", "Business", "Sci/Tech"]
    )
    axis = figure.layout.xaxis
    assert axis.tickangle == -90 and axis.title.text is None  # no title drawn over the labels
    # the longest label fits whole: Chromium draws this font's lower case ~0.47 of its size wide
    assert figure.layout.margin.b >= len("ceasefire") * axis.tickfont.size * 0.5
    short = class_probability_figure(
        np.full((5, 2), 0.5), token_labels(["the", "movie", "was", "not", "good"]), ["n", "p"]
    )
    assert short.layout.xaxis.tickangle == 0 and short.layout.xaxis.title.text == "token"


def test_untrained_weights_keep_the_trained_colour_ranges_and_unit():
    text = "the movie was not good"
    trained_run = inspect_text(rnnviz.load("sst2-lstm"), text)
    expected_unit = busiest_unit(trained_run.states(0, "forward", "cell"))
    trained = page(text=text)
    untrained = page(text=text, weights="untrained", seed="0")
    assert untrained.session_state["unit"] == trained.session_state["unit"] == expected_unit
    ranges = [
        {panel["title"]: colour_range(panel) for panel in heatmaps(at)}
        for at in (trained, untrained)
    ]
    assert ranges[0] == ranges[1]
    bound = float(np.abs(trained_run.states(0, "forward", "cell")).max())
    assert ranges[1]["cell state c"] == (
        -bound,
        bound,
    )  # the trained run's, not the untrained one's


def test_the_lecture_under_untrained_weights_keeps_the_trained_unit_and_says_why():
    text = "the movie was not good"
    trained_run = inspect_text(rnnviz.load("sst2-lstm"), text)
    expected_unit = busiest_unit(trained_run.states(0, "forward", "cell"))
    untrained = page(text=text, view="lecture", weights="untrained", seed="0")
    assert untrained.session_state["unit"] == expected_unit
    captions = [c.value for c in untrained.caption]
    assert any(
        f"Unit {expected_unit} is shown" in c and "under the trained weights" in c for c in captions
    )
