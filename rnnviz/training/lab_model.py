"""The lab's model: its settings (LabConfig), a one-layer RNN / GRU / LSTM with a linear head on the
last step, seeded initialisation (with chrono gate biases), the loss, the gradient reaching each h_t,
and one example run inside rnnviz.core.capture for the heatmaps.

Runs are deterministic: parameters are initialised from a seeded generator and batches come from
seeded generators, never from the global RNG, so concurrent sessions do not disturb each other.

The gradient of the loss with respect to every h_t (via rnnviz.analysis.gradients' step-by-step
re-execution) shows how much of the error signal reaches step t.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.analysis.gradients import unroll
from rnnviz.core.capture import capture
from rnnviz.core.trace import QUANTITIES_BY_CELL
from rnnviz.errors import RnnvizError
from rnnviz.training.lab_tasks import ADDING_TOLERANCE, TASKS, Batch, Task

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class LabConfig:
    """One lab run: the cell, the task and its distance N, and the training settings."""

    cell: Literal["rnn", "gru", "lstm"] = "lstm"
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
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
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
        self.rnn = CELLS[config.cell](task.features, config.hidden_size, batch_first=True)
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
        if config.gate_init == "chrono" and config.cell != "rnn":
            H = config.hidden_size
            steps = config.task_spec.sequence_length(config.n)
            timescale = torch.log(1 + torch.rand(H, generator=generator) * max(steps - 2, 0))
            rnn = model.rnn
            keep = slice(H, 2 * H)  # LSTM gates i, f, g, o: f; GRU gates r, z, n: z
            rnn.bias_ih_l0[keep].copy_(timescale)
            rnn.bias_hh_l0[keep].zero_()
            if config.cell == "lstm":
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
class LabInspection:
    """One example through a trained lab model, ready for the normal heatmap views."""

    tokens: list[str]
    cell: str  # capture's cell kind: "lstm", "gru", "rnn_tanh"
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
        q: trace[record.name(0, "forward", q)][0].numpy() for q in QUANTITIES_BY_CELL[record.cell]
    }
    if task.kind == "regression":
        target, prediction = f"{float(example.targets[0]):.3f}", f"{float(output[0]):.3f}"
    else:
        target, prediction = (
            task.classes[int(example.targets[0])],
            task.classes[int(output.argmax())],
        )
    return LabInspection(
        task.tokens(example.inputs[0]), record.cell, quantities, target, prediction
    )
