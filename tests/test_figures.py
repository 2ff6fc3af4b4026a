"""Figure builders give heatmaps whose colours mean the same thing in every sentence."""

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest

from rnnviz.analysis.gradients import GradientFlow
from rnnviz.display import token_display
from rnnviz.figures import (
    GRID_GAP_COLUMNS,
    LABELS,
    NEXT_TOKENS_GROUP,
    PLOT_DECIMALS,
    PREDICTIONS_GROUP,
    SYMBOLS,
    ClassPredictions,
    NextTokens,
    class_probability_figure,
    clicked_cell,
    colour_scale,
    comparison_figure,
    difference_heatmap,
    grid_arrangement,
    next_token_figure,
    quantity_grid,
    quantity_heatmap,
    shares_token_axis,
    token_labels,
    unit_timeline,
)
from rnnviz.figures.gradients import flow_lines


@pytest.mark.parametrize(
    "gate", ["input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate"]
)
def test_sigmoid_gates_use_a_fixed_zero_to_one_range(gate):
    scale = colour_scale(gate, np.array([[0.2, 0.3]]))
    assert (scale.zmin, scale.zmax) == (0.0, 1.0)


@pytest.mark.parametrize("quantity", ["cell_gate", "new_gate", "hidden"])
def test_tanh_quantities_are_centred_on_zero_from_minus_one_to_one(quantity):
    scale = colour_scale(quantity, np.array([[0.1, -0.05]]), cell_kind="lstm")
    assert (scale.zmin, scale.zmax) == (-1.0, 1.0)


def test_cell_state_range_is_symmetric_around_zero_and_covers_the_values():
    scale = colour_scale("cell", np.array([[0.5, -3.25, np.nan]]))
    assert (scale.zmin, scale.zmax) == (-3.25, 3.25)


def test_relu_hidden_state_is_non_negative_scale():
    scale = colour_scale("hidden", np.array([[0.0, 7.5]]), cell_kind="rnn_relu")
    assert (scale.zmin, scale.zmax) == (0.0, 7.5)


def test_heatmap_has_one_column_per_token_and_one_row_per_unit_in_the_chosen_order():
    values = np.arange(12, dtype=np.float32).reshape(4, 3) / 12  # [time, units]
    labels = token_labels(["a", " ", "\n", "b"], unknown=[False, False, False, True])
    figure = quantity_heatmap(values, labels, "forget_gate", unit_order=np.array([2, 0, 1]))
    heatmap = figure.data[0]
    assert list(heatmap.x) == ["a ·0", "␣ ·1", "↵ ·2", "b⟨unk⟩ ·3"]
    assert list(heatmap.y) == ["2", "0", "1"]
    np.testing.assert_array_equal(np.asarray(heatmap.z), values[:, [2, 0, 1]].T)
    assert (heatmap.zmin, heatmap.zmax) == (0.0, 1.0)


def test_token_labels_stay_unique_for_repeated_tokens():
    labels = token_labels(["the", "cat", "the"])
    assert len(set(labels)) == 3


QUANTITIES = ["input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"]


def _panels(figure) -> dict[str, dict]:
    """Each panel's traces by name, grouped by their legendgroup (the quantity)."""
    panels: dict[str, dict] = {}
    for trace in figure.data:
        panels.setdefault(trace.legendgroup, {})[
            trace.name if trace.type == "scatter" else "heatmap"
        ] = trace
    return panels


def _point(trace, i: int) -> dict:
    """Point i of `trace` as Streamlit's selection hands it back (its index and customdata included)."""
    return {"x": trace.x[i], "y": trace.y[i], "customdata": trace.customdata[i], "point_index": i}


