"""Training lab view: pick a cell, a long-range task and N; train on the CPU while the page stays live.

`render()` draws the whole view. Jobs go through one server-wide rnnviz.training.lab_jobs.LabScheduler (at most
RNNVIZ_LAB_JOBS train at once; the others wait their turn and see their place in line); the
session's job is kept in st.session_state["lab_job"]. A fragment polls its progress (every
second while it trains, every two while it waits) and redraws only itself, so the rest of the
page keeps responding. When the run ends, the page reruns once and shows the trained model's
heatmaps and the download. A job whose session has ended (tab closed, session expired) is stopped
by the scheduler, which asks Streamlit's runtime whether the session is still connected; a
session merely showing another view keeps its job.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from rnnviz.app.state import ViewInputs
from rnnviz.errors import RnnvizError
from rnnviz.figures import quantity_heatmap, token_labels
from rnnviz.figures.lab import gradient_norm_figure, training_figure
from rnnviz.training.lab_files import export_zip
from rnnviz.training.lab_jobs import LabScheduler, TrainingJob, lab_job_slots
from rnnviz.training.lab_model import LabConfig, inspect_example
from rnnviz.training.lab_run import Progress
from rnnviz.training.lab_tasks import TASKS

CELL_NAMES = {"rnn_tanh": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM"}
# How often a session's page asks for its job's progress. Every poll is a script run on the server
# (a fragment rerun: Streamlit's run overhead, the charts sent again), paid by everyone's pages: ten
# students polling twice a second slowed the other sessions' Enter → heatmaps sixfold in
# bench/load_test.py. A place in line changes only when a run ends, so waiting pages poll slowly.
POLL_SECONDS = {"queued": 2.0, "running": 1.0}
JOB_KEY = "lab_job"
FIGURES_KEY = "lab_figures"  # (job, checkpoints, state) → the live charts drawn for them


@st.cache_resource
def lab_scheduler() -> tuple[LabScheduler, str]:
    """One scheduler per server process, shared by every session; and a note if the bound's setting was unusable."""
    slots, note = lab_job_slots()
    return LabScheduler(slots), note


def session_alive() -> Callable[[], bool] | None:
    """Whether this browser session is still connected, asked of Streamlit's runtime from any thread
    (`Runtime.is_active_session` is documented thread-safe); None outside a served page (AppTest)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), context.session_id
    return lambda: server.is_active_session(session_id)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _settings() -> LabConfig:
    """The LabConfig chosen with the lab_ widgets."""
    defaults = LabConfig()
    columns = st.columns([1.5, 2.2, 1.3])  # the task's title is the longest: its box shows it whole
    cell = columns[0].radio(
        "cell",
        list(CELL_NAMES),
        index=list(CELL_NAMES).index(defaults.cell_kind),
        format_func=CELL_NAMES.get,
        horizontal=True,
        key="lab_cell",
    )
    task = columns[1].selectbox(
        "task", list(TASKS), format_func=lambda name: TASKS[name].title, key="lab_task"
    )
    n = columns[2].slider("N (distance to bridge)", 5, 100, defaults.n, key="lab_n")
    with st.expander("training settings"):
        columns = st.columns(3)
        hidden = columns[0].slider("hidden units", 4, 128, defaults.hidden_size, key="lab_hidden")
        budget = columns[1].slider(
            "time budget (s)", 5, 60, int(defaults.time_budget_s), key="lab_budget"
        )
        max_steps = columns[2].number_input(
            "max steps", 1, 100_000, defaults.max_steps, key="lab_max_steps"
        )
        columns = st.columns(3)
        seed = columns[0].number_input("seed", 0, 2**31 - 1, defaults.seed, key="lab_seed")
        gate_init = columns[1].radio(
            "gate initialisation",
            ["chrono", "pytorch"],
            horizontal=True,
            key="lab_gate_init",
            help="chrono: forget / update gate biases spread over the task's timescales "
            "(Tallec & Ollivier 2018); pytorch: PyTorch's default uniform init.",
        )
        target = columns[2].slider(
            "stop at held-out accuracy", 0.5, 1.0, defaults.target_accuracy, key="lab_target"
        )
    return LabConfig(
        cell_kind=cell,
        task=task,
        n=int(n),
        hidden_size=int(hidden),
        time_budget_s=float(budget),
        max_steps=int(max_steps),
        seed=int(seed),
        gate_init=gate_init,
        target_accuracy=float(target),
    )


def render(inputs: ViewInputs) -> None:
    """Draw the training lab: settings, Train / Stop, live progress, then the trained model."""
    defaults = LabConfig()
    st.markdown(
        "Train a small recurrent network on a task whose answer lies **N steps back**, and watch how much "
        "of the loss gradient reaches each timestep: a vanilla RNN's fades with distance, a GRU's and an "
        f"LSTM's hold. At the settings below (N = {defaults.n}, {defaults.hidden_size} hidden units, "
        f"{defaults.time_budget_s:.0f} s) the RNN stays near chance where the GRU and the LSTM learn the task."
    )
    scheduler, note = lab_scheduler()
    if note:
        st.warning(note)
    try:
        config = _settings()
    except RnnvizError as error:
        st.error(str(error))
        return
    job: TrainingJob | None = st.session_state.get(JOB_KEY)
    active = job is not None and not job.snapshot().finished
    train_column, stop_column, _ = st.columns([1, 1, 4])
    if train_column.button("Train", type="primary", key="lab_train"):
        if active:
            job.stop()
        job = st.session_state[JOB_KEY] = scheduler.submit(config, alive=session_alive())
        active = True
    if stop_column.button("Stop", key="lab_stop", disabled=not active):
        job.stop()
        job.wait(timeout=10)
        active = False
    if job is None:
        counts = scheduler.counts()
        st.info(
            "Choose a cell, a task and N, then press Train (each run stops within its time budget). "
            f"On this server {counts.running} of {counts.slots} training slots are in use"
            f"{f' and {counts.waiting} waiting' if counts.waiting else ''}."
        )
        return
    state = job.snapshot().state
    st.fragment(_progress_panel, run_every=POLL_SECONDS.get(state) if active else None)(
        job, active, scheduler, state
    )
    if not active and job.result is not None:
        _trained_model(job)


def progress_line(progress: Progress, place: int | None) -> str:
    """The progress bar's text: what runs, where it stands, or its place in the queue."""
    config = progress.config
    head = f"{CELL_NAMES[config.cell_kind]} on “{config.task_spec.title}”, N = {config.n}"
    if progress.state == "queued":
        return f"{head}: waiting: {ordinal(place or 1)} in line for a training slot"
    accuracy = "–" if progress.accuracy is None else f"{progress.accuracy:.1%}"
    status = {"running": "training", "done": "done", "stopped": "stopped", "failed": "failed"}[
        progress.state
    ]
    return f"{head}: {status} — step {progress.step}, {progress.seconds:.1f} s, held-out accuracy {accuracy}"


