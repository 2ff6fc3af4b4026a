"""Retention R_u[s→t] = ∏ f_{k,u} over the tokens between s and t, in the direction's reading order.

Checked against a brute-force product, and against what it means: with nothing written after
token s (input gate 0 for an LSTM, candidate 0 for a GRU), the state at t is exactly R[s→t] times
the state at s.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_capture import Config, sequences

import rnnviz
from rnnviz import Edit, RnnvizError
from rnnviz.analysis.gradients import gradient_flow
from rnnviz.analysis.inspection import inspect_text
from rnnviz.analysis.retention import (
    mean_retention,
    retention_matrices,
    rnn_state_dependence,
    text_retention,
)
from rnnviz.models.presets import VANISHING_GRADIENT_TEXT


def brute_force(gates: np.ndarray, direction: str) -> np.ndarray:
    steps, units = gates.shape
    result = np.full((units, steps, steps), np.nan)
    for u in range(units):
        for s in range(steps):
            for t in range(steps):
                if direction == "forward" and t >= s:
                    result[u, s, t] = math.prod(gates[k, u] for k in range(s + 1, t + 1))
                if direction == "backward" and t <= s:
                    result[u, s, t] = math.prod(gates[k, u] for k in range(t, s))
    return result


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_retention_matrices_equal_the_brute_force_product(direction):
    gates = np.random.default_rng(0).uniform(0.0, 1.0, size=(7, 3))
    expected = brute_force(gates, direction)
    np.testing.assert_allclose(
        retention_matrices(gates, direction), expected, rtol=1e-12, equal_nan=True
    )
    np.testing.assert_allclose(
        mean_retention(gates, direction), expected.mean(axis=0), rtol=1e-12, equal_nan=True
    )


@pytest.mark.parametrize(
    "cell, gate, silenced",
    [("lstm", "forget_gate", "input_gate"), ("gru", "update_gate", "new_gate")],
)
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_with_nothing_written_after_s_the_state_at_t_is_retention_times_the_state_at_s(
    cell, gate, silenced, direction
):
    config = Config(cell=cell, bidirectional=True)
    module = config.build()
    (seq,) = sequences(config, [8])
    s = 3
    later = slice(s + 1, None) if direction == "forward" else slice(0, s)
    state = "cell" if cell == "lstm" else "hidden"
    with (
        torch.no_grad(),
        rnnviz.capture(
            module, edits=[Edit(f"layer0.{direction}.{silenced}", steps=later, value=0.0)]
        ) as trace,
    ):
        module(seq.unsqueeze(0))
    gates = trace[f"layer0.{direction}.{gate}"][0].double().numpy()
    states = trace[f"layer0.{direction}.{state}"][0].double().numpy()
    retention = retention_matrices(gates, direction)  # [units, s, t]
    reachable = range(s, 8) if direction == "forward" else range(0, s + 1)
    for t in reachable:
        np.testing.assert_allclose(states[t], retention[:, s, t] * states[s], atol=1e-6)


def test_text_retention_of_bundled_models():
    lstm = inspect_text(rnnviz.load("sst2-lstm"), "the movie was not good")
    result = text_retention(lstm, 0, "forward", unit=17)
    forget = lstm.states(0, "forward", "forget_gate")
    assert result.gate == "rnn.layer0.forward.forget_gate" and result.tokens == tuple(lstm.tokens)
    np.testing.assert_allclose(
        result.unit_matrix, brute_force(forget[:, [17]], "forward")[0], rtol=1e-6, equal_nan=True
    )
    np.testing.assert_allclose(
        result.mean_matrix, brute_force(forget, "forward").mean(axis=0), rtol=1e-6, equal_nan=True
    )
    assert np.all(np.diag(result.mean_matrix) == 1.0)
    bilstm = inspect_text(rnnviz.load("sst2-bilstm"), "the movie was not good")
    backward = text_retention(bilstm, 1, "backward")
    assert backward.unit_matrix is None and backward.gate == "rnn.layer1.backward.forget_gate"
    assert np.isnan(backward.mean_matrix[0, 1]) and not np.isnan(backward.mean_matrix[1, 0])
    gru = inspect_text(rnnviz.load("sst2-gru"), "the movie was not good")
    assert text_retention(gru, 0, unit=0).gate == "rnn.layer0.forward.update_gate"


def test_text_retention_refuses_what_it_cannot_answer():
    rnn = inspect_text(rnnviz.load("sst2-rnn"), "good")
    with pytest.raises(RnnvizError, match="retention needs an LSTM or a GRU"):
        text_retention(rnn, 0)
    lstm = inspect_text(rnnviz.load("sst2-lstm"), "good")
    with pytest.raises(RnnvizError, match="no layer 0 backward"):
        text_retention(lstm, 0, "backward")
    with pytest.raises(RnnvizError, match="unit 256 outside 0..255"):
        text_retention(lstm, 0, unit=256)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_rnn_state_dependence_is_the_norm_of_the_jacobian_autograd_gives(nonlinearity, direction):
    torch.manual_seed(0)
    rnn = torch.nn.RNN(
        3, 5, nonlinearity=nonlinearity, bidirectional=True, batch_first=True
    ).double()
    inputs = torch.randn(1, 7, 3, dtype=torch.float64)
    suffix = "_reverse" if direction == "backward" else ""
    w_ih, w_hh = getattr(rnn, f"weight_ih_l0{suffix}"), getattr(rnn, f"weight_hh_l0{suffix}")
    bias = getattr(rnn, f"bias_ih_l0{suffix}") + getattr(rnn, f"bias_hh_l0{suffix}")
    phi = torch.tanh if nonlinearity == "tanh" else torch.relu
    with torch.no_grad():
        outputs, _ = rnn(inputs)
    hidden = outputs[0, :, :5] if direction == "forward" else outputs[0, :, 5:]
    order = range(7) if direction == "forward" else range(6, -1, -1)
    position = {t: k for k, t in enumerate(order)}

    def run_on(state: torch.Tensor, s: int, t: int) -> torch.Tensor:
        """The layer's state at t, restarted from `state` at s (steps strictly between in reading order)."""
        for k in list(order)[position[s] + 1 : position[t] + 1]:
            state = phi(inputs[0, k] @ w_ih.T + state @ w_hh.T + bias)
        return state

    dependence = rnn_state_dependence(
        hidden.numpy(), w_hh.detach().numpy(), nonlinearity, direction
    )
    for s in range(7):
        for t in range(7):
            if position[t] < position[s]:
                assert np.isnan(dependence[s, t])
                continue
            jacobian = torch.autograd.functional.jacobian(lambda v: run_on(v, s, t), hidden[s])
            assert dependence[s, t] == pytest.approx(
                float(jacobian.norm()) / math.sqrt(5), rel=1e-9, abs=1e-12
            )


def test_the_vanishing_gradient_preset_decays_on_the_rnn_and_not_on_the_lstm():
    """The figures the preset's comment and README give: ‖∂y/∂h_first‖ / ‖∂y/∂h_last‖."""
    ratios = {}
    for name in ("sst2-rnn", "sst2-lstm", "sst2-gru"):
        model = rnnviz.load(name)
        encoding = model.encode(VANISHING_GRADIENT_TEXT)
        assert len(encoding.ids) == 41 and not any(encoding.unknown)
        norms = gradient_flow(model, encoding.ids).norms_hidden[0]
        ratios[name] = norms[0] / norms[-1]
    assert ratios["sst2-rnn"] == pytest.approx(1.4e-10, rel=0.1)
    assert ratios["sst2-lstm"] == pytest.approx(0.08, rel=0.1)
    assert ratios["sst2-gru"] == pytest.approx(0.14, rel=0.1)
