"""The lecture's pieces off the default path: a backward reading's prediction, the reading line of a
long text, the cell diagrams of every cell kind, the bidirectional reading, and the Lab's wording."""

from __future__ import annotations

import numpy as np
import pytest

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.lecture import class_probabilities_per_suffix, reading_order

# the names the Lab view itself reads (the training package's modules are being regrouped)
from rnnviz.app.views.lab import LabConfig, Progress, outcome_message
from rnnviz.app.views.lecture import reading_line_html, reading_window
from rnnviz.figures.lecture import cell_diagram, concatenated_reading, shown_value

TEXT = "the movie was not good at all"


@pytest.mark.parametrize("name", ["sst2-bilstm", "sst2-lstm", "agnews-rnn"])
def test_the_prediction_on_each_suffix_is_the_model_run_on_that_text_alone(name):
    model = rnnviz.load(name)
    tokens = model.encode(TEXT).tokens
    suffixes = class_probabilities_per_suffix(model.module, list(model.encode(TEXT).ids))
    for t in range(len(tokens)):
        alone = inspect_text(model, " ".join(tokens[t:])).predictions[-1]  # its own single run
        np.testing.assert_allclose(suffixes[t], alone, atol=1e-5)


def test_a_backward_reading_order_starts_at_the_last_token():
    assert reading_order(4, "forward") == [0, 1, 2, 3]
    assert reading_order(4, "backward") == [3, 2, 1, 0]


@pytest.mark.parametrize("step", [0, 17, 59])
def test_a_long_reading_line_shows_a_window_around_the_current_token_within_its_limit(step):
    tokens = [f"w{k}" for k in range(60)]
    width = [len(token) + 1 for token in tokens]  # a word and its space
    window = reading_window(tokens, step, characters=False, limit=40)
    used = sum(width[t] for t in window)
    assert step in window and used <= 40
    for neighbour in (window.start - 1, window.stop):  # as many as fit: one more would not
        assert not 0 <= neighbour < len(tokens) or used + width[neighbour] > 40
    line = reading_line_html(tokens, step, "forward", characters=False, limit=40)
    assert line.count('class="current"') == 1 and f">w{step}<" in line
    assert ("…" in line.split("</small>")[1][:40]) == (window.start > 0)
    assert reading_window(tokens[:5], 2, characters=False, limit=40) == range(5)  # fits: all of it


def test_numbers_in_the_diagram_never_read_minus_zero():
    assert shown_value(-0.004) == "0.00" and shown_value(0.004) == "0.00"
    assert shown_value(-0.5) == "−0.50" and shown_value(0.126) == "0.13"


def _arrows(figure) -> list[tuple[float, float, float, float]]:
    return [(a.ax, a.ay, a.x, a.y) for a in figure.layout.annotations if a.showarrow]


def _boxes(figure) -> list[tuple[float, float, float, float]]:
    return [(s.x0, s.y0, s.x1, s.y1) for s in figure.layout.shapes]


def _crosses(segment, box, margin=0.02) -> bool:
    """Whether a segment passes through the inside of a box (sampled along its length)."""
    (x0, y0, x1, y1), (left, bottom, right, top) = segment, box
    for s in np.linspace(0, 1, 200):
        x, y = x0 + s * (x1 - x0), y0 + s * (y1 - y0)
        if left + margin < x < right - margin and bottom + margin < y < top - margin:
            return True
    return False


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_no_arrow_of_a_cell_diagram_runs_through_a_box(cell):
    figure = cell_diagram(cell, {}, "token 0")
    arrows, boxes = _arrows(figure), _boxes(figure)
    assert arrows
    for arrow in arrows:
        assert not any(_crosses(arrow, box) for box in boxes), (cell, arrow)


def test_the_rnn_diagram_has_no_gates_and_says_so():
    values = {"hidden": (0.1, -0.5), "previous": (0.0, 0.25)}
    figure = cell_diagram("rnn_tanh", values, "token 3", token="not")
    texts = " ".join(a.text for a in figure.layout.annotations if a.text)
    assert "gates read" not in texts and "no gates" in texts
    assert "tanh" in texts and "not" in texts and "unit −0.50" in texts and "unit 0.25" in texts
    # x_t and h_{t−1} go into tanh, tanh goes into h_t
    assert len(_arrows(figure)) == 3
    assert "the gates read" in " ".join(
        a.text for a in cell_diagram("gru", {}, "t").layout.annotations if a.text
    )


def test_the_concatenated_reading_is_complete_only_where_both_directions_have_read():
    forward, backward = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), -np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    # step 1: forward has read tokens 0, 1; backward tokens 3, 4
    figure = concatenated_reading(forward, backward, 2, 3, list("abcde"), 7, "layer 1 reads")
    states, complete = figure.data[0], figure.data[1]
    backward_row, forward_row = np.array(states.z, dtype=float)
    np.testing.assert_array_equal(np.isfinite(forward_row), [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(np.isfinite(backward_row), [0, 0, 0, 1, 1])
    assert not np.isfinite(np.array(complete.z, dtype=float)).any()
    # step 3: both have passed tokens 1, 2, 3
    figure = concatenated_reading(forward, backward, 4, 1, list("abcde"), 7, "layer 1 reads")
    np.testing.assert_array_equal(
        np.isfinite(np.array(figure.data[1].z[0], dtype=float)), [0, 1, 1, 1, 0]
    )


def test_a_lab_run_that_used_its_step_budget_names_the_steps_once():
    done = Progress(LabConfig(), step=2000, seconds=17.2, state="done", reason="reached 2000 steps")
    assert outcome_message(done) == "Done: reached 2000 steps in 17.2 s; held-out accuracy –."


def test_plain_words_never_read_minus_zero():
    from rnnviz.analysis.lecture import gate_sentences, unit_step

    series = {"hidden": np.array([-0.001, 0.3])}
    assert "= 0.00;" in gate_sentences("rnn_tanh", unit_step(series, 1, 0))[0]