def outcome_message(progress: Progress) -> str:
    """One sentence on how a finished run ended (the reason says why, this adds how far it got)."""
    accuracy = "–" if progress.accuracy is None else f"{progress.accuracy:.1%}"
    where = f"after {progress.step} steps in {progress.seconds:.1f} s"
    if progress.state == "stopped":
        if progress.reason.endswith("before it started"):
            return "Stopped before it started: it was still waiting for a training slot."
        return (
            f"Stopped {where}, at {progress.fraction:.0%} of its budget; held-out accuracy {accuracy}. "
            "Press Train to start again."
        )
    if progress.reason == f"reached {progress.step} steps":  # the budget names the steps already
        where = f"in {progress.seconds:.1f} s"
    return f"Done: {progress.reason} {where}; held-out accuracy {accuracy}."


def _progress_panel(
    job: TrainingJob, polling: bool, scheduler: LabScheduler, polled_state: str
) -> None:
    progress = job.snapshot()
    place = scheduler.place(job) if progress.state == "queued" else None
    st.progress(progress.fraction, text=progress_line(progress, place))
    counts = scheduler.counts()
    if progress.state == "queued":
        busy = (
            "This server's one training slot is busy"
            if counts.slots == 1
            else f"All {counts.slots} training slots of this server are busy"
        )
        st.info(
            f"{busy}; this run starts when one frees ({counts.waiting} waiting). The page stays usable meanwhile."
        )
    elif progress.state == "failed":
        st.error(f"Training failed: {progress.reason}")
    elif progress.state == "stopped":
        st.warning(outcome_message(progress))
    elif progress.state == "done":
        st.success(outcome_message(progress))
    if progress.checkpoints:
        left, right = st.columns(2)
        training, gradients = _figures(job, progress)
        left.plotly_chart(training, key="lab_chart_training")
        right.plotly_chart(gradients, key="lab_chart_gradients")
    if polling and progress.finished:
        st.rerun()  # once, to stop polling and show the trained model
    elif polling and progress.state == "running" and polled_state == "queued":
        st.rerun()  # it left the queue: poll at the training rate from now on


def _figures(job: TrainingJob, progress: Progress):
    """The two live charts, rebuilt only when a new checkpoint arrived: most polls find none."""
    key = (job.number, len(progress.checkpoints), progress.state)
    cached = st.session_state.get(FIGURES_KEY)
    if cached is None or cached[0] != key:
        cached = (
            key,
            (
                training_figure(progress.checkpoints, progress.config.task_spec),
                gradient_norm_figure(progress.gradient_norms),
            ),
        )
        st.session_state[FIGURES_KEY] = cached
    return cached[1]


def _trained_model(job: TrainingJob) -> None:
    result = job.result
    config = result.config
    st.subheader("The trained model, inside")
    example_seed = st.number_input(
        "example",
        0,
        10_000,
        0,
        key="lab_example",
        help="which generated example to run through the trained model",
    )
    inspection = inspect_example(result.model, config, seed=int(example_seed))
    st.markdown(
        f"Target **{inspection.target}**, the model says **{inspection.prediction}**. "
        "Below, every state and gate of the trained layer over this example."
    )
    labels = token_labels(inspection.tokens)
    for quantity, values in inspection.quantities.items():
        st.plotly_chart(
            quantity_heatmap(values, labels, quantity, inspection.cell_kind),
            key=f"lab_chart_{quantity}",
        )
    st.download_button(
        "Download the trained model (safetensors + config.json, zip)",
        export_zip(result),
        file_name=f"rnnviz-lab-{config.cell_kind}-{config.task}-N{config.n}.zip",
        mime="application/zip",
        key="lab_download",
    )
