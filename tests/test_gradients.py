"""Gradient flow and token attributions, checked against independent autograd computations.

The references never use rnnviz.analysis.gradients' step-by-step re-execution: they perturb h_t / c_t
between two calls of PyTorch's fused module, take torch.autograd.functional.jacobian of the
fused module, run a float64 per-step implementation written here, or use finite differences.
"""

from __future__ import annotations

import html

import numpy as np
import pytest
import torch
from colour import lightness
from torch import nn

import rnnviz
from rnnviz.analysis.gradients import (
    embed,
    gradient_flow,
    reproduction_error,
    token_attributions,
    unroll,
)
from rnnviz.core.capture import capture
from rnnviz.display import readable_number
from rnnviz.errors import RnnvizError
from rnnviz.figures.gradients import (
    attribution_bars,
    attribution_html,
    dependence_lines,
    flow_comparison,
    flow_heatmap,
    flow_lines,
)
from rnnviz.models.architectures import LoadedModel, ModelConfig, build_module, bundled_names
from rnnviz.models.tokenizers import CharTokenizer, WordTokenizer

SENTENCE = "the movie was not good at all"
CELLS = ["lstm", "gru", "rnn_tanh"]


def classifier(
    cell: str, num_layers: int = 1, bidirectional: bool = False, seed: int = 0
) -> LoadedModel:
    tok = WordTokenizer.build([SENTENCE, "never boring"])
    cfg = ModelConfig(
        name=f"tiny-{cell}",
        description="",
        task="classifier",
        cell_kind=cell,
        vocab_size=tok.vocab_size,
        embedding_dim=5,
        hidden_size=6,
        num_layers=num_layers,
        bidirectional=bidirectional,
        labels=["negative", "positive", "neutral"],
    )
    torch.manual_seed(seed)
    module = build_module(cfg).eval()
    with torch.no_grad():  # larger weights than the default init, so the nonlinearities matter
        for p in module.rnn.parameters():
            p.mul_(3.0)
    return LoadedModel(cfg, tok, module)


def language_model(cell: str, num_layers: int = 1) -> LoadedModel:
    tok = CharTokenizer.build("to be or not to be")
    cfg = ModelConfig(
        name="tiny-lm",
        description="",
        task="language_model",
        cell_kind=cell,
        vocab_size=tok.vocab_size,
        embedding_dim=4,
        hidden_size=5,
        num_layers=num_layers,
    )
    torch.manual_seed(3)
    return LoadedModel(cfg, tok, build_module(cfg).eval())


def ids_of(loaded: LoadedModel, text: str) -> list[int]:
    return loaded.encode(text).ids


def readout(loaded: LoadedModel, target: int, position: int | None):
    """y from the last layer's outputs [1, T, H], written from the models' definitions."""

    def y(outputs):
        if loaded.config.task == "classifier":
            return loaded.module.head(outputs[0, -1])[target]
        return torch.log_softmax(loaded.module.head(outputs[0, position]), dim=-1)[target]

    return y


