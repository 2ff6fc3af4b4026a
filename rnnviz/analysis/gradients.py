"""Backpropagation through time made visible: gradient flow per timestep and token attributions.

Gradient flow. PyTorch's fused nn.LSTM / nn.GRU / nn.RNN kernels do not expose h_t (or c_t)
as nodes of the autograd graph, so ∂y/∂h_t cannot be read from them. We re-run the recurrent
layers step by step with the module's own parameters (`unroll`), check that this re-execution
reproduces the fused module's output, and differentiate the model output y with respect to
every h_t and c_t of every layer and direction. The gradient at a node h_t is the total
derivative of y through everything downstream of h_t (the next step of its layer and the
next layer), which is what backpropagation through time propagates.

"How much does the last state still depend on step t" is ‖∂h_T/∂h_t‖_F, the Frobenius norm
of the Jacobian of the layer's final state with respect to h_t (for an LSTM, c_t held fixed,
because c_t is a separate node of the recursion). Frobenius rather than the spectral norm:
it needs one backward pass, sums every unit's sensitivity and is what the tests recompute.

Token attributions. The output as a function of the token embeddings e_1..e_T:
gradient × input Σ_d e_td · ∂y/∂e_td, and integrated gradients (Captum) from the all-zero
embedding, which is the `<pad>` token's embedding (padding_idx 0 is never trained). Integrated
gradients are complete: Σ_t attribution_t = y(x) − y(baseline), up to the integration error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from rnnviz.core import cells
from rnnviz.core.cells import CellWeights, cell_kind
from rnnviz.core.quantities import DIRECTIONS, layer_key
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel

# The step-by-step re-execution must reproduce the fused module's output to this (float32).
REPRODUCTION_TOLERANCE = 1e-5
# Floor for log-scale plots: exact zeros (tokens after an LM's chosen position) have no log.
LOG_FLOOR = 1e-12

Readout = Callable[[torch.Tensor], torch.Tensor]  # last layer's outputs [B, T, D·H] → output y [B]


@dataclass(frozen=True)
class Unrolled:
    """A step-by-step re-execution of a recurrent module: outputs plus every h_t / c_t graph node."""

    outputs: (
        torch.Tensor
    )  # [batch, time, directions · units] of the last layer, as the fused module returns
    hidden: dict[
        str, list[torch.Tensor]
    ]  # row ("layer0.forward") → h_t for t = 0..T−1, each [batch, units]
    cell: dict[str, list[torch.Tensor]]  # LSTM only: row → c_t

    @property
    def rows(self) -> tuple[str, ...]:
        return tuple(self.hidden)

    def final_hidden(self, row: str) -> torch.Tensor:
        """The row's state after reading the whole sequence: h_T forward, h_1 backward."""
        states = self.hidden[row]
        return states[0] if row.endswith("backward") else states[-1]


def unroll(rnn: nn.RNNBase, inputs: torch.Tensor) -> Unrolled:
    """Run `rnn` on batch-first `inputs` [B, T, F] one timestep at a time with its own weights.

    Zero initial state; inter-layer dropout is not applied (use it on modules in eval mode).
    """
    if rnn.training and rnn.dropout > 0 and rnn.num_layers > 1:
        raise RnnvizError(
            "unroll: put the module in eval mode (inter-layer dropout is not re-executed)"
        )
    kind = cell_kind(rnn)
    directions = 2 if rnn.bidirectional else 1
    batch = inputs.shape[0]
    width = getattr(rnn, "proj_size", 0) or rnn.hidden_size
    hidden: dict[str, list[torch.Tensor]] = {}
    cell: dict[str, list[torch.Tensor]] = {}
    layer_input = inputs
    for layer in range(rnn.num_layers):
        per_direction = []
        for d in range(directions):
            source = layer_input.flip(1) if d else layer_input  # backward: read from the end
            unrolled = cells.unroll(
                kind,
                source,
                CellWeights.of_layer(rnn, layer, d),
                inputs.new_zeros(batch, width),
                inputs.new_zeros(batch, rnn.hidden_size) if kind == "lstm" else None,
            )
            # Each list in token order (a backward row's first entry is its last step).
            hs = unrolled.steps["hidden"][::-1] if d else unrolled.steps["hidden"]
            row = layer_key(layer, DIRECTIONS[d])
            hidden[row] = hs
            if kind == "lstm":
                cs = unrolled.steps["cell"]
                cell[row] = cs[::-1] if d else cs
            per_direction.append(torch.stack(hs, dim=1))
        layer_input = torch.cat(per_direction, dim=-1)
    return Unrolled(outputs=layer_input, hidden=hidden, cell=cell)


