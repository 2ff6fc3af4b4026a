"""Training lab view: pick a cell, a long-range task and N; train on the CPU while the page stays live.

`render()` draws the whole view. Training runs in a background thread (rnnviz.lab.TrainingJob,
kept in st.session_state["lab_job"]); a fragment polls its progress twice a second and redraws
only itself, so the rest of the page keeps responding. When the run ends, the page reruns once
and shows the trained model's heatmaps and the download.
"""

from __future__ import annotations

import streamlit as st

from rnnviz.errors import RnnvizError
from rnnviz.figures import quantity_heatmap, token_labels
from rnnviz.lab import LabConfig, TrainingJob, export_zip, gradient_norm_figure, inspect_example, training_figure
from rnnviz.lab_tasks import TASKS

CELL_NAMES = {"rnn": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM"}
POLL_SECONDS = 0.5
JOB_KEY = "lab_job"


def _settings() -> LabConfig:
    """The LabConfig chosen with the lab_ widgets."""
    defaults = LabConfig()
    columns = st.columns(3)
    cell = columns[0].radio("cell", list(CELL_NAMES), index=list(CELL_NAMES).index(defaults.cell),
                            format_func=CELL_NAMES.get, horizontal=True, key="lab_cell")
    task = columns[1].selectbox("task", list(TASKS), format_func=lambda name: TASKS[name].title, key="lab_task")
    n = columns[2].slider("N (distance to bridge)", 5, 100, defaults.n, key="lab_n")
    with st.expander("training settings"):
        columns = st.columns(3)
        hidden = columns[0].slider("hidden units", 4, 128, defaults.hidden_size, key="lab_hidden")
        budget = columns[1].slider("time budget (s)", 5, 60, int(defaults.time_budget_s), key="lab_budget")
        max_steps = columns[2].number_input("max steps", 1, 100_000, defaults.max_steps, key="lab_max_steps")
        columns = st.columns(3)
        seed = columns[0].number_input("seed", 0, 2**31 - 1, defaults.seed, key="lab_seed")
        gate_init = columns[1].radio("gate initialisation", ["chrono", "pytorch"], horizontal=True, key="lab_gate_init",
                                     help="chrono: forget / update gate biases spread over the task's timescales "
                                          "(Tallec & Ollivier 2018); pytorch: PyTorch's default uniform init.")
        target = columns[2].slider("stop at held-out accuracy", 0.5, 1.0, defaults.target_accuracy, key="lab_target")
    return LabConfig(cell=cell, task=task, n=int(n), hidden_size=int(hidden), time_budget_s=float(budget),
                     max_steps=int(max_steps), seed=int(seed), gate_init=gate_init, target_accuracy=float(target))


def render() -> None:
    """Draw the training lab: settings, Train / Stop, live progress, then the trained model."""
    st.markdown("Train a small recurrent network on a task whose answer lies **N steps back**, and watch how much "
                "of the loss gradient reaches each timestep: a vanilla RNN's fades with distance, an LSTM's holds.")
    try:
        config = _settings()
    except RnnvizError as error:
        st.error(str(error))
        return
    job: TrainingJob | None = st.session_state.get(JOB_KEY)
    running = job is not None and not job.snapshot().finished
    train_column, stop_column, _ = st.columns([1, 1, 4])
    if train_column.button("Train", type="primary", key="lab_train"):
        if running:
            job.stop()
        job = st.session_state[JOB_KEY] = TrainingJob(config)
        running = True
    if stop_column.button("Stop", key="lab_stop", disabled=not running):
        job.stop()
        job.wait(timeout=10)
        running = False
    if job is None:
        st.info("Choose a cell, a task and N, then press Train (each run stops within its time budget).")
        return
    st.fragment(_progress_panel, run_every=POLL_SECONDS if running else None)(job, running)
    if not running and job.result is not None:
        _trained_model(job)


def _progress_panel(job: TrainingJob, polling: bool) -> None:
    progress = job.snapshot()
    config = progress.config
    task = config.task_spec
    accuracy = "–" if progress.accuracy is None else f"{progress.accuracy:.1%}"
    status = {"running": "training", "done": "done", "stopped": "stopped", "failed": "failed"}[progress.state]
    st.progress(progress.fraction, text=f"{CELL_NAMES[config.cell]} on “{task.title}”, N = {config.n}: {status} — "
                                        f"step {progress.step}, {progress.seconds:.1f} s, held-out accuracy {accuracy}")
    if progress.state == "failed":
        st.error(progress.reason)
    elif progress.finished:
        st.success(f"Finished: {progress.reason} after {progress.step} steps in {progress.seconds:.1f} s.")
    if progress.checkpoints:
        left, right = st.columns(2)
        left.plotly_chart(training_figure(progress.checkpoints, task), key="lab_chart_training")
        right.plotly_chart(gradient_norm_figure(progress.gradient_norms), key="lab_chart_gradients")
    if polling and progress.finished:
        st.rerun()  # once, to stop polling and show the trained model


def _trained_model(job: TrainingJob) -> None:
    result = job.result
    config = result.config
    st.subheader("The trained model, inside")
    example_seed = st.number_input("example", 0, 10_000, 0, key="lab_example",
                                   help="which generated example to run through the trained model")
    inspection = inspect_example(result.model, config, seed=int(example_seed))
    st.markdown(f"Target **{inspection.target}**, the model says **{inspection.prediction}**. "
                "Below, every state and gate of the trained layer over this example.")
    labels = token_labels(inspection.tokens)
    for quantity, values in inspection.quantities.items():
        st.plotly_chart(quantity_heatmap(values, labels, quantity, inspection.cell), key=f"lab_chart_{quantity}")
    st.download_button("Download the trained model (safetensors + config.json, zip)", export_zip(result),
                       file_name=f"rnnviz-lab-{config.cell}-{config.task}-N{config.n}.zip",
                       mime="application/zip", key="lab_download")