def fused_perturbation_gradients(
    loaded: LoadedModel, ids: list[int], target: int, position: int | None
):
    """∂y/∂h_t and ∂y/∂c_t of a one-layer unidirectional model: run the fused module up to t,
    add δh to h_t (and δc to c_t, so h_t = o_t·tanh(c_t + δc) + δh), continue the fused module."""
    rnn = loaded.module.rnn
    x = embed(loaded, ids)
    steps = len(ids)
    with torch.no_grad(), capture(loaded.module) as trace:
        loaded.module.rnn(x)
    grads_h, grads_c = [], []
    for t in range(steps):
        dh = torch.zeros(1, 1, rnn.hidden_size, requires_grad=True)
        dc = torch.zeros(1, 1, rnn.hidden_size, requires_grad=True)
        head_out, state = rnn(x[:, : t + 1])
        if isinstance(rnn, nn.LSTM):
            c_t = state[1] + dc
            o_t = trace["rnn.layer0.forward.output_gate"][:, t]
            h_t = o_t * torch.tanh(c_t) + dh
            state = (h_t, c_t)
        else:
            h_t = state + dh
            state = h_t
        parts = [head_out[:, :t], h_t.transpose(0, 1)]
        if t + 1 < steps:
            parts.append(rnn(x[:, t + 1 :], state)[0])
        y = readout(loaded, target, position)(torch.cat(parts, dim=1))
        gh, gc = torch.autograd.grad(y, [dh, dc], allow_unused=True)
        grads_h.append(gh.reshape(-1))
        grads_c.append(torch.zeros(rnn.hidden_size) if gc is None else gc.reshape(-1))
    return torch.stack(grads_h).numpy(), torch.stack(grads_c).numpy()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_step_by_step_re_execution_reproduces_the_fused_module(cell, num_layers, bidirectional):
    loaded = classifier(cell, num_layers, bidirectional)
    x = embed(loaded, ids_of(loaded, SENTENCE))
    assert reproduction_error(loaded.module.rnn, x, unroll(loaded.module.rnn, x)) <= 1e-5


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_state_gradients_equal_perturbing_the_fused_module_between_steps(cell):
    loaded = classifier(cell)
    ids = ids_of(loaded, SENTENCE)
    flow = gradient_flow(loaded, ids, target=1)
    want_h, want_c = fused_perturbation_gradients(loaded, ids, target=1, position=None)
    np.testing.assert_allclose(flow.grad_hidden[0], want_h, rtol=1e-4, atol=1e-6)
    if cell == "lstm":
        np.testing.assert_allclose(flow.grad_cell[0], want_c, rtol=1e-4, atol=1e-6)
    else:
        assert flow.grad_cell is None and flow.norms_cell is None
    np.testing.assert_allclose(
        flow.norms_hidden[0], np.linalg.norm(want_h, axis=1), rtol=1e-4, atol=1e-7
    )
    with torch.no_grad():
        assert flow.output_value == pytest.approx(
            float(loaded.module(torch.tensor([ids]))[0, 1]), abs=1e-5
        )


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_gradients_at_a_chosen_position_are_zero_after_it(cell):
    loaded = language_model(cell)
    ids = ids_of(loaded, "not to be")
    target = loaded.tokenizer.stoi["o"]
    flow = gradient_flow(loaded, ids, target=target, position=4)
    want_h, _ = fused_perturbation_gradients(loaded, ids, target=target, position=4)
    np.testing.assert_allclose(flow.grad_hidden[0], want_h, rtol=1e-4, atol=1e-6)
    assert np.all(flow.norms_hidden[0, 5:] == 0) and np.all(flow.norms_hidden[0, :5] > 0)
    with torch.no_grad():
        log_p = torch.log_softmax(loaded.module(torch.tensor([ids]))[0, 4], dim=-1)[target]
    assert flow.output_value == pytest.approx(float(log_p), abs=1e-5)
    assert "'o'" in flow.output


