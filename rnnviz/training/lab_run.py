"""One lab run: a fresh model trained by the shared loop (rnnviz.training.loop) on its task's
seeded batches, with a checkpoint every `eval_every` steps (held-out loss and accuracy, and the
gradient reaching each h_t on a fixed probe batch). A run ends at the first of: the held-out accuracy
reaching `target_accuracy`, `max_steps`, `time_budget_s`, or Stop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Literal

import numpy as np
import torch

from rnnviz.training.lab_model import (
    LabConfig,
    LabModel,
    build_lab_model,
    gradient_norms_per_step,
    loss_and_correct,
)
from rnnviz.training.lab_tasks import Batch
from rnnviz.training.loop import train_loop

EVAL_EXAMPLES = 512
PROBE_EXAMPLES = 64  # examples whose ‖∂L/∂h_t‖ is averaged for the gradient-flow chart


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

    def measure(step: int) -> Progress:
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

    def checkpoint(step: int) -> bool:
        """Measure and publish; True (the run ends) once the target accuracy is reached."""
        nonlocal progress
        progress = measure(step)
        if on_progress:
            on_progress(progress)
        return progress.accuracy >= config.target_accuracy

    def batches():
        while True:
            yield task.generate(config.n, config.batch_size, stream)

    def loss_of(batch: Batch) -> torch.Tensor:
        loss, _ = loss_and_correct(task, model(batch.inputs), batch.targets)
        return loss / config.batch_size

    progress = measure(0)
    if on_progress:
        on_progress(progress)
    end = train_loop(
        model,
        optimizer,
        batches(),
        loss_of,
        max_steps=config.max_steps,
        clip=1.0,
        checkpoint_after=lambda step: step % config.eval_every == 0,
        checkpoint=checkpoint,
        stop=stop,
        time_budget_s=config.time_budget_s,
        started=start,
    )
    reason, state = {
        "steps": (f"reached {config.max_steps} steps", "done"),
        "stopped": ("stopped", "stopped"),
        "time": (f"time budget of {config.time_budget_s:.0f} s used", "done"),
        "checkpoint": (f"reached {progress.accuracy:.1%} held-out accuracy", "done"),
    }[end.reason]
    if progress.step != end.steps:
        progress = measure(end.steps)
    progress = replace(progress, state=state, reason=reason, seconds=time.perf_counter() - start)
    if on_progress:
        on_progress(progress)
    model.eval()
    return LabResult(config, model, progress)
