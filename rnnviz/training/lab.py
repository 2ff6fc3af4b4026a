"""Training lab: train a small RNN / GRU / LSTM on a synthetic long-range task, on the CPU, in seconds.

One training loop (`train`) serves the app (through `TrainingJob`, a background thread whose
progress the page polls) and the benchmark alike. A server shares its cores among many sessions:
`LabScheduler` lets at most a fixed number of jobs train at once (RNNVIZ_LAB_JOBS, by default half
the usable cores), queues the rest in order, and stops the jobs of sessions that have ended. Runs
are deterministic: parameters are initialised from a seeded generator and batches come from
seeded generators, never from the global RNG, so concurrent sessions do not disturb each other. A
run ends at the first of: the held-out accuracy reaching `target_accuracy`, `max_steps`,
`time_budget_s`, or Stop.

While training, the gradient of the loss with respect to every h_t (via rnnviz.analysis.gradients'
step-by-step re-execution) is measured on a fixed probe batch: ‖∂L/∂h_t‖ averaged over the
examples, which shows how much of the error signal reaches step t.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.analysis.gradients import unroll
from rnnviz.core.capture import capture
from rnnviz.core.quantities import QUANTITIES_BY_CELL_KIND, CellKind
from rnnviz.errors import RnnvizError
from rnnviz.training.lab_tasks import ADDING_TOLERANCE, TASKS, Batch, Task

CELLS: dict[CellKind, type[nn.RNNBase]] = {"rnn_tanh": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
EVAL_EXAMPLES = 512
PROBE_EXAMPLES = 64  # examples whose ‖∂L/∂h_t‖ is averaged for the gradient-flow chart


@dataclass(frozen=True)
class LabConfig:
    """One lab run: the cell, the task and its distance N, and the training settings."""

    cell_kind: CellKind = "lstm"
    task: str = "first_symbol"
    # The defaults show the contrast the lab is about (bench/bench_lab.py, README): at N = 60 a
    # vanilla RNN stays far from the target for all its steps while a GRU and an LSTM reach it.
    n: int = 60  # distractors / brackets / pairs: how far the answer has to travel
    hidden_size: int = 32
    batch_size: int = 64
    learning_rate: float = 0.01
    max_steps: int = 2000  # the same run on any machine fast enough to take them within the budget
    time_budget_s: float = 30.0
    target_accuracy: float = 0.99
    eval_every: int = 25
    seed: int = 0
    gate_init: Literal["chrono", "pytorch"] = "chrono"  # see build_lab_model

    def __post_init__(self) -> None:
        problems = []
        if self.cell_kind not in CELLS:
            problems.append(f"cell_kind must be one of {sorted(CELLS)}, got {self.cell_kind!r}")
        if self.task not in TASKS:
            problems.append(f"task must be one of {sorted(TASKS)}, got {self.task!r}")
        for name, low, high in (
            ("n", 1, 500),
            ("hidden_size", 1, 1024),
            ("batch_size", 1, 4096),
            ("max_steps", 1, 10**6),
            ("eval_every", 1, 10**6),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        if not (
            0 < self.learning_rate < 1 and self.time_budget_s > 0 and 0 < self.target_accuracy <= 1
        ):
            problems.append(
                "learning_rate in (0, 1), time_budget_s > 0 and target_accuracy in (0, 1] are required"
            )
        if self.gate_init not in ("chrono", "pytorch"):
            problems.append(f"gate_init must be 'chrono' or 'pytorch', got {self.gate_init!r}")
        if problems:
            raise RnnvizError("invalid lab config: " + "; ".join(problems))

    @property
    def task_spec(self) -> Task:
        return TASKS[self.task]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LabConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise RnnvizError(f"invalid lab config: unknown keys {sorted(unknown)}")
        return cls(**d)


class LabModel(nn.Module):
    """rnn (one layer, batch-first) → linear head on the last step's hidden state."""

    def __init__(self, config: LabConfig):
        super().__init__()
        task = config.task_spec
        self.rnn = CELLS[config.cell_kind](task.features, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, task.outputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """[batch, time, features] → [batch, outputs]."""
        outputs, _ = self.rnn(inputs)
        return self.head(outputs[:, -1])


def build_lab_model(config: LabConfig) -> LabModel:
    """A LabModel initialised from `config.seed` alone: every weight and bias ~ U(±1/√H), PyTorch's
    default ranges, head bias 0. With gate_init "chrono" (Tallec & Ollivier 2018, "Can recurrent
    neural networks warp time?") the gates that keep the state start with biases spread over the
    timescales of the task: an LSTM's forget-gate bias b_f = log u and input-gate bias b_i = −b_f,
    a GRU's update-gate bias b_z = log u, u ~ U[1, T − 1] for sequences of length T. A plain RNN
    has no gate, so the option does not touch it."""
    model = LabModel(config)
    generator = torch.Generator().manual_seed(config.seed)
    bound = 1.0 / math.sqrt(config.hidden_size)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "head.bias":
                p.zero_()
            else:
                p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
        if config.gate_init == "chrono" and config.cell_kind != "rnn_tanh":
            H = config.hidden_size
            steps = config.task_spec.sequence_length(config.n)
            timescale = torch.log(1 + torch.rand(H, generator=generator) * max(steps - 2, 0))
            rnn = model.rnn
            keep = slice(H, 2 * H)  # LSTM gates i, f, g, o: f; GRU gates r, z, n: z
            rnn.bias_ih_l0[keep].copy_(timescale)
            rnn.bias_hh_l0[keep].zero_()
            if config.cell_kind == "lstm":
                rnn.bias_ih_l0[:H].copy_(-timescale)
                rnn.bias_hh_l0[:H].zero_()
    return model


def loss_and_correct(
    task: Task, outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed loss (cross-entropy, or squared error for regression) and a per-example correct mask."""
    if task.kind == "regression":
        prediction = outputs[:, 0]
        return F.mse_loss(prediction, targets, reduction="sum"), (
            prediction - targets
        ).abs() < ADDING_TOLERANCE
    return F.cross_entropy(outputs, targets, reduction="sum"), outputs.argmax(dim=-1) == targets


def gradient_norms_per_step(model: LabModel, task: Task, batch: Batch) -> np.ndarray:
    """[time]: ‖∂l/∂h_t‖ averaged over the batch's examples (l: each example's own loss)."""
    with torch.enable_grad():
        unrolled = unroll(model.rnn, batch.inputs)
        loss, _ = loss_and_correct(task, model.head(unrolled.outputs[:, -1]), batch.targets)
        grads = torch.autograd.grad(loss, unrolled.hidden["layer0.forward"])
    return torch.stack([g.norm(dim=-1).mean() for g in grads]).numpy()


@dataclass(frozen=True)
class Checkpoint:
    """Held-out loss (mean per example) and accuracy after `step` updates."""

    step: int
    seconds: float
    loss: float
    accuracy: float


@dataclass(frozen=True)
class Progress:
    """Where a run stands: its checkpoints and gradient-norm snapshots so far, and how it ended."""

    config: LabConfig
    step: int = 0
    seconds: float = 0.0
    checkpoints: tuple[Checkpoint, ...] = ()
    gradient_norms: tuple[tuple[int, np.ndarray], ...] = ()  # (step, ‖∂l/∂h_t‖ over t)
    state: Literal["queued", "running", "done", "stopped", "failed"] = "running"
    reason: str = ""  # why it ended, without the step count and time (the page adds those)

    @property
    def accuracy(self) -> float | None:
        return self.checkpoints[-1].accuracy if self.checkpoints else None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "stopped", "failed")

    @property
    def fraction(self) -> float:
        """Share of the step or time budget used, whichever is larger, in [0, 1]; 1 once done (a run
        that reached its target accuracy early is complete), the share reached for a stopped run."""
        if self.state == "done":
            return 1.0
        return min(
            1.0, max(self.step / self.config.max_steps, self.seconds / self.config.time_budget_s)
        )


@dataclass(frozen=True)
class LabResult:
    """A finished run: the trained model and its full progress record."""

    config: LabConfig
    model: LabModel
    progress: Progress


def train(
    config: LabConfig,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> LabResult:
    """Train a fresh model for `config`; calls `on_progress` after every checkpoint."""
    task = config.task_spec
    model = build_lab_model(config)
    held_out = task.generate(
        config.n, EVAL_EXAMPLES, torch.Generator().manual_seed(config.seed + 1)
    )
    probe = Batch(held_out.inputs[:PROBE_EXAMPLES], held_out.targets[:PROBE_EXAMPLES])
    stream = torch.Generator().manual_seed(config.seed + 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    progress = Progress(config)
    start = time.perf_counter()

    def checkpoint(step: int) -> Progress:
        with torch.no_grad():
            loss, correct = loss_and_correct(task, model(held_out.inputs), held_out.targets)
        seconds = time.perf_counter() - start
        point = Checkpoint(
            step, seconds, float(loss) / EVAL_EXAMPLES, float(correct.float().mean())
        )
        norms = (step, gradient_norms_per_step(model, task, probe))
        return replace(
            progress,
            step=step,
            seconds=seconds,
            checkpoints=progress.checkpoints + (point,),
            gradient_norms=progress.gradient_norms + (norms,),
        )

    progress = checkpoint(0)
    if on_progress:
        on_progress(progress)
    step, reason, state = 0, f"reached {config.max_steps} steps", "done"
    while step < config.max_steps:
        if stop is not None and stop.is_set():
            reason, state = "stopped", "stopped"
            break
        batch = task.generate(config.n, config.batch_size, stream)
        loss, _ = loss_and_correct(task, model(batch.inputs), batch.targets)
        optimizer.zero_grad()
        (loss / config.batch_size).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        out_of_time = time.perf_counter() - start >= config.time_budget_s
        if step % config.eval_every == 0 or out_of_time or step == config.max_steps:
            progress = checkpoint(step)
            if on_progress:
                on_progress(progress)
            if progress.accuracy >= config.target_accuracy:
                reason = f"reached {progress.accuracy:.1%} held-out accuracy"
                break
            if out_of_time:
                reason = f"time budget of {config.time_budget_s:.0f} s used"
                break
    if progress.step != step:
        progress = checkpoint(step)
    progress = replace(progress, state=state, reason=reason, seconds=time.perf_counter() - start)
    if on_progress:
        on_progress(progress)
    model.eval()
    return LabResult(config, model, progress)


_JOB_NUMBERS = itertools.count(1)
TRAINING_NICENESS = 10


def lower_this_threads_priority() -> None:
    """Where the OS allows it (Linux: a thread's own nice value), let the CPU serve the pages first:
    when cores are short, a training thread then waits, not the sessions reading heatmaps."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICENESS)
    except (AttributeError, OSError):
        pass


class TrainingJob:
    """`train` in a background thread; the page polls `snapshot()` and may `stop()` it.

    Created with `start=False` (by LabScheduler) it waits, state "queued", until `start()`; a job
    stopped while it waits never trains. `on_end` is called once, from whichever thread ends the job."""

    def __init__(
        self,
        config: LabConfig,
        start: bool = True,
        on_end: Callable[["TrainingJob"], None] | None = None,
    ):
        self.config = config
        self.number = next(_JOB_NUMBERS)  # unique in this process (unlike id(), never reused)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._stop_reason = ""
        self._on_end = on_end
        self._progress = Progress(config, state="queued")
        self._result: LabResult | None = None
        self.started_at: float | None = None  # time.monotonic() when training began
        self.ended_at: float | None = None  # … and when the job ended (trained, stopped or failed)
        self._thread = threading.Thread(
            target=self._run, name=f"rnnviz-lab-{config.cell_kind}", daemon=True
        )
        if start:
            self.start()

    def start(self) -> bool:
        """Begin training; False when the job was stopped while it waited (or has started already)."""
        with self._lock:
            if self._progress.state != "queued":
                return False
            self._progress = Progress(self.config)
            self.started_at = time.monotonic()
        self._thread.start()
        return True

    def _publish(self, progress: Progress) -> None:
        # The final (finished) progress is published by _run together with the result: the page
        # reruns once on "finished" and must then find the trained model, not a moment before it.
        if not progress.finished:
            with self._lock:
                self._progress = progress

    def _run(self) -> None:
        lower_this_threads_priority()
        try:
            result = train(self.config, self._publish, self._stop)
            final = result.progress
            if final.state == "stopped" and self._stop_reason:
                final = replace(final, reason=self._stop_reason)
                result = replace(result, progress=final)
        except Exception as error:  # shown on the page as a message, not a traceback
            result, final = (
                None,
                replace(self.snapshot(), state="failed", reason=f"{type(error).__name__}: {error}"),
            )
        with self._lock:
            self._result, self._progress = result, final
        self._end()

    def _end(self) -> None:
        self.ended_at = time.monotonic()
        self._ended.set()
        if self._on_end:
            self._on_end(self)

    def snapshot(self) -> Progress:
        with self._lock:
            return self._progress

    @property
    def result(self) -> LabResult | None:
        with self._lock:
            return self._result

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to end after its current step (at once, if it is still waiting)."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
            self._stop.set()
            waiting = self._progress.state == "queued"
            if waiting:
                self._progress = replace(
                    self._progress, state="stopped", reason=f"{reason} before it started"
                )
        if waiting:
            self._end()

    def wait(self, timeout: float | None = None) -> Progress:
        """Block until the job has ended (or `timeout` seconds passed); the progress then."""
        self._ended.wait(timeout)
        return self.snapshot()


LAB_JOBS_VARIABLE = "RNNVIZ_LAB_JOBS"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def lab_job_slots(environ: dict[str, str] | None = None) -> tuple[int, str]:
    """How many lab jobs may train at once in this process, and a note when RNNVIZ_LAB_JOBS was unusable.

    Default max(1, usable cores // 2): each job trains on one core (torch intra-op threads are 1 in
    the app), and the other half keeps the page answering every session."""
    default = max(1, usable_cores() // 2)
    value = (os.environ if environ is None else environ).get(LAB_JOBS_VARIABLE, "").strip()
    if not value:
        return default, ""
    if value.isdigit() and 1 <= int(value) <= 1024:
        return int(value), ""
    return (
        default,
        f"{LAB_JOBS_VARIABLE}={value!r} is not a whole number from 1 to 1024; using {default}",
    )


@dataclass(frozen=True)
class QueueCounts:
    """The scheduler now: jobs training and waiting, the bound, and totals since the server started."""

    running: int
    waiting: int
    slots: int
    submitted: int
    queued: int  # jobs that had to wait for a slot
    finished: int  # ended on their own: target accuracy, step limit or time budget
    stopped: int  # stopped by their session, before or during training
    orphaned: int  # of those, stopped because their session ended


class LabScheduler:
    """At most `slots` training jobs at once, server-wide; the others wait in order of submission.

    Each job may come with `alive`, a function saying whether the session that owns it still exists
    (the page passes Streamlit's own `Runtime.is_active_session`). A watcher thread checks it every
    `watch_every_s`; a job whose owner has been gone for `orphan_grace_s` (a closed tab, an expired
    session; the grace lets a dropped connection reconnect) is stopped, or leaves the queue."""

    def __init__(self, slots: int, orphan_grace_s: float = 10.0, watch_every_s: float = 1.0):
        if slots < 1:
            raise RnnvizError(f"the lab needs at least one job slot, got {slots}")
        self.slots = slots
        self.orphan_grace_s = orphan_grace_s
        self.watch_every_s = watch_every_s
        self._lock = threading.Lock()
        self._running: list[TrainingJob] = []
        self._waiting: list[TrainingJob] = []
        self._alive: dict[int, Callable[[], bool]] = {}
        self._gone_since: dict[int, float] = {}
        self._totals = {"submitted": 0, "queued": 0, "finished": 0, "stopped": 0, "orphaned": 0}
        self._watcher: threading.Thread | None = None

    def submit(self, config: LabConfig, alive: Callable[[], bool] | None = None) -> TrainingJob:
        """A job for `config`: training at once when a slot is free, else waiting its turn."""
        job = TrainingJob(config, start=False, on_end=self._ended)
        with self._lock:
            self._totals["submitted"] += 1
            if alive is not None:
                self._alive[id(job)] = alive
                self._start_watcher()
            if len(self._running) < self.slots:
                self._running.append(job)
                starts = True
            else:
                self._waiting.append(job)
                self._totals["queued"] += 1
                starts = False
        if starts:
            job.start()
        return job

    def place(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, 2 for the one after it, …; None when `job` is not waiting."""
        with self._lock:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def counts(self) -> QueueCounts:
        with self._lock:
            return QueueCounts(len(self._running), len(self._waiting), self.slots, **self._totals)

    def _ended(self, job: TrainingJob) -> None:
        """A job ended (finished, stopped, failed, or left the queue): free its slot for the next in line."""
        state = job.snapshot().state
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            if job in self._waiting:
                self._waiting.remove(job)
            self._alive.pop(id(job), None)
            self._gone_since.pop(id(job), None)
            self._totals["stopped" if state == "stopped" else "finished"] += 1
            starting = []
            while self._waiting and len(self._running) < self.slots:
                starting.append(self._waiting.pop(0))
                self._running.append(starting[-1])
        for next_job in starting:
            next_job.start()

    def _start_watcher(self) -> None:
        """Called under the lock; the watcher ends by itself once no job has an owner to check."""
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="rnnviz-lab-watcher", daemon=True
            )
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.watch_every_s)
            with self._lock:
                if not self._alive:
                    self._watcher = None
                    return
            for job in self._orphans(time.monotonic()):
                with self._lock:
                    self._totals["orphaned"] += 1
                job.stop("stopped: its session ended")

    def _orphans(self, now: float) -> list[TrainingJob]:
        """Jobs whose session has been gone for the grace period (each returned once)."""
        with self._lock:
            jobs = [(job, self._alive.get(id(job))) for job in self._running + self._waiting]
        orphans = []
        for job, alive in jobs:
            if alive is None:
                continue
            try:
                gone = not alive()
            except Exception:  # noqa: BLE001 — a failing check must not end the watcher
                gone = False
            with self._lock:
                if not gone:
                    self._gone_since.pop(id(job), None)
                elif now - self._gone_since.setdefault(id(job), now) >= self.orphan_grace_s:
                    self._alive.pop(id(job), None)
                    orphans.append(job)
        return orphans


@dataclass(frozen=True)
class LabInspection:
    """One example through a trained lab model, ready for the normal heatmap views."""

    tokens: list[str]
    cell_kind: CellKind
    quantities: dict[str, np.ndarray]  # quantity → [time, units]
    target: str
    prediction: str


def inspect_example(model: LabModel, config: LabConfig, seed: int = 0) -> LabInspection:
    """Run one generated example inside rnnviz.core.capture and collect every quantity of the layer."""
    task = config.task_spec
    example = task.generate(config.n, 1, torch.Generator().manual_seed(seed))
    with torch.no_grad(), capture(model) as trace:
        output = model(example.inputs)[0]
    record = trace.call("rnn")
    quantities = {
        q: trace[record.name(0, "forward", q)][0].numpy()
        for q in QUANTITIES_BY_CELL_KIND[record.cell_kind]
    }
    if task.kind == "regression":
        target, prediction = f"{float(example.targets[0]):.3f}", f"{float(output[0]):.3f}"
    else:
        target, prediction = (
            task.classes[int(example.targets[0])],
            task.classes[int(output.argmax())],
        )
    return LabInspection(
        task.tokens(example.inputs[0]), record.cell_kind, quantities, target, prediction
    )


def export_zip(result: LabResult) -> bytes:
    """A zip of model.safetensors + config.json (the LabConfig and the run's final metrics; no pickle)."""
    from safetensors.torch import save

    weights = save(
        {k: v.detach().contiguous() for k, v in result.model.state_dict().items()},
        metadata={"format": "rnnviz-lab"},
    )
    last = result.progress.checkpoints[-1] if result.progress.checkpoints else None
    payload = {
        "format": "rnnviz-lab",
        "lab": result.config.to_dict(),
        "metrics": {
            "steps": result.progress.step,
            "seconds": round(result.progress.seconds, 2),
            "held_out_accuracy": last.accuracy if last else None,
            "held_out_loss": last.loss if last else None,
            "ended": result.progress.reason,
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(WEIGHTS_FILE, weights)
        archive.writestr(CONFIG_FILE, json.dumps(payload, indent=1) + "\n")
    return buffer.getvalue()


def load_zip(data: bytes) -> tuple[LabConfig, LabModel]:
    """Read an `export_zip` archive back into its config and an eval-mode model."""
    from safetensors.torch import load

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            payload = json.loads(archive.read(CONFIG_FILE))
            tensors = load(archive.read(WEIGHTS_FILE))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise RnnvizError(f"not a lab model archive: {error}") from None
    config = LabConfig.from_dict(payload["lab"])
    model = LabModel(config)
    model.load_state_dict(tensors)
    return config, model.eval()