def float64_per_step(module, x, deltas_h, deltas_c):
    """Classifier logits of a multi-layer (bi)directional model, written per step in float64 from
    the PyTorch equations, with δ added to every h_t and c_t (deltas: [layer, direction][t])."""
    rnn = module.rnn
    directions = 2 if rnn.bidirectional else 1
    H = rnn.hidden_size
    layer_input = x[0].double()
    finals = []
    for layer in range(rnn.num_layers):
        outs = []
        for d in range(directions):
            p = {
                k: getattr(rnn, f"{k}_l{layer}{'_reverse' if d else ''}").double()
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
            h = torch.zeros(H, dtype=torch.float64)
            c = torch.zeros(H, dtype=torch.float64)
            seq = [None] * len(layer_input)
            for t in reversed(range(len(layer_input))) if d else range(len(layer_input)):
                a = p["weight_ih"] @ layer_input[t] + p["bias_ih"]
                b = p["weight_hh"] @ h + p["bias_hh"]
                if isinstance(rnn, nn.LSTM):
                    i, f, g, o = (a + b).split(H)
                    c = (
                        torch.sigmoid(f) * c
                        + torch.sigmoid(i) * torch.tanh(g)
                        + deltas_c[layer][d][t]
                    )
                    h = torch.sigmoid(o) * torch.tanh(c)
                elif isinstance(rnn, nn.GRU):
                    r = torch.sigmoid(a[:H] + b[:H])
                    z = torch.sigmoid(a[H : 2 * H] + b[H : 2 * H])
                    n = torch.tanh(a[2 * H :] + r * b[2 * H :])
                    h = (1 - z) * n + z * h
                else:
                    h = torch.tanh(a + b)
                h = h + deltas_h[layer][d][t]
                seq[t] = h
            outs.append(torch.stack(seq))
            finals.append(seq[0] if d else seq[-1])
        layer_input = torch.cat(outs, dim=-1)
    final = torch.cat(finals[-directions:])
    return module.head.weight.double() @ final + module.head.bias.double()


@pytest.mark.parametrize("cell", CELLS)
def test_two_layer_bidirectional_gradients_equal_a_float64_per_step_reference(cell):
    loaded = classifier(cell, num_layers=2, bidirectional=True, seed=4)
    ids = ids_of(loaded, SENTENCE)
    steps, H = len(ids), 6
    deltas_h = [
        [
            [torch.zeros(H, dtype=torch.float64, requires_grad=True) for _ in range(steps)]
            for _ in range(2)
        ]
        for _ in range(2)
    ]
    deltas_c = [
        [
            [torch.zeros(H, dtype=torch.float64, requires_grad=True) for _ in range(steps)]
            for _ in range(2)
        ]
        for _ in range(2)
    ]
    logits = float64_per_step(loaded.module, embed(loaded, ids), deltas_h, deltas_c)
    flow = gradient_flow(loaded, ids)
    predicted = int(logits.argmax())
    assert flow.output_value == pytest.approx(float(logits[predicted].detach()), abs=1e-5)
    flat_h = [v for layer in deltas_h for d in layer for v in d]
    flat_c = [v for layer in deltas_c for d in layer for v in d]
    grads = torch.autograd.grad(logits[predicted], flat_h + flat_c, allow_unused=True)
    grads = [torch.zeros(H, dtype=torch.float64) if g is None else g for g in grads]
    want_h = torch.stack(grads[: len(flat_h)]).view(4, steps, H).numpy()
    assert flow.rows == ("layer0.forward", "layer0.backward", "layer1.forward", "layer1.backward")
    np.testing.assert_allclose(flow.grad_hidden, want_h, rtol=1e-4, atol=1e-6)
    if cell == "lstm":
        np.testing.assert_allclose(
            flow.grad_cell,
            torch.stack(grads[len(flat_h) :]).view(4, steps, H).numpy(),
            rtol=1e-4,
            atol=1e-6,
        )


def fused_continuation_jacobian_norms(rnn: nn.RNNBase, x: torch.Tensor) -> np.ndarray:
    """‖∂h_T/∂h_t‖_F of a one-layer unidirectional module: jacobian of the fused continuation
    h_t ↦ h_T (c_t held fixed), computed by torch.autograd.functional.jacobian."""
    steps = x.shape[1]
    norms = []
    for t in range(steps):
        _, state = rnn(x[:, : t + 1])
        if t == steps - 1:
            norms.append(float(np.sqrt(rnn.hidden_size)))  # ∂h_T/∂h_T = I
            continue
        if isinstance(rnn, nn.LSTM):
            h_t, c_t = state
            jac = torch.autograd.functional.jacobian(
                lambda h: rnn(x[:, t + 1 :], (h, c_t))[1][0], h_t.detach()
            )
        else:
            jac = torch.autograd.functional.jacobian(
                lambda h: rnn(x[:, t + 1 :], h)[1], state.detach()
            )
        norms.append(float(jac.reshape(rnn.hidden_size, rnn.hidden_size).norm()))
    return np.array(norms)


@pytest.mark.parametrize("cell", CELLS)
def test_last_state_dependence_is_the_frobenius_norm_of_the_fused_jacobian(cell):
    loaded = classifier(cell, seed=5)
    ids = ids_of(loaded, SENTENCE)
    flow = gradient_flow(loaded, ids)
    want = fused_continuation_jacobian_norms(loaded.module.rnn, embed(loaded, ids))
    np.testing.assert_allclose(flow.last_state_dependence[0], want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_direction_dependence_equals_a_forward_module_on_the_reversed_sentence(cell):
    loaded = classifier(cell, bidirectional=True, seed=6)
    ids = ids_of(loaded, SENTENCE)
    rnn = loaded.module.rnn
    mirror = type(rnn)(rnn.input_size, rnn.hidden_size, batch_first=True)
    with torch.no_grad():
        for name, p in mirror.named_parameters():
            p.copy_(getattr(rnn, f"{name}_reverse"))
    want = fused_continuation_jacobian_norms(mirror, embed(loaded, ids).flip(1))[::-1]
    np.testing.assert_allclose(
        gradient_flow(loaded, ids).last_state_dependence[1], want, rtol=1e-4, atol=1e-7
    )


def test_gradient_x_input_equals_central_finite_differences_in_float64():
    loaded = classifier("lstm", seed=7)
    ids = ids_of(loaded, SENTENCE)
    attributions = token_attributions(loaded, ids, target=0)
    double = build_module(loaded.config).double().eval()
    double.load_state_dict(loaded.module.state_dict())
    e = embed(loaded, ids).double()

    def y(scaled: torch.Tensor) -> float:
        with torch.no_grad():
            out, _ = double.rnn(scaled)
            return float(double.head(out[0, -1])[0])

    eps = 1e-6
    for t in range(len(ids)):  # d/dα y(e with e_t scaled by α) at α = 1 is e_t · ∂y/∂e_t
        up, down = e.clone(), e.clone()
        up[0, t] *= 1 + eps
        down[0, t] *= 1 - eps
        assert attributions.gradient_x_input[t] == pytest.approx(
            (y(up) - y(down)) / (2 * eps), rel=1e-4, abs=1e-7
        )


def test_integrated_gradients_equal_a_float64_riemann_sum_written_here():
    loaded = classifier("gru", seed=8)
    ids = ids_of(loaded, SENTENCE)
    attributions = token_attributions(loaded, ids, target=2, n_steps=64)
    double = build_module(loaded.config).double().eval()
    double.load_state_dict(loaded.module.state_dict())
    e = embed(loaded, ids).double()
    alphas = (torch.arange(2000, dtype=torch.float64) + 0.5) / 2000
    path = (alphas.view(-1, 1, 1) * e).requires_grad_(True)
    out, _ = double.rnn(path)
    (grads,) = torch.autograd.grad(double.head(out[:, -1])[:, 2].sum(), path)
    want = (grads.mean(0) * e[0]).sum(-1).numpy()
    np.testing.assert_allclose(attributions.integrated, want, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "model", [lambda: classifier("lstm", 2, True), lambda: language_model("gru", 2)]
)
def test_integrated_gradients_are_complete_within_one_percent(model):
    loaded = model()
    ids = ids_of(
        loaded, "the movie was not good" if loaded.config.task == "classifier" else "to be or"
    )
    attributions = token_attributions(loaded, ids)
    change = attributions.output_value - attributions.baseline_value
    assert abs(attributions.integrated.sum() - change) <= 0.01 * abs(change)
    assert attributions.completeness_error <= 0.01


@pytest.mark.skipif("sst2-lstm" not in bundled_names(), reason="sst2-lstm not bundled")
def test_bundled_lstm_integrated_gradients_are_complete_and_flow_is_exact():
    loaded = rnnviz.load("sst2-lstm")
    ids = ids_of(loaded, "the movie was not good , but the actors were great")
    attributions = token_attributions(loaded, ids)
    assert attributions.completeness_error <= 0.01
    with torch.no_grad():
        logits = loaded.module(torch.tensor([ids]))[0]
        pad_logits = loaded.module(torch.zeros(1, len(ids), dtype=torch.int64))[
            0
        ]  # <pad> has the zero embedding
    predicted = int(logits.argmax())
    assert attributions.output_value == pytest.approx(float(logits[predicted].detach()), abs=1e-5)
    assert attributions.baseline_value == pytest.approx(float(pad_logits[predicted]), abs=1e-5)
    flow = gradient_flow(loaded, ids)
    assert flow.reproduction_error <= 1e-5
    assert flow.last_state_dependence[0, -1] == pytest.approx(
        np.sqrt(loaded.config.hidden_size), rel=1e-5
    )


def test_position_is_refused_for_classifiers_and_checked_for_language_models():
    with pytest.raises(RnnvizError, match="language models only"):
        gradient_flow(classifier("rnn_tanh"), [2, 3], position=0)
    with pytest.raises(RnnvizError, match="outside the text"):
        gradient_flow(language_model("rnn_tanh"), [2, 3], position=2)
    with pytest.raises(RnnvizError, match="out of range"):
        token_attributions(classifier("rnn_tanh"), [2, 3], target=3)


def test_flow_figures_show_log_norms_per_layer_and_log_axes():
    loaded = classifier("lstm", num_layers=2)
    ids = ids_of(loaded, "not good at all")
    flow = gradient_flow(loaded, ids)
    labels = ["not ·0", "good ·1", "at ·2", "all ·3"]
    heat = flow_heatmap(flow, labels)
    z = np.asarray(heat.data[0].z)
    assert z.shape == (4, 4)  # h and c rows of two layers × 4 tokens
    np.testing.assert_allclose(z[:2], np.log10(flow.norms_hidden), rtol=1e-6)
    np.testing.assert_allclose(z[2:], np.log10(flow.norms_cell), rtol=1e-6)
    assert list(heat.data[0].y) == [
        "layer0 forward ‖∂y/∂h_t‖",
        "layer1 forward ‖∂y/∂h_t‖",
        "layer0 forward ‖∂y/∂c_t‖",
        "layer1 forward ‖∂y/∂c_t‖",
    ]
    lines = flow_lines(flow, labels)
    assert lines.layout.yaxis.type == "log" and len(lines.data) == 4
    np.testing.assert_allclose(lines.data[1].y, flow.norms_hidden[1], rtol=1e-6)
    dependence = dependence_lines(flow, labels)
    np.testing.assert_allclose(dependence.data[0].y, flow.last_state_dependence[0], rtol=1e-6)
    compared = flow_comparison([("a", np.array([1.0, 0.0, 0.1, 1e-3])), ("b", np.ones(4))], labels)
    assert compared.layout.yaxis.type == "log" and [t.name for t in compared.data] == ["a", "b"]
    assert min(compared.data[0].y) > 0  # exact zeros are floored so the log axis can draw them


def test_attribution_figures_show_both_methods_and_escape_tokens():
    loaded = classifier("rnn_tanh")
    ids = ids_of(loaded, "not good")
    attributions = token_attributions(loaded, ids, target=1)
    bars = attribution_bars(attributions, ["not ·0", "good ·1"])
    np.testing.assert_allclose(bars.data[0].y, attributions.gradient_x_input)
    np.testing.assert_allclose(bars.data[1].y, attributions.integrated)
    shown = attribution_html(["<b>", "ok"], np.array([0.5, -1.0]))
    assert html.escape("<b>") in shown and "<b>" not in shown


def test_gradient_heatmap_draws_small_norms_faint_on_a_one_way_scale():
    from plotly.colors import get_colorscale

    loaded = classifier("lstm")
    flow = gradient_flow(loaded, ids_of(loaded, "not good at all"))
    heat = flow_heatmap(flow, ["not ·0", "good ·1", "at ·2", "all ·3"])
    scale = heat.data[0].colorscale
    steps = [colour for _, colour in (get_colorscale(scale) if isinstance(scale, str) else scale)]
    lightness_steps = [lightness(colour) for colour in steps]
    assert all(a > b for a, b in zip(lightness_steps, lightness_steps[1:])), lightness_steps
    assert lightness_steps[0] > 95  # the smallest gradient is (nearly) the page's white
    bar, z = heat.data[0].colorbar, np.asarray(heat.data[0].z)
    assert z.min() - 1e-9 <= min(bar.tickvals) <= max(bar.tickvals) <= z.max() + 1e-9
    # the bar names the norms themselves, not their logarithms
    assert list(bar.ticktext) == [readable_number(10**v, 2) for v in bar.tickvals]


@pytest.mark.skipif("agnews-lstm" not in bundled_names(), reason="agnews-lstm not bundled")
def test_integrated_gradients_refined_on_a_long_news_text_add_up_to_the_change_in_score():
    loaded = rnnviz.load("agnews-lstm")
    text = (
        "Rebels agree to ceasefire talks in Sudan Government and rebel leaders will meet in "
        "Nigeria next week, the African Union said on Tuesday, as aid agencies warned of famine "
        "in Darfur."
    )
    ids = list(loaded.encode(text).ids)
    # the score as the model itself gives it, at the text and at the all-<pad> embedding
    embedded = loaded.module.embedding(torch.tensor([ids]))
    with torch.no_grad():
        change = float(
            loaded.module.head(loaded.module.pooled(loaded.module.rnn(embedded)[0]))[0, 0]
            - loaded.module.head(
                loaded.module.pooled(loaded.module.rnn(torch.zeros_like(embedded))[0])
            )[0, 0]
        )
    coarse = token_attributions(loaded, ids, target=0)
    assert abs(coarse.integrated.sum() - change) > 0.5 * abs(change)  # 50 points miss it by far
    refined = token_attributions(loaded, ids, target=0, refine_to=0.01)
    assert refined.n_steps > 50
    assert abs(refined.integrated.sum() - change) <= 0.01 * abs(change)