def reproduction_error(rnn: nn.RNNBase, inputs: torch.Tensor, unrolled: Unrolled) -> float:
    """Largest |unrolled − fused| over the last layer's outputs (relative where values exceed 1)."""
    with torch.no_grad():
        fused, _ = rnn(inputs if rnn.batch_first else inputs.transpose(0, 1))
        fused = fused if rnn.batch_first else fused.transpose(0, 1)
        difference = (unrolled.outputs.detach() - fused).abs() / fused.abs().clamp(min=1.0)
    return float(difference.max())


@dataclass(frozen=True)
class Output:
    """Which scalar of the model is differentiated, and how to read it from the last layer's outputs."""

    description: str
    readout: Readout
    target: int
    position: int | None  # language model: the position whose next-token distribution is read


def model_output(
    loaded: LoadedModel, ids: Sequence[int], target: int | None = None, position: int | None = None
) -> Output:
    """The output y: a classifier's class score (logit; default the predicted class), or an LM's
    log p(next token = target | x[:position+1]) (default: the last position and its most likely token)."""
    module = loaded.module
    steps = len(ids)
    x = torch.tensor([list(ids)], dtype=torch.int64)
    if loaded.config.task == "classifier":
        if position is not None:
            raise RnnvizError(
                "position applies to language models only; a classifier reads the final state"
            )

        def readout(outputs: torch.Tensor) -> torch.Tensor:
            return module.head(module.pooled(outputs))[
                :, chosen
            ]  # final state, or mean / max over tokens

        labels = loaded.config.labels
        if target is None:
            with torch.no_grad():
                target = int(module(x).argmax(dim=-1))
        if not 0 <= target < len(labels):
            raise RnnvizError(f"class index {target} out of range (classes: {labels})")
        chosen = target
        return Output(f"score (logit) of class {labels[target]!r}", readout, target, None)
    position = steps - 1 if position is None else position
    if not 0 <= position < steps:
        raise RnnvizError(f"position {position} outside the text (0..{steps - 1})")
    if target is None:
        with torch.no_grad():
            target = int(module(x)[0, position].argmax())
    if not 0 <= target < loaded.config.vocab_size:
        raise RnnvizError(
            f"token id {target} outside the vocabulary (size {loaded.config.vocab_size})"
        )
    chosen = target

    def readout(outputs: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(module.head(outputs[:, position]), dim=-1)[:, chosen]

    token = loaded.tokenizer.itos[target]
    return Output(
        f"log p(next = {token!r} | text up to position {position})", readout, target, position
    )


@dataclass(frozen=True)
class GradientFlow:
    """∂y/∂h_t (and ∂y/∂c_t) at every timestep of every layer and direction, and ‖∂h_final/∂h_t‖_F."""

    output: str  # what y is
    output_value: float
    rows: tuple[str, ...]  # "layer0.forward", "layer0.backward", "layer1.forward", ...
    grad_hidden: np.ndarray  # [rows, time, units]: ∂y/∂h_t
    grad_cell: np.ndarray | None  # [rows, time, units]: ∂y/∂c_t (LSTM), else None
    last_state_dependence: (
        np.ndarray
    )  # [rows, time]: ‖∂h_final/∂h_t‖_F within the row's layer and direction
    reproduction_error: float  # step-by-step re-execution vs the fused module

    @property
    def norms_hidden(self) -> np.ndarray:
        """[rows, time]: ‖∂y/∂h_t‖₂."""
        return np.linalg.norm(self.grad_hidden, axis=-1)

    @property
    def norms_cell(self) -> np.ndarray | None:
        """[rows, time]: ‖∂y/∂c_t‖₂ (LSTM), else None."""
        return None if self.grad_cell is None else np.linalg.norm(self.grad_cell, axis=-1)

    def row(self, layer: int, direction: str) -> int:
        return self.rows.index(layer_key(layer, direction))


def embed(loaded: LoadedModel, ids: Sequence[int]) -> torch.Tensor:
    """[1, T, E] token embeddings of `ids`."""
    with torch.no_grad():
        return loaded.module.embedding(torch.tensor([list(ids)], dtype=torch.int64))


def gradient_flow(
    loaded: LoadedModel, ids: Sequence[int], target: int | None = None, position: int | None = None
) -> GradientFlow:
    """Gradient of the model output (see `model_output`) with respect to every h_t / c_t, and ‖∂h_final/∂h_t‖_F."""
    output = model_output(loaded, ids, target, position)
    rnn = loaded.module.rnn
    inputs = embed(loaded, ids)
    with torch.enable_grad():
        unrolled = unroll(rnn, inputs)
        error = reproduction_error(rnn, inputs, unrolled)
        if error > REPRODUCTION_TOLERANCE:
            raise RnnvizError(
                f"step-by-step re-execution differs from the fused module by {error:.2e}"
            )
        y = output.readout(unrolled.outputs)[0]
        nodes = [h for row in unrolled.rows for h in unrolled.hidden[row]]
        nodes += [c for row in unrolled.rows for c in unrolled.cell.get(row, [])]
        grads = torch.autograd.grad(y, nodes, allow_unused=True)
    rows, steps = unrolled.rows, len(ids)
    grads = [torch.zeros_like(n) if g is None else g for n, g in zip(nodes, grads)]
    grad_hidden = torch.stack(grads[: len(rows) * steps]).view(len(rows), steps, -1)
    grad_cell = None
    if unrolled.cell:
        grad_cell = torch.stack(grads[len(rows) * steps :]).view(len(rows), steps, -1).numpy()
    return GradientFlow(
        output=output.description,
        output_value=float(y.detach()),
        rows=rows,
        grad_hidden=grad_hidden.numpy(),
        grad_cell=grad_cell,
        last_state_dependence=last_state_dependence(rnn, inputs),
        reproduction_error=error,
    )


def last_state_dependence(rnn: nn.RNNBase, inputs: torch.Tensor) -> np.ndarray:
    """[rows, time]: ‖∂h_final/∂h_t‖_F per layer and direction, for one sequence `inputs` [1, T, F].

    One backward pass per row, batched over the unit vectors e_k of h_final (vmapped
    vector-Jacobian products, `is_grads_batched`): copy k of the gradient at h_t is row k of
    the Jacobian ∂h_final/∂h_t. The graph stays batch 1, so long texts fit in memory.
    """
    width = getattr(rnn, "proj_size", 0) or rnn.hidden_size
    unit_vectors = torch.eye(width, dtype=inputs.dtype).unsqueeze(1)  # [units, 1, units]
    with torch.enable_grad():
        unrolled = unroll(rnn, inputs.detach())
        rows = []
        for row in unrolled.rows:
            grads = torch.autograd.grad(
                unrolled.final_hidden(row),
                unrolled.hidden[row],
                grad_outputs=unit_vectors,
                is_grads_batched=True,
                retain_graph=True,
            )
            rows.append(torch.stack([g.norm() for g in grads]))
    return torch.stack(rows).numpy()


@dataclass(frozen=True)
class Attributions:
    """Per-token attributions of the output y; integrated gradients from the all-zero (`<pad>`) embedding."""

    output: str
    output_value: float  # y(x)
    baseline_value: float  # y(baseline)
    gradient_x_input: np.ndarray  # [time]: Σ_d e_td · ∂y/∂e_td
    integrated: np.ndarray  # [time]: integrated gradients, summed over embedding dimensions
    n_steps: int

    @property
    def completeness_error(self) -> float:
        """|Σ_t IG_t − (y(x) − y(baseline))| relative to |y(x) − y(baseline)|."""
        change = self.output_value - self.baseline_value
        return abs(float(self.integrated.sum()) - change) / max(abs(change), 1e-12)


# Captum (and the matplotlib it imports, ~1.5 s) is imported on first use by one thread at a time:
# sessions of a fresh server that opened the Gradients view together got half-initialised modules
# ("module 'matplotlib' has no attribute 'get_data_path'", then on every later visit; seen once in
# three runs of bench/load_test.py).
_CAPTUM_IMPORT = threading.Lock()


def _integrated_gradients_class() -> type:
    with _CAPTUM_IMPORT:
        from captum.attr import IntegratedGradients
    return IntegratedGradients


# Integrated gradients' integrand can be rough along the straight path from the baseline (saturating
# gates move a news score by most of its change within the first few % of the path; a long text's
# recurrence makes the gradient swing from point to point), so 50 points may miss y(x) − y(baseline)
# by over 100 %. `refine_to` doubles the points until the completeness error is that small, or the next
# pass would exceed this many cell steps (points × tokens × layers × directions): a few seconds here.
REFINE_CELL_STEPS = 100_000


def token_attributions(
    loaded: LoadedModel,
    ids: Sequence[int],
    target: int | None = None,
    position: int | None = None,
    n_steps: int = 50,
    refine_to: float | None = None,
) -> Attributions:
    """Gradient × input and integrated gradients (Captum, Gauss–Legendre, `n_steps` points) per token;
    with `refine_to`, the points doubled until the completeness error is at most that (or the budget
    REFINE_CELL_STEPS is reached: the result says how many points it used)."""
    rnn = loaded.module.rnn
    cells_per_point = len(ids) * rnn.num_layers * (2 if rnn.bidirectional else 1)
    attributions = _token_attributions(loaded, ids, target, position, n_steps)
    while (
        refine_to is not None
        and attributions.completeness_error > refine_to
        and 2 * attributions.n_steps * cells_per_point <= REFINE_CELL_STEPS
    ):
        attributions = _token_attributions(loaded, ids, target, position, 2 * attributions.n_steps)
    return attributions


def _token_attributions(
    loaded: LoadedModel,
    ids: Sequence[int],
    target: int | None,
    position: int | None,
    n_steps: int,
) -> Attributions:
    IntegratedGradients = _integrated_gradients_class()

    output = model_output(loaded, ids, target, position)
    rnn = loaded.module.rnn

    def forward(embeddings: torch.Tensor) -> torch.Tensor:
        outputs, _ = rnn(embeddings)
        return output.readout(outputs)

    inputs = embed(loaded, ids)
    baseline = torch.zeros_like(inputs)
    with torch.enable_grad():
        leaf = inputs.clone().requires_grad_(True)
        y = forward(leaf)
        (gradient,) = torch.autograd.grad(y.sum(), leaf)
        # Bound the memory of long texts: at most about 20,000 timesteps go through the model at once.
        per_batch = max(1, min(n_steps, 20_000 // len(ids)))
        integrated = IntegratedGradients(forward).attribute(
            inputs, baselines=baseline, n_steps=n_steps, internal_batch_size=per_batch
        )
    with torch.no_grad():
        baseline_value = float(forward(baseline)[0])
    return Attributions(
        output=output.description,
        output_value=float(y[0].detach()),
        baseline_value=baseline_value,
        gradient_x_input=(gradient * inputs).sum(-1)[0].detach().numpy(),
        integrated=integrated.sum(-1)[0].detach().numpy(),
        n_steps=n_steps,
    )


# ---- figures (pure: arrays in, plotly Figures / escaped HTML out) ----
