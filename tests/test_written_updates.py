"""Every written update adds up, in both directions of every bundled cell type, and the backward
direction starts from the state at t + 1."""

from __future__ import annotations

import numpy as np
import pytest
from arithmetic import check_written_update, previous_index

import rnnviz
from rnnviz.analysis import lecture
from rnnviz.analysis.inspection import inspect_text

TEXT = "the movie was not good at all"
MODELS = ["sst2-lstm", "sst2-gru", "sst2-rnn", "sst2-bilstm"]


@pytest.fixture(scope="module", params=MODELS)
def run(request):
    return inspect_text(rnnviz.load(request.param), TEXT)


def test_each_written_update_evaluates_to_its_shown_result_and_names_the_state_it_started_from(run):
    record = run.recurrent_call
    directions = ["forward", "backward"] if record.bidirectional else ["forward"]
    last = len(run.tokens) - 1
    for layer in range(record.num_layers):
        for direction in directions:
            for unit in (0, 5, 17):
                series = {q: run.states(layer, direction, q)[:, unit] for q in record.quantities}
                for step in range(len(run.tokens)):
                    moment = lecture.unit_step(series, step, unit, direction)
                    lines = lecture.written_update(record.cell_kind, moment)
                    previous = check_written_update(record.cell_kind, lines)
                    expected_index = step - 1 if direction == "forward" else step + 1
                    assert previous_index(lines[0]) == expected_index
                    quantity = "cell" if record.cell_kind == "lstm" else "hidden"
                    at_start = (direction == "forward" and step == 0) or (
                        direction == "backward" and step == last
                    )
                    expected = 0.0 if at_start else series[quantity][expected_index]
                    assert list(previous.values())[0] == pytest.approx(expected, abs=5e-4)


def test_the_backward_update_of_the_issue_adds_up():
    """sst2-bilstm, layer 1, backward, unit 17 (the case that summed to 0.0487 but showed 0.045)."""
    run = inspect_text(rnnviz.load("sst2-bilstm"), "the movie was not good")
    series = {q: run.states(1, "backward", q)[:, 17] for q in run.recurrent_call.quantities}
    lines = lecture.written_update("lstm", lecture.unit_step(series, 3, 17, "backward"))
    assert "c_{4}" in lines[0] and "c_{2}" not in lines[0]
    check_written_update("lstm", lines)


def test_plain_words_say_what_each_gate_does_with_its_number():
    series = {
        "forget_gate": np.array([0.5, 0.05]),
        "input_gate": np.array([0.2, 0.77]),
        "cell_gate": np.array([0.5, -0.5]),
        "output_gate": np.array([0.7, 0.6]),
        "cell": np.array([0.1, -0.4]),
        "hidden": np.array([0.07, -0.23]),
    }
    lines = lecture.gate_sentences("lstm", lecture.unit_step(series, 1, 0))
    assert lines[0] == "**f = 0.05**: keeps 5% of the old cell state c₀"
    assert "writes 77% of the candidate g = -0.50" in lines[1]