def test_short_texts_put_every_quantity_side_by_side_on_one_pair_of_axes():
    rng = np.random.default_rng(0)
    tokens = 4
    values = {
        q: rng.uniform(-2, 2, size=(tokens, 5)).astype(np.float32) for q in QUANTITIES
    }  # [time, units]
    labels = token_labels(["not", "so", "good", "!"])
    order = np.array([4, 0, 2])
    figure = quantity_grid(values, labels, "lstm", order, selected=(2, 0), clickable=True)
    assert {(t.xaxis, t.yaxis) for t in figure.data} == {
        ("x", "y")
    }  # one subplot: the browser pays per axis
    assert [a.text for a in figure.layout.annotations] == [LABELS[q] for q in QUANTITIES]
    panels = _panels(figure)
    assert list(panels) == QUANTITIES
    assert list(figure.layout.xaxis.ticktext) == ["not", "so", "good", "!"] * 6
    assert figure.layout.xaxis.range == (-0.5, 6 * tokens + 5 * GRID_GAP_COLUMNS - 0.5)
    assert list(figure.layout.yaxis.categoryarray) == ["4", "0", "2"]
    for k, quantity in enumerate(QUANTITIES):
        heatmap, cells, selected = (
            panels[quantity]["heatmap"],
            panels[quantity]["cells"],
            panels[quantity]["selected"],
        )
        np.testing.assert_array_equal(np.asarray(heatmap.z), values[quantity][:, order].T)
        # panel k's columns are numbers of its own, after k panels and their gaps; ticks name their tokens
        first = k * (tokens + GRID_GAP_COLUMNS)
        assert list(heatmap.x) == list(range(first, first + tokens))
        assert [
            figure.layout.xaxis.ticktext[list(figure.layout.xaxis.tickvals).index(x)]
            for x in heatmap.x
        ] == ["not", "so", "good", "!"]
        assert list(heatmap.y) == ["4", "0", "2"]
        # every hover names this panel's quantity and shows this panel's value: the click layer answers
        # them all, the heatmap none (it would answer with no token name)
        assert heatmap.hoverinfo == "skip"
        assert (
            cells.hovertemplate.startswith(LABELS[quantity])
            and "%{customdata:.3f}" in cells.hovertemplate
        )
        assert (
            len(cells.x) == tokens * 3
            and set(cells.x.tolist()) == set(heatmap.x)
            # unit ids as numbers: the category axis looks each one up by its text
            and {str(unit) for unit in cells.y.tolist()} == set(heatmap.y)
        )
        assert clicked_cell({"customdata": list(selected.customdata[0])}, tokens, order) == (2, 0)
        for i in (
            0,
            4,
            len(cells.x) - 1,
        ):  # the click layer covers the panel row by row, each point carrying its value
            step, unit = i % tokens, int(order[i // tokens])
            assert clicked_cell(_point(cells, i), tokens, order) == (step, unit)
            assert cells.customdata[i] == pytest.approx(values[quantity][step, unit])
        scale = colour_scale(quantity, values[quantity])
        assert (figure.layout[heatmap.coloraxis].cmin, figure.layout[heatmap.coloraxis].cmax) == (
            scale.zmin,
            scale.zmax,
        )
    columns_of = [set(panels[q]["heatmap"].x) for q in QUANTITIES]
    assert all(not (a & b) for i, a in enumerate(columns_of) for b in columns_of[i + 1 :]), (
        "panels never overlap"
    )
    # a point of no click layer (a prediction curve, a heatmap) is no cell, nor is one past the rows
    assert clicked_cell({"x": 4, "y": "4", "point_index": 2}, tokens, order) is None
    assert clicked_cell({"customdata": 0.5, "point_index": 3 * tokens}, tokens, order) is None
    # Panels with the same colour meaning share one colour axis and bar: σ gates, tanh (g and h), c.
    assert _shared_colour_axes(figure, panels) == [
        ["input_gate", "forget_gate", "output_gate"],
        ["cell_gate", "hidden"],
        ["cell"],
    ]


def test_longer_texts_stack_every_quantity_on_its_own_axes():
    rng = np.random.default_rng(0)
    values = {q: rng.uniform(-2, 2, size=(20, 5)).astype(np.float32) for q in QUANTITIES}
    labels = token_labels(["not", "so", "good", "!"] * 4 + ["a", "b", "c", "d"])
    order = np.array([4, 0, 2])
    figure = quantity_grid(values, labels, "lstm", order, selected=(2, 0), clickable=True)
    panels = _panels(figure)
    assert [a.text for a in figure.layout.annotations] == [LABELS[q] for q in QUANTITIES]
    for quantity in QUANTITIES:
        heatmap, cells, selected = (
            panels[quantity]["heatmap"],
            panels[quantity]["cells"],
            panels[quantity]["selected"],
        )
        np.testing.assert_array_equal(np.asarray(heatmap.z), values[quantity][:, order].T)
        assert list(heatmap.y) == ["4", "0", "2"] and list(heatmap.x) == labels
        assert {(t.xaxis, t.yaxis) for t in (cells, selected)} == {(heatmap.xaxis, heatmap.yaxis)}
        assert clicked_cell({"customdata": list(selected.customdata[0])}, len(labels), order) == (
            2,
            0,
        )
        assert set(cells.x) == set(labels) and {str(u) for u in cells.y.tolist()} == {"4", "0", "2"}
        assert clicked_cell(_point(cells, 5), len(labels), order) == (
            5,
            4,
        ) and cells.hovertemplate.startswith(LABELS[quantity])
    # three rows of two panels (up to 20 tokens); the first column of panels labels its unit axis
    assert {panels[q]["heatmap"].xaxis for q in QUANTITIES} == {"x", "x2", "x3", "x4", "x5", "x6"}
    assert figure.layout.yaxis.title.text == "unit" and figure.layout.yaxis3.title.text == "unit"
    # each colour bar stands just right of the last panel it colours, as tall as that panel
    shared = _shared_colour_axes(figure, panels)
    assert shared == [
        ["input_gate", "forget_gate", "output_gate"],
        ["cell_gate", "hidden"],
        ["cell"],
    ]
    for quantities in shared:
        last = panels[quantities[-1]]["heatmap"]
        bar = figure.layout[last.coloraxis].colorbar
        x_axis, y_axis = (
            figure.layout["xaxis" + last.xaxis[1:]],
            figure.layout["yaxis" + last.yaxis[1:]],
        )
        assert bar.x == pytest.approx(x_axis.domain[1] + 0.005)
        assert bar.len == pytest.approx(y_axis.domain[1] - y_axis.domain[0])


def test_past_forty_tokens_the_panels_stack_one_to_a_row_each_writing_the_tokens_under_itself():
    values = {q: np.zeros((50, 3)) for q in QUANTITIES}
    labels = token_labels(["a"] * 50)
    figure = quantity_grid(values, labels)
    panels = _panels(figure)
    axes = [panels[q]["heatmap"].xaxis for q in QUANTITIES]
    assert axes == ["x", "x2", "x3", "x4", "x5", "x6"]
    assert [panels[q]["heatmap"].yaxis for q in QUANTITIES] == ["y", "y2", "y3", "y4", "y5", "y6"]
    for k, axis in enumerate(axes):  # one token axis, drawn under every panel
        layout_axis = figure.layout["xaxis" + axis[1:]]
        assert layout_axis.anchor == "y" + axis[1:] and layout_axis.domain == (0.0, 1.0)
        assert layout_axis.matches == (None if k == 0 else "x")
    tops = [figure.layout["yaxis" + panels[q]["heatmap"].yaxis[1:]].domain[1] for q in QUANTITIES]
    assert tops == sorted(tops, reverse=True)  # in the lecture's reading order, top down


def test_past_two_hundred_tokens_one_token_axis_is_labelled_under_the_last_panel():
    values = {q: np.zeros((250, 3)) for q in QUANTITIES}
    figure = quantity_grid(values, token_labels(["a"] * 250))
    panels = _panels(figure)
    assert {panels[q]["heatmap"].xaxis for q in QUANTITIES} == {"x"}
    assert figure.layout.xaxis.anchor == "y6"
    assert not [
        k for k in figure.to_plotly_json()["layout"] if k.startswith("xaxis") and k != "xaxis"
    ]


def test_past_twenty_tokens_a_language_models_top_k_table_is_the_grids_first_row_on_its_token_axis():
    rng = np.random.default_rng(3)
    tokens, vocabulary = 50, ["a", "b", " ", "\n", "c", "d", "e"]
    distribution = rng.dirichlet(np.ones(len(vocabulary)), size=tokens)  # [time, vocabulary]
    values = {q: rng.normal(size=(tokens, 3)) for q in QUANTITIES}
    figure = quantity_grid(
        values,
        token_labels(list("ab c\nd" * 9)[:tokens]),
        next_tokens=NextTokens(distribution, vocabulary, k=5),
    )
    panels = _panels(figure)
    table = panels[NEXT_TOKENS_GROUP]["heatmap"]
    assert table is figure.data[0]
    table_x = figure.layout["xaxis" + table.xaxis[1:]]
    assert (
        table_x.matches == "x" and table_x.anchor == table.yaxis
    )  # the characters it follows, under it
    table_axis = figure.layout["yaxis" + table.yaxis[1:]]
    assert list(table.y) == ["#1", "#2", "#3", "#4", "#5"] and table_axis.range == (
        4.5,
        -0.5,
    )  # likeliest on top
    assert table_axis.domain[0] > max(
        figure.layout["yaxis" + panels[q]["heatmap"].yaxis[1:]].domain[1] for q in QUANTITIES
    )
    # column t: the five likeliest next tokens after position t and their probabilities, likeliest first
    expected_p = -np.sort(-distribution, axis=1)[:, :5].T
    np.testing.assert_array_equal(np.asarray(table.z), expected_p)
    t = 7
    top = np.argsort(-distribution[t])[:5]
    assert [row[t] for row in table.text] == [token_display(vocabulary[i]) for i in top]
    assert figure.layout[table.coloraxis].colorbar.title.text == "p"
    assert figure.layout[table.coloraxis].cmin == 0 and figure.layout[table.coloraxis].cmax == 1


def test_the_top_k_table_joins_only_a_grid_whose_panels_share_the_token_axis():
    assert (
        shares_token_axis(21, 6) and not shares_token_axis(20, 6) and not shares_token_axis(12, 6)
    )
    assert not shares_token_axis(
        41, 1
    )  # a vanilla RNN's one panel stands side by side up to 80 tokens
    values = {q: np.zeros((12, 3)) for q in QUANTITIES}
    with pytest.raises(ValueError, match="token axis"):
        quantity_grid(
            values,
            token_labels(["a"] * 12),
            next_tokens=NextTokens(np.full((12, 4), 0.25), list("abcd")),
        )


# side by side; two panels to a row; one to a row; one token axis under the last panel
@pytest.mark.parametrize("tokens", [12, 16, 30, 250])
def test_a_classifiers_curves_are_the_grids_first_row_in_the_models_class_order(tokens):
    rng = np.random.default_rng(tokens)
    classes = ["World", "Sports", "Business", "Sci/Tech"]
    probabilities = rng.dirichlet(np.ones(len(classes)), size=tokens)
    labels = token_labels(["w"] * tokens)
    values = {q: rng.normal(size=(tokens, 3)) for q in QUANTITIES}
    figure = quantity_grid(values, labels, predictions=ClassPredictions(probabilities, classes))

    curves = [t for t in figure.data if t.legendgroup == PREDICTIONS_GROUP]
    assert [c.name for c in curves] == classes  # never re-sorted by probability
    for k, curve in enumerate(curves):
        assert list(curve.x) == labels
        np.testing.assert_allclose(curve.y, probabilities[:, k], atol=10**-PLOT_DECIMALS)
    axis = lambda name: figure.layout["yaxis" + name[1:]]  # noqa: E731
    panel_tops = [axis(t.yaxis).domain[1] for t in figure.data if t.type == "heatmap"]
    assert axis(curves[0].yaxis).domain[1] == 1.0
    assert axis(curves[0].yaxis).domain[0] > max(panel_tops)  # above every panel
    (title,) = [a.text for a in figure.layout.annotations if a.text.startswith("prediction after")]
    last = probabilities[-1]
    assert f"<b>{classes[last.argmax()]} ({last.max():.1%})</b>" in title
    assert all(
        f"━ {name}</span>" in title for name in classes
    )  # each class's colour, as the grid has no legend
    if tokens > 20:  # on the panels' token axis, where they share one
        x_axis = curves[0].xaxis
        assert x_axis == "x" or figure.layout["xaxis" + x_axis[1:]].matches == "x"


def test_a_grids_first_row_is_the_top_k_table_or_the_class_curves_not_both():
    values = {q: np.zeros((30, 3)) for q in QUANTITIES}
    with pytest.raises(ValueError, match="either"):
        quantity_grid(
            values,
            token_labels(["a"] * 30),
            next_tokens=NextTokens(np.full((30, 4), 0.25), list("abcd")),
            predictions=ClassPredictions(np.full((30, 2), 0.5), ["negative", "positive"]),
        )


def _shared_colour_axes(figure, panels) -> list[list[str]]:
    """Quantities grouped by the colour axis they share, each bar titled with their symbols."""
    shared: dict[str, list[str]] = {}
    for quantity, traces in panels.items():
        shared.setdefault(traces["heatmap"].coloraxis, []).append(quantity)
    for name, quantities in shared.items():
        assert figure.layout[name].colorbar.title.text == ", ".join(SYMBOLS[q] for q in quantities)
    return list(shared.values())


def test_grid_puts_short_texts_side_by_side_and_longer_ones_stacked():
    assert grid_arrangement(12, 6) == "side by side"  # the 12-word sentence: 72 columns across
    assert grid_arrangement(14, 6) == "stacked"
    assert grid_arrangement(40, 1) == "side by side"  # a vanilla RNN has one panel


@pytest.mark.parametrize(
    "build",
    [
        lambda v, labels: quantity_heatmap(
            v["cell"], labels, "cell", selected=(1, 2), clickable=True
        ),
        lambda v, labels: quantity_grid(
            v, labels, "lstm", np.array([3, 1]), selected=(0, 1), clickable=True
        ),
        lambda v, labels: quantity_grid(
            v,
            labels,
            "lstm",
            predictions=ClassPredictions(np.full((3, 2), 0.5), ["negative", "positive"]),
        ),
        lambda v, labels: class_probability_figure(
            np.full((3, 2), 0.5), labels, ["negative", "positive"]
        ),
        lambda v, labels: next_token_figure(
            np.full((3, 4), 0.25), labels, ["a", "b", " ", "\n"], k=2
        ),
        lambda v, labels: unit_timeline({q: v[q][:, 0] for q in v}, labels, 2, step=1),
        lambda v, labels: comparison_figure(
            [("first", np.full(3, 0.4), labels), ("second", np.full(3, 0.6), labels)], "positive"
        ),
        lambda v, labels: comparison_figure(
            [("first", np.full(3, 0.4), labels), ("second", np.full(2, 0.6), labels[:2])], "pos"
        ),
        lambda v, labels: difference_heatmap(v["cell"], v["hidden"], labels, labels, "hidden"),
        lambda v, labels: flow_lines(
            GradientFlow(
                output="p(positive)",
                output_value=0.5,
                rows=("layer0.forward",),
                grad_hidden=v["hidden"][None],
                grad_cell=v["cell"][None],
                last_state_dependence=np.ones((1, 3)),
                reproduction_error=0.0,
            ),
            labels,
        ),
    ],
    ids=[
        "one heatmap",
        "grid",
        "grid with class curves",
        "class probabilities",
        "next-token table",
        "unit timeline",
        "comparison, same tokens",
        "comparison, other texts",
        "difference heatmap",
        "gradient lines",
    ],
)
def test_specs_built_without_validation_are_valid_plotly(build):
    """Performance guard: the app's busiest figure builders skip plotly.py's slow validation, so check
    here what it would have said."""
    rng = np.random.default_rng(1)
    values = {q: rng.normal(size=(3, 4)) for q in ["forget_gate", "cell", "hidden"]}
    figure = build(values, token_labels(["a", "b", "c"]))
    validated = go.Figure(figure.to_dict())  # raises ValueError on any invalid property or value
    assert len(validated.data) == len(figure.data)
    for trace in validated.data:
        if trace.type == "heatmap":
            colours = (
                trace.colorscale
                if trace.coloraxis is None
                else validated.layout[trace.coloraxis].colorscale
            )
            assert colours[0][0] == 0.0 and colours[-1][0] == 1.0


def _typed_arrays(value) -> int:
    if isinstance(value, dict):
        return ("bdata" in value) + sum(_typed_arrays(v) for v in value.values())
    return sum(_typed_arrays(v) for v in value) if isinstance(value, list) else 0


@pytest.mark.parametrize(
    "build",
    [
        lambda v, labels: quantity_grid(
            v, labels, "lstm", np.array([3, 1]), selected=(0, 1), clickable=True
        ),
        lambda v, labels: quantity_grid(
            v, labels, "lstm", None, selected=(0, 1), arrangement="stacked"
        ),
        lambda v, labels: class_probability_figure(
            np.abs(v["cell"][:, :2]), labels, ["negative", "positive"]
        ),
        lambda v, labels: next_token_figure(np.abs(v["cell"]), labels, ["a", "b", " ", "\n"], k=2),
    ],
    ids=["grid side by side", "grid stacked", "class probabilities", "next-token table"],
)
def test_charts_drawn_without_streamlit_theme_reach_plotly_js_as_the_same_data_on_every_redraw(
    build,
):
    """Performance guard (bench/bench_app.py measures why). Streamlit hands these to plotly.js twice per
    new chart (newPlot, then react with a copy): no template,
    no typed arrays and a fixed datarevision let plotly.js read the copy as unchanged (see PlainFigure)."""
    rng = np.random.default_rng(2)
    values = {q: rng.normal(size=(3, 4)) for q in ["forget_gate", "cell", "hidden"]}
    spec = json.loads(
        plotly.io.to_json(build(values, token_labels(["a", "b", "c"])), validate=False)
    )  # as Streamlit does
    assert "template" not in spec["layout"]
    assert _typed_arrays(spec) == 0
    assert spec["layout"]["datarevision"] == 1
    assert (
        spec["layout"]["paper_bgcolor"] == "white" and spec["layout"]["font"]["color"] == "#31333F"
    )
    for trace in spec["data"]:
        key = {"heatmap": "z", "scatter": "y" if trace.get("mode") == "lines+markers" else None}[
            trace["type"]
        ]
        if key:
            numbers = np.asarray(trace[key], dtype=np.float64)
            np.testing.assert_array_equal(numbers, np.round(numbers, PLOT_DECIMALS))


@pytest.mark.parametrize("arrangement", ["side by side", "stacked"])
def test_a_plain_figure_serialises_the_same_spec_before_and_after_plotly_builds_its_objects(
    arrangement,
):
    """The page serialises a figure without building plotly.py's objects; reading or changing it builds
    them, and what reaches the browser is the same either way."""
    rng = np.random.default_rng(4)
    values = {q: rng.normal(size=(5, 4)).astype(np.float32) for q in QUANTITIES}
    probabilities = rng.dirichlet(np.ones(2), size=5)

    def build():
        return quantity_grid(
            values,
            token_labels(list("abcde")),
            "lstm",
            np.array([3, 1, 0]),
            selected=(1, 3),
            clickable=True,
            arrangement=arrangement,
            predictions=ClassPredictions(probabilities, ["neg", "pos"]),
        )

    unbuilt, built = build(), build()
    assert len(built.data) == len(unbuilt.to_dict()["data"])  # reading `data` builds `built`
    assert plotly.io.to_json(unbuilt, validate=False) != ""  # Streamlit's call, on the unbuilt one
    assert unbuilt.to_dict() == built.to_dict()
    built.update_layout(height=600)  # a change after building reaches the spec
    assert built.to_dict()["layout"]["height"] == 600


def test_grid_values_are_the_recorded_ones_as_the_hover_shows_them():
    values = {"hidden": np.array([[0.12345678, -0.98765], [0.5, 0.0004999]], dtype=np.float32)}
    spec = json.loads(
        plotly.io.to_json(quantity_grid(values, token_labels(["a", "b"]), "lstm"), validate=False)
    )
    assert spec["data"][0]["z"] == [[0.123, 0.5], [-0.988, 0.0]]  # [unit][token]


def test_next_token_table_writes_characters_in_cells_only_while_they_are_readable():
    vocabulary = ["a", "b", " ", "\n"]
    for length, written in [(12, True), (400, False)]:
        distribution = np.random.default_rng(length).dirichlet(np.ones(4), size=length)
        figure = next_token_figure(distribution, token_labels(["a"] * length), vocabulary, k=3)
        table = figure.data[0]
        top = np.argsort(-distribution, axis=1, kind="stable")[:, :3]
        assert np.asarray(table.text).shape == (3, length)
        assert np.asarray(table.text)[0, 5] == ["a", "b", "␣", "↵"][top[5, 0]]  # still on hover
        assert (table.texttemplate == "%{text}") is written
        assert table.colorscale[0][0] == 0.0 and (table.zmin, table.zmax) == (0.0, 1.0)


def test_a_token_axis_labels_every_token_upright_until_its_columns_are_too_narrow():
    # one stacked panel spans the assumed 720 px: 41 tokens give 17.6 px columns, room for an upright
    # 11 px label each (1.5 × the font); 400 tokens give 1.8 px, so every 10th at the 11 px floor
    forty_one = quantity_grid(
        {"hidden": np.zeros((41, 3))}, token_labels(["word"] * 41), arrangement="stacked"
    )
    axis = forty_one.layout.xaxis
    assert len(axis.tickvals) == 41 and axis.tickangle == -90 and axis.tickfont.size == 11
    assert (
        list(axis.ticktext) == ["word"] * 41
    )  # the position stays in the hover, not under the column
    long_grid = quantity_grid({"hidden": np.zeros((400, 3))}, token_labels(["a"] * 400))
    long_axis = long_grid.layout.xaxis
    assert (
        long_axis.tickfont.size == 11
        and list(long_axis.tickvals) == token_labels(["a"] * 400)[::10]
    )
    assert len(long_grid.data[0].x) == 400  # every token still hoverable
    # a panel's labels get the room under it that they take: the bottom margin grows with the word
    short, long = (
        quantity_grid({"hidden": np.zeros((30, 3))}, token_labels([w] * 30), arrangement="stacked")
        for w in ("ab", "abababababababab")
    )
    assert long.layout.margin.b > short.layout.margin.b + 50
