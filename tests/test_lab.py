"""The training lab: task labels checked by brute force, deterministic training, gradients per step
against an independent autograd reference, the heatmap-ready inspection and the download."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import math
import re
import threading
import zipfile

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as F

from rnnviz.app.views.lab import ordinal, outcome_message, progress_line
from rnnviz.core.capture import capture
from rnnviz.display import readable_number
from rnnviz.errors import RnnvizError
from rnnviz.figures.lab import gradient_norm_figure, readable_log_axis, tick_label, training_figure
from rnnviz.training.lab_files import export_zip, load_zip
from rnnviz.training.lab_jobs import LabScheduler, TrainingJob, lab_job_slots, usable_cores
from rnnviz.training.lab_model import (
    LabConfig,
    build_lab_model,
    gradient_norms_per_step,
    inspect_example,
)
from rnnviz.training.lab_run import train
from rnnviz.training.lab_tasks import DISTRACTORS, SYMBOLS, TASKS, is_balanced


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
    with torch.no_grad(), capture(model):
        model(batch.inputs)
    norms = []
    for t in range(steps):
        _, state = model.rnn(batch.inputs[:, : t + 1])
        delta = torch.zeros_like(
            state[0] if isinstance(state, tuple) else state, requires_grad=True
        )
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


@pytest.mark.parametrize(
    "cell,task", [("rnn", "first_symbol"), ("gru", "brackets"), ("lstm", "adding")]
)
def test_gradient_norm_per_timestep_equals_perturbing_the_fused_module(cell, task):
    config = LabConfig(cell=cell, task=task, n=6, hidden_size=8)
    model = build_lab_model(config)
    batch = config.task_spec.generate(6, 5, generator(1))
    np.testing.assert_allclose(
        gradient_norms_per_step(model, config.task_spec, batch),
        fused_reference_norms(model, config.task_spec, batch),
        rtol=1e-4,
        atol=1e-9,
    )


def endless(**changes) -> LabConfig:
    """A run that goes on until it is stopped (or its 60 s budget ends): no 12-unit model sums to
    within 0.04 on every held-out example of the adding problem over 60 steps in a minute (over 3
    steps one did, on a busy machine, before its session's end was noticed)."""
    return tiny(
        task="adding", n=60, max_steps=100_000, target_accuracy=1.0, time_budget_s=60.0, **changes
    )


def tiny(**changes) -> LabConfig:
    settings = dict(
        cell="lstm",
        n=3,
        hidden_size=12,
        batch_size=32,
        max_steps=400,
        eval_every=10,
        time_budget_s=30.0,
    )
    return LabConfig(**{**settings, **changes})


def test_training_is_deterministic_and_stops_once_the_target_accuracy_is_reached():
    first, second = train(tiny()), train(tiny())
    assert first.progress.state == "done" and first.progress.accuracy >= 0.99
    assert "accuracy" in first.progress.reason and first.progress.step < 400
    assert [(c.step, c.loss, c.accuracy) for c in first.progress.checkpoints] == [
        (c.step, c.loss, c.accuracy) for c in second.progress.checkpoints
    ]
    steps = [step for step, _ in first.progress.gradient_norms]
    assert steps == [c.step for c in first.progress.checkpoints]
    assert all(norms.shape == (5,) for _, norms in first.progress.gradient_norms)


def test_a_stop_request_ends_training_at_once_and_says_so():
    stop = threading.Event()
    stop.set()
    result = train(tiny(max_steps=1000), stop=stop)
    assert result.progress.state == "stopped" and result.progress.step == 0
    assert result.progress.reason == "stopped"


def test_a_stopped_run_keeps_its_partial_progress_and_reads_as_stopped_not_done():
    """Issue 13, defect 4: Stop showed a success box, "stopped after 308 steps after 308 steps", and 100 %."""
    job = TrainingJob(endless())
    while job.snapshot().step < 30:
        assert not job.snapshot().finished
        threading.Event().wait(0.05)
    job.stop()
    progress = job.wait(timeout=30)
    assert progress.state == "stopped" and progress.finished
    assert 30 <= progress.step < 100_000
    assert 0 < progress.fraction < 1
    assert progress.fraction == pytest.approx(max(progress.step / 100_000, progress.seconds / 60.0))
    message = outcome_message(progress)
    assert (
        message.startswith(f"Stopped after {progress.step} steps in ")
        and message.count("steps") == 1
    )
    assert f"{progress.fraction:.0%} of its budget" in message
    done = TrainingJob(tiny(cell="gru")).wait(timeout=60)
    assert done.state == "done" and done.fraction == 1.0
    assert (
        outcome_message(done).startswith("Done: reached")
        and outcome_message(done).count(" steps") == 1
    )


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
    lab_module = importlib.import_module("rnnviz.training.lab_jobs")
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

    monkeypatch.setattr(importlib.import_module("rnnviz.training.lab_jobs"), "train", broken)
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
    assert (
        inspection.tokens == result.config.task_spec.tokens(example.inputs[0])
        and len(inspection.tokens) == 5
    )
    assert inspection.cell == "lstm"
    assert list(inspection.quantities) == [
        "input_gate",
        "forget_gate",
        "cell_gate",
        "output_gate",
        "cell",
        "hidden",
    ]
    outputs, _ = result.model.rnn(example.inputs)
    np.testing.assert_allclose(
        inspection.quantities["hidden"], outputs[0].detach().numpy(), atol=1e-6
    )
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
    assert [t.name for t in figure.data] == ["held-out loss", "held-out accuracy", "chance (25%)"]
    assert list(figure.data[1].y) == [c.accuracy for c in result.progress.checkpoints]
    assert figure.layout.yaxis.type == "log"
    assert (
        list(figure.data[2].y) == [0.25, 0.25] and figure.data[2].yaxis == "y2"
    )  # chance for 4 symbols
    gradients = gradient_norm_figure(result.progress.gradient_norms, shown=3)
    assert len(gradients.data) == 3 and gradients.data[-1].name == f"step {result.progress.step}"
    assert gradients.data[-1].opacity == 1.0 and gradients.layout.yaxis.type == "log"


# ---- the server-wide bound and queue (LabScheduler), with real training jobs on tiny configs ----


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = threading.Event()
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        deadline.wait(0.02)
    raise AssertionError("condition not reached in time")


def test_never_more_jobs_train_at_once_than_the_bound_and_they_start_in_order_of_submission():
    scheduler = LabScheduler(slots=2)
    jobs = [
        scheduler.submit(tiny(cell=cell, seed=k))
        for k, cell in enumerate(["gru", "lstm", "gru", "lstm", "gru"])
    ]
    assert [job.snapshot().state for job in jobs[2:]] == ["queued"] * 3
    assert [scheduler.place(job) for job in jobs] == [None, None, 1, 2, 3]
    counts = scheduler.counts()
    assert (counts.running, counts.waiting, counts.slots, counts.submitted, counts.queued) == (
        2,
        3,
        2,
        5,
        3,
    )
    finals = [job.wait(timeout=120) for job in jobs]
    assert all(progress.state == "done" and progress.accuracy >= 0.99 for progress in finals)
    intervals = [(job.started_at, job.ended_at) for job in jobs]
    for moment, _ in intervals:  # at the start of every job, at most two were training
        assert sum(start <= moment < end for start, end in intervals) <= 2
    assert [start for start, _ in intervals] == sorted(start for start, _ in intervals)
    counts = scheduler.counts()
    assert (counts.running, counts.waiting, counts.finished, counts.stopped) == (0, 0, 5, 0)


def test_stopping_the_running_job_starts_the_next_in_line_and_a_waiting_job_stopped_never_trains():
    scheduler = LabScheduler(slots=1)
    first, second, third = (scheduler.submit(endless(seed=k)) for k in range(3))
    wait_until(lambda: first.snapshot().step > 0)
    assert (scheduler.place(second), scheduler.place(third)) == (1, 2)
    assert second.snapshot().step == 0 and not second.snapshot().checkpoints
    first.stop()
    assert first.wait(timeout=30).state == "stopped"
    wait_until(lambda: second.snapshot().state == "running")
    assert scheduler.place(third) == 1
    third.stop()
    waited = third.wait(timeout=1)
    assert (
        waited.state == "stopped"
        and waited.reason == "stopped before it started"
        and waited.step == 0
    )
    assert third.started_at is None and third.result is None
    wait_until(lambda: second.snapshot().step > 0)
    assert scheduler.counts().running == 1 and scheduler.counts().waiting == 0
    second.stop()
    assert second.wait(timeout=30).state == "stopped"
    counts = scheduler.counts()
    assert (counts.running, counts.waiting, counts.stopped, counts.finished, counts.orphaned) == (
        0,
        0,
        3,
        0,
        0,
    )


def test_a_session_is_an_orphan_once_gone_for_the_whole_grace_period_and_a_reconnect_restarts_it():
    """The grace period read on a clock the test sets (the watcher, which reads the real one, waits
    an hour here): no sleeps, so a busy machine cannot move the outcome."""
    scheduler = LabScheduler(slots=1, orphan_grace_s=10.0, watch_every_s=3600.0)
    connected = {"owner": True}
    job = scheduler.submit(endless(), alive=lambda: connected["owner"])
    try:
        assert scheduler._orphans(now=100.0) == []
        connected["owner"] = (
            False  # the tab closed: Streamlit no longer counts the session as active
        )
        assert scheduler._orphans(now=101.0) == [] and scheduler._orphans(now=110.9) == []
        connected["owner"] = True  # … but it reconnected within the grace period
        assert scheduler._orphans(now=111.0) == []
        connected["owner"] = False  # gone again: the grace period starts afresh
        assert scheduler._orphans(now=112.0) == [] and scheduler._orphans(now=121.9) == []
        assert scheduler._orphans(now=122.0) == [job]
        assert scheduler._orphans(now=200.0) == []  # reported once
    finally:
        job.stop()
        job.wait(timeout=30)


def test_the_job_of_a_session_that_ended_is_stopped_and_frees_its_slot_for_the_next_in_line():
    scheduler = LabScheduler(slots=1, orphan_grace_s=0.0, watch_every_s=0.05)
    connected = {"owner": True, "waiting": True}
    owned = scheduler.submit(endless(), alive=lambda: connected["owner"])
    waiting = scheduler.submit(endless(seed=1), alive=lambda: connected["waiting"])
    wait_until(lambda: owned.snapshot().step > 0)
    assert waiting.snapshot().state == "queued"
    connected["owner"] = False
    stopped = owned.wait(timeout=60)
    assert stopped.state == "stopped" and stopped.reason == "stopped: its session ended"
    wait_until(lambda: waiting.snapshot().state == "running", timeout_s=60)
    connected["waiting"] = False
    assert waiting.wait(timeout=60).state == "stopped"
    counts = scheduler.counts()
    assert (counts.running, counts.orphaned, counts.stopped) == (0, 2, 2)


def test_a_waiting_job_whose_session_ended_leaves_the_queue_and_the_others_move_up():
    scheduler = LabScheduler(slots=1, orphan_grace_s=0.2, watch_every_s=0.05)
    running = scheduler.submit(endless())
    gone = scheduler.submit(endless(seed=1), alive=lambda: False)
    staying = scheduler.submit(endless(seed=2), alive=lambda: True)
    assert (scheduler.place(gone), scheduler.place(staying)) == (1, 2)
    assert gone.wait(timeout=10).reason == "stopped: its session ended before it started"
    assert scheduler.place(staying) == 1 and running.snapshot().state == "running"
    running.stop()
    wait_until(lambda: staying.snapshot().state == "running")
    staying.stop()
    staying.wait(timeout=30)


def test_the_bound_defaults_to_half_the_usable_cores_and_is_overridden_by_rnnviz_lab_jobs():
    half = max(1, usable_cores() // 2)
    assert lab_job_slots({}) == (half, "")
    assert lab_job_slots({"RNNVIZ_LAB_JOBS": "3"}) == (3, "")
    for bad in ("0", "-2", "two", "1.5", "99999"):
        slots, note = lab_job_slots({"RNNVIZ_LAB_JOBS": bad})
        assert (
            slots == half
            and note.startswith(f"RNNVIZ_LAB_JOBS={bad!r} is not a whole number")
            and str(half) in note
        )
    with pytest.raises(RnnvizError, match="at least one job slot"):
        LabScheduler(slots=0)


def test_a_waiting_session_reads_its_place_in_line():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]
    scheduler = LabScheduler(slots=1)
    jobs = [scheduler.submit(endless(seed=k)) for k in range(3)]
    line = progress_line(jobs[2].snapshot(), scheduler.place(jobs[2]))
    assert line.endswith("waiting: 2nd in line for a training slot")
    for job in reversed(jobs):
        job.stop()
    assert all(job.wait(timeout=30).finished for job in jobs)


def test_lab_figures_write_numbers_as_people_read_them_and_keep_title_and_legend_apart():
    assert [tick_label(v) for v in (1e-12, 1e-6, 0.001, 0.3, 1.37, 1.0, 10.0)] == [
        "1 × 10⁻¹²",
        "1 × 10⁻⁶",
        "0.001",
        "0.3",
        "1.37",
        "1",
        "10",
    ]
    result = train(tiny(max_steps=30, target_accuracy=1.0))
    for figure in (
        training_figure(result.progress.checkpoints, result.config.task_spec),
        gradient_norm_figure(result.progress.gradient_norms),
    ):
        go.Figure(
            figure.to_dict()
        )  # built without validation for speed: the validating constructor accepts it
        layout = figure.layout
        assert (
            layout.title.yanchor == "top" and layout.legend.yanchor == "top" and layout.legend.y < 0
        )
        log_axis = layout.yaxis
        assert log_axis.type == "log" and list(log_axis.ticktext) == [
            tick_label(v) for v in log_axis.tickvals
        ]
        assert not any(re.search(r"\de[-+]?\d", text) for text in log_axis.ticktext)
        shown = [y for trace in figure.data if trace.yaxis in (None, "y") for y in trace.y]
        assert sum(min(shown) <= tick <= max(shown) for tick in log_axis.tickvals) >= 2, (
            "two ticks on the curves"
        )
        for trace in figure.data:
            if trace.text is not None:
                assert list(trace.text) == [readable_number(y) for y in trace.y]


def test_flat_loss_curves_still_get_two_exact_ticks():
    for low, high in ((1.37, 1.39), (1.371, 1.372), (0.3, 0.9), (2.2e-5, 0.03)):
        axis = readable_log_axis([low, high])
        inside = [tick for tick in axis["tickvals"] if low <= tick <= high]
        assert len(inside) >= 2, (low, high, axis)
        for tick, text in zip(axis["tickvals"], axis["ticktext"]):
            if 1e-3 <= tick < 1e5:
                assert float(text.replace(",", "")) == pytest.approx(tick)
