"""The training lab: task labels checked by brute force, deterministic training, gradients per step
against an independent autograd reference, the heatmap-ready inspection and the download."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import math
import threading
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnviz.capture import capture
from rnnviz.errors import RnnvizError
from rnnviz.lab import (LabConfig, TrainingJob, build_lab_model, export_zip, gradient_norm_figure,
                        gradient_norms_per_step, inspect_example, load_zip, train, training_figure)
from rnnviz.lab_tasks import DISTRACTORS, SYMBOLS, TASKS, is_balanced


def brute_force_balanced(text: str) -> bool:
    """Balanced iff deleting "()" pairs until none is left leaves nothing."""
    while "()" in text:
        text = text.replace("()", "")
    return text == ""


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_is_balanced_agrees_with_brute_force_on_every_string_up_to_length_10():
    for length in range(11):
        for chars in itertools.product("()", repeat=length):
            text = "".join(chars)
            assert is_balanced(text) == brute_force_balanced(text), text


@pytest.mark.parametrize("n", [2, 3, 6, 10])
def test_bracket_labels_are_correct_and_counting_alone_cannot_solve_them(n):
    task = TASKS["brackets"]
    batch = task.generate(n, 200, generator(n))
    strings = ["".join(task.tokens(row)) for row in batch.inputs]
    assert all(len(s) == n + n % 2 for s in strings)
    assert [int(brute_force_balanced(s)) for s in strings] == batch.targets.tolist()
    assert batch.targets.sum() == 100  # half balanced
    assert all(s.count("(") == s.count(")") for s in strings)  # unbalanced ones too


@pytest.mark.parametrize("n", [1, 3, 10])
def test_first_symbol_label_is_the_first_symbol_then_only_distractors_and_the_query(n):
    task = TASKS["first_symbol"]
    batch = task.generate(n, 300, generator(n))
    assert batch.inputs.shape == (300, n + 2, task.features)
    for row, label in zip(batch.inputs, batch.targets.tolist()):
        tokens = task.tokens(row)
        assert tokens[0] == SYMBOLS[label]
        assert all(t in DISTRACTORS for t in tokens[1:-1]) and tokens[-1] == "?"
    assert sorted(set(batch.targets.tolist())) == [0, 1, 2, 3]


@pytest.mark.parametrize("n", [2, 5, 11])
def test_adding_target_is_the_sum_of_the_two_marked_values_one_in_each_half(n):
    batch = TASKS["adding"].generate(n, 100, generator(n))
    for row, target in zip(batch.inputs.tolist(), batch.targets.tolist()):
        marked = [t for t, (_, marker) in enumerate(row) if marker == 1.0]
        assert len(marked) == 2 and marked[0] < n // 2 <= marked[1]
        assert target == pytest.approx(sum(row[t][0] for t in marked), abs=1e-6)


def test_tasks_and_initialisation_depend_on_the_seed_alone():
    for task in TASKS.values():
        a, b = task.generate(7, 16, generator(3)), task.generate(7, 16, generator(3))
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    torch.manual_seed(123)  # the global RNG must not matter
    first = build_lab_model(LabConfig(cell="gru", seed=5)).state_dict()
    torch.manual_seed(456)
    second = build_lab_model(LabConfig(cell="gru", seed=5)).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_chrono_initialisation_spreads_lstm_forget_biases_over_the_task_timescales():
    config = LabConfig(cell="lstm", n=30, hidden_size=16)
    rnn = build_lab_model(config).rnn
    H, T = 16, 32  # first_symbol: symbol, 30 distractors, "?"
    forget = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach()[H : 2 * H]
    inputs = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach()[:H]
    assert float(forget.min()) >= 0 and float(forget.max()) <= math.log(T - 1)
    torch.testing.assert_close(inputs, -forget)
    plain = build_lab_model(LabConfig(cell="lstm", n=30, hidden_size=16, gate_init="pytorch")).rnn
    assert float(plain.bias_ih_l0.detach().abs().max()) <= 1 / math.sqrt(16)


def fused_reference_norms(model, task, batch) -> np.ndarray:
    """‖∂l_b/∂h_t‖ averaged over b: the fused module run up to t, δ added to h_t, then continued."""
    steps = batch.inputs.shape[1]
    with torch.no_grad(), capture(model) as trace:
        model(batch.inputs)
    norms = []
    for t in range(steps):
        _, state = model.rnn(batch.inputs[:, : t + 1])
        delta = torch.zeros_like(state[0] if isinstance(state, tuple) else state, requires_grad=True)
        if isinstance(state, tuple):  # LSTM: perturb h_t, keep c_t
            state = (state[0] + delta, state[1])
            h_t = state[0]
        else:
            state = state + delta
            h_t = state
        last = model.rnn(batch.inputs[:, t + 1 :], state)[0][:, -1] if t + 1 < steps else h_t[0]
        outputs = model.head(last)
        if task.kind == "regression":
            loss = F.mse_loss(outputs[:, 0], batch.targets, reduction="sum")
        else:
            loss = F.cross_entropy(outputs, batch.targets, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        norms.append(float(grad[0].norm(dim=-1).mean()))
    return np.array(norms)


@pytest.mark.parametrize("cell,task", [("rnn", "first_symbol"), ("gru", "brackets"), ("lstm", "adding")])
def test_gradient_norm_per_timestep_equals_perturbing_the_fused_module(cell, task):
    config = LabConfig(cell=cell, task=task, n=6, hidden_size=8)
    model = build_lab_model(config)
    batch = config.task_spec.generate(6, 5, generator(1))
    np.testing.assert_allclose(gradient_norms_per_step(model, config.task_spec, batch),
                               fused_reference_norms(model, config.task_spec, batch), rtol=1e-4, atol=1e-9)


def tiny(**changes) -> LabConfig:
    settings = dict(cell="lstm", n=3, hidden_size=12, batch_size=32, max_steps=400, eval_every=10, time_budget_s=30.0)
    return LabConfig(**{**settings, **changes})


def test_training_is_deterministic_and_stops_once_the_target_accuracy_is_reached():
    first, second = train(tiny()), train(tiny())
    assert first.progress.state == "done" and first.progress.accuracy >= 0.99
    assert "accuracy" in first.progress.reason and first.progress.step < 400
    assert [(c.step, c.loss, c.accuracy) for c in first.progress.checkpoints] == \
           [(c.step, c.loss, c.accuracy) for c in second.progress.checkpoints]
    steps = [step for step, _ in first.progress.gradient_norms]
    assert steps == [c.step for c in first.progress.checkpoints]
    assert all(norms.shape == (5,) for _, norms in first.progress.gradient_norms)


def test_a_stop_request_ends_training_at_once_and_says_so():
    stop = threading.Event()
    stop.set()
    result = train(tiny(max_steps=1000), stop=stop)
    assert result.progress.state == "stopped" and result.progress.step == 0
    assert result.progress.reason == "stopped after 0 steps"


def test_training_job_runs_in_the_background_and_publishes_its_progress():
    job = TrainingJob(tiny(cell="gru"))
    progress = job.wait(timeout=60)
    assert progress.finished and progress.fraction == 1.0 and job.result is not None
    assert job.result.progress == progress
    stopped = TrainingJob(tiny(max_steps=100_000, target_accuracy=1.0))
    stopped.stop()
    assert stopped.wait(timeout=60).state == "stopped"


def test_a_job_reports_finished_only_once_its_trained_model_is_there(monkeypatch):
    """The page reruns once when the progress says finished and then shows job.result: the two must
    appear together (under load, a gap between them left the page without the trained model)."""
    returned = threading.Event()
    release = threading.Event()
    lab_module = importlib.import_module("rnnviz.lab")
    real_train = lab_module.train

    def slow_to_return(config, on_progress=None, stop=None):
        result = real_train(config, on_progress, stop)  # has published its finished progress by now
        returned.set()
        release.wait(timeout=30)
        return result

    monkeypatch.setattr(lab_module, "train", slow_to_return)
    job = TrainingJob(tiny(cell="gru"))
    assert returned.wait(timeout=60)
    assert not job.snapshot().finished and job.result is None
    release.set()
    assert job.wait(timeout=30).finished and job.result is not None
    assert job.result.progress == job.snapshot()


def test_a_job_whose_training_fails_reports_the_error_and_no_model(monkeypatch):
    def broken(config, on_progress=None, stop=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(importlib.import_module("rnnviz.lab"), "train", broken)
    job = TrainingJob(tiny(cell="gru"))
    progress = job.wait(timeout=30)
    assert progress.state == "failed" and progress.reason == "RuntimeError: out of memory"
    assert job.result is None


def test_invalid_lab_settings_are_user_errors():
    with pytest.raises(RnnvizError, match="cell must be one of"):
        LabConfig(cell="transformer")
    with pytest.raises(RnnvizError, match="n must be an integer"):
        LabConfig(n=0)
    with pytest.raises(RnnvizError, match="unknown keys"):
        LabConfig.from_dict({"cell": "rnn", "layers": 2})


def test_inspection_of_a_trained_model_holds_every_quantity_for_the_heatmaps():
    result = train(tiny(max_steps=20))
    inspection = inspect_example(result.model, result.config, seed=4)
    example = result.config.task_spec.generate(3, 1, generator(4))
    assert inspection.tokens == result.config.task_spec.tokens(example.inputs[0]) and len(inspection.tokens) == 5
    assert inspection.cell == "lstm"
    assert list(inspection.quantities) == ["input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"]
    outputs, _ = result.model.rnn(example.inputs)
    np.testing.assert_allclose(inspection.quantities["hidden"], outputs[0].detach().numpy(), atol=1e-6)
    assert inspection.target == SYMBOLS[int(example.targets[0])]
    assert inspection.prediction in SYMBOLS


def test_download_is_a_zip_of_safetensors_and_json_that_loads_back_to_the_same_model():
    result = train(tiny(cell="rnn", task="adding", max_steps=15))
    data = export_zip(result)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["config.json", "model.safetensors"]
        payload = json.loads(archive.read("config.json"))
    assert payload["lab"] == result.config.to_dict()
    assert payload["metrics"]["steps"] == result.progress.step
    config, model = load_zip(data)
    inputs = config.task_spec.generate(3, 4, generator(9)).inputs
    with torch.no_grad():
        torch.testing.assert_close(model(inputs), result.model(inputs), rtol=0, atol=0)
    with pytest.raises(RnnvizError, match="not a lab model archive"):
        load_zip(b"not a zip")


def test_training_figures_show_loss_accuracy_chance_and_the_latest_gradient_boldest():
    result = train(tiny(max_steps=60, target_accuracy=1.0))
    figure = training_figure(result.progress.checkpoints, result.config.task_spec)
    assert [t.name for t in figure.data] == ["held-out loss", "held-out accuracy"]
    assert list(figure.data[1].y) == [c.accuracy for c in result.progress.checkpoints]
    assert figure.layout.yaxis.type == "log"
    assert any(shape.y0 == 0.25 for shape in figure.layout.shapes)  # chance for 4 symbols
    gradients = gradient_norm_figure(result.progress.gradient_norms, shown=3)
    assert len(gradients.data) == 3 and gradients.data[-1].name == f"step {result.progress.step}"
    assert gradients.data[-1].opacity == 1.0 and gradients.layout.yaxis.type == "log"
