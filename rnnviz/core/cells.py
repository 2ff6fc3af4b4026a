"""The cell equations, written once: LSTM, GRU and Elman RNN (tanh / relu), as PyTorch defines them.

Every recurrence in rnnviz goes through this module: the step-by-step unroll of edits
(rnnviz.core.edits) and of the gradient views (rnnviz.analysis.gradients.unroll), and the capture's
gate rebuild (rnnviz.core.capture), which evaluates the same gate equations for all timesteps at
once from PyTorch's own h sequence. tests/reference.py is kept apart on purpose: it checks these.

PyTorch's conventions (the nn.LSTM / nn.GRU / nn.RNN documentation), x_t the input, h the state:

    LSTM  i, f, g, o = σ, σ, tanh, σ(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)   (rows in that order)
          c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)  (then W_hr· with proj_size > 0)
    GRU   r, z = σ(W_i{r,z}·x_t + b_i{r,z} + W_h{r,z}·h_{t−1} + b_h{r,z})
          n = tanh(W_in·x_t + b_in + r ⊙ (W_hn·h_{t−1} + b_hn));  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    RNN   h_t = tanh or relu(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)

The API, per cell kind: `input_projection(x, weights)` (W_ih·x + b_ih, for every timestep at once),
then one step from it: `lstm_step`, `gru_step`, `rnn_step` (built from `lstm_gates` + `cell_update` +
`lstm_hidden`, `gru_gates` + `gru_hidden`, `rnn_hidden`); `step(kind, ...)` dispatches, and
`unroll(kind, ...)` runs a whole sequence. Every function takes any leading shape ([batch, …]),
so a single step and all timesteps at once are the same call. An `Intervene` hook sees every
quantity as soon as it is computed and returns the value used from then on (edits use it).
The recurrent module classes and the cell kind of a module are defined here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.core.quantities import CELL_KINDS, QUANTITIES_BY_CELL, CellKind

__all__ = [
    "ACTIVATIONS",
    "CELL_KINDS",
    "GATE_ACTIVATION",
    "GATE_ROWS",
    "RECURRENT_MODULES",
    "RECURRENT_CELLS",
    "CellKind",
    "CellWeights",
    "GRUGates",
    "Intervene",
    "LSTMGates",
    "UnrolledLayer",
    "cell_kind",
    "cell_update",
    "gru_candidate",
    "gru_gates",
    "gru_hidden",
    "gru_step",
    "input_projection",
    "lstm_gates",
    "lstm_hidden",
    "lstm_step",
    "recurrent_base",
    "rnn_hidden",
    "rnn_step",
    "step",
    "stock_forward",
    "unroll",
]

# ---------------------------------------------------------------------------------------------
# The recurrent modules: one set of classes, and the cell kind of a module

RECURRENT_MODULES: tuple[type[nn.RNNBase], ...] = (nn.LSTM, nn.GRU, nn.RNN)
"""The multi-layer modules capture records (a sequence per call)."""
RECURRENT_CELLS: tuple[type[nn.RNNCellBase], ...] = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
"""Their one-step counterparts (one timestep per call)."""
_STOCK_FORWARDS = {cls: cls.forward for cls in RECURRENT_MODULES + RECURRENT_CELLS}


def recurrent_base(module: nn.Module) -> type | None:
    """The torch class among RECURRENT_MODULES / RECURRENT_CELLS that `module` is (or subclasses)."""
    for cls in RECURRENT_MODULES + RECURRENT_CELLS:
        if isinstance(module, cls):
            return cls
    return None


def stock_forward(module: nn.Module) -> Callable:
    """PyTorch's own forward of the module's recurrent class (unbound: call it with the module)."""
    base = recurrent_base(module)
    if base is None:
        raise TypeError(f"{type(module).__name__} is not a recurrent module or cell")
    return _STOCK_FORWARDS[base]


def cell_kind(module: nn.Module) -> CellKind:
    """'lstm', 'gru', 'rnn_tanh' or 'rnn_relu' for an nn.LSTM / GRU / RNN or their *Cell."""
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return "lstm"
    if isinstance(module, (nn.GRU, nn.GRUCell)):
        return "gru"
    if isinstance(module, (nn.RNN, nn.RNNCell)):
        return "rnn_tanh" if module.nonlinearity == "tanh" else "rnn_relu"
    raise TypeError(f"{type(module).__name__} is not a recurrent module or cell")


# ---------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True)
class CellWeights:
    """One layer and direction's parameters, named and laid out as PyTorch has them.

    weight_ih [G·H, inputs], weight_hh [G·H, width], biases [G·H] or None; G gate blocks in
    GATE_ROWS order (LSTM 4: i, f, g, o; GRU 3: r, z, n; RNN 1). weight_hr [width, H] with proj_size.
    """

    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: torch.Tensor | None = None
    bias_hh: torch.Tensor | None = None
    weight_hr: torch.Tensor | None = None

    @classmethod
    def of_layer(
        cls, module: nn.RNNBase, layer: int, direction: int = 0, dtype: torch.dtype | None = None
    ) -> CellWeights:
        """Layer `layer`, direction 0 (forward) or 1 (backward) of an nn.LSTM / GRU / RNN."""
        suffix = "_reverse" if direction == 1 else ""
        found = {
            name: getattr(module, f"{name}_l{layer}{suffix}", None)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        }
        return cls(**found).to(dtype)

    @classmethod
    def of_cell(cls, cell: nn.RNNCellBase, dtype: torch.dtype | None = None) -> CellWeights:
        """An nn.LSTMCell / GRUCell / RNNCell (no projection)."""
        return cls(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh).to(dtype)

    def to(self, dtype: torch.dtype | None) -> CellWeights:
        """The same weights in `dtype` (themselves when already so: no copy, gradients kept)."""
        if dtype is None or all(t is None or t.dtype == dtype for t in vars(self).values()):
            return self
        return replace(
            self,
            **{
                name: None if tensor is None else tensor.to(dtype)
                for name, tensor in vars(self).items()
            },
        )

    @property
    def hidden_size(self) -> int:
        """H: the width of c and of every gate (not of a projected h)."""
        return self.weight_hh.shape[1] if self.weight_hr is None else self.weight_hr.shape[1]


# ---------------------------------------------------------------------------------------------
# Which gate occupies which rows, and its activation

GATE_ROWS: dict[CellKind, tuple[str, ...]] = {
    "lstm": ("input_gate", "forget_gate", "cell_gate", "output_gate"),
    "gru": ("reset_gate", "update_gate", "new_gate"),
    "rnn_tanh": ("hidden",),
    "rnn_relu": ("hidden",),
}
"""The blocks of rows of W_ih / W_hh / the biases, in PyTorch's order."""

GATE_ACTIVATION = {
    "input_gate": "sigmoid",
    "forget_gate": "sigmoid",
    "cell_gate": "tanh",
    "output_gate": "sigmoid",
    "reset_gate": "sigmoid",
    "update_gate": "sigmoid",
    "new_gate": "tanh",
}
"""The nonlinearity each gate goes through (the RNN's is its kind: `RNN_ACTIVATION`)."""

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}
RNN_ACTIVATION: dict[CellKind, str] = {"rnn_tanh": "tanh", "rnn_relu": "relu"}

Intervene = Callable[[str, torch.Tensor], torch.Tensor]
"""(quantity, value) → the value used from then on; called on each quantity as it is computed."""


def _unchanged(quantity: str, value: torch.Tensor) -> torch.Tensor:
    return value


def gate_rows(kind: CellKind, gate: str, hidden_size: int) -> slice:
    """The rows of the stacked weights that compute `gate` (e.g. the forget gate: H..2H)."""
    index = GATE_ROWS[kind].index(gate)
    return slice(index * hidden_size, (index + 1) * hidden_size)


# ---------------------------------------------------------------------------------------------
# The equations


def input_projection(x: torch.Tensor, weights: CellWeights) -> torch.Tensor:
    """W_ih·x + b_ih for every row of x [..., inputs] at once → [..., G·H]: the part of every
    gate that does not depend on the state, so only W_hh·h_{t−1} is left to each step."""
    return F.linear(x, weights.weight_ih, weights.bias_ih)


def hidden_projection(h_prev: torch.Tensor, weights: CellWeights) -> torch.Tensor:
    """W_hh·h_{t−1} + b_hh → [..., G·H]."""
    return F.linear(h_prev, weights.weight_hh, weights.bias_hh)


class LSTMGates(NamedTuple):
    input_gate: torch.Tensor  # i
    forget_gate: torch.Tensor  # f
    cell_gate: torch.Tensor  # g, the candidate
    output_gate: torch.Tensor  # o


class GRUGates(NamedTuple):
    reset_gate: torch.Tensor  # r
    update_gate: torch.Tensor  # z (PyTorch's: z = 1 keeps h)
    new_gate: torch.Tensor  # n, the candidate


def lstm_gates(
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> LSTMGates:
    """i, f, g, o = σ, σ, tanh, σ(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh); x_proj = W_ih·x_t + b_ih."""
    pre = x_proj + hidden_projection(h_prev, weights)
    blocks = pre.chunk(4, dim=-1)
    return LSTMGates(
        *(
            intervene(gate, ACTIVATIONS[GATE_ACTIVATION[gate]](block))
            for gate, block in zip(GATE_ROWS["lstm"], blocks)
        )
    )


def cell_update(
    forget_gate: torch.Tensor, written: torch.Tensor, c_prev: torch.Tensor
) -> torch.Tensor:
    """c_t = f_t ⊙ c_{t−1} + w_t, with w_t = i_t ⊙ g_t what the input gate writes (one fused op)."""
    return torch.addcmul(written, forget_gate, c_prev)


def lstm_hidden(
    output_gate: torch.Tensor,
    c: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(o ⊙ tanh(c), h): h = o ⊙ tanh(c), or W_hr·(o ⊙ tanh(c)) with proj_size > 0."""
    unprojected = output_gate * torch.tanh(c)
    if weights.weight_hr is None:
        return unprojected, intervene("hidden", unprojected)
    unprojected = intervene("unprojected_hidden", unprojected)
    return unprojected, intervene("hidden", F.linear(unprojected, weights.weight_hr))


class LSTMStep(NamedTuple):
    gates: LSTMGates
    cell: torch.Tensor  # c_t
    unprojected_hidden: torch.Tensor  # o ⊙ tanh(c_t) (h_t itself without proj_size)
    hidden: torch.Tensor  # h_t


def lstm_step(
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    c_prev: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> LSTMStep:
    """One LSTM step from x_proj = W_ih·x_t + b_ih and (h_{t−1}, c_{t−1})."""
    gates = lstm_gates(x_proj, h_prev, weights, intervene)
    c = intervene(
        "cell", cell_update(gates.forget_gate, gates.input_gate * gates.cell_gate, c_prev)
    )
    unprojected, h = lstm_hidden(gates.output_gate, c, weights, intervene)
    return LSTMStep(gates, c, unprojected, h)


def gru_candidate(
    input_n: torch.Tensor, reset_gate: torch.Tensor, hidden_n: torch.Tensor
) -> torch.Tensor:
    """n = tanh(W_in·x_t + b_in + r ⊙ (W_hn·h_{t−1} + b_hn)), from its two products."""
    return torch.tanh(torch.addcmul(input_n, reset_gate, hidden_n))


def gru_gates(
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> GRUGates:
    """r, z = σ(W_i·x_t + b_i + W_h·h_{t−1} + b_h); n = tanh(W_in·x_t + b_in + r ⊙ (W_hn·h_{t−1} + b_hn))."""
    from_input = x_proj.chunk(3, dim=-1)
    from_hidden = hidden_projection(h_prev, weights).chunk(3, dim=-1)
    r = intervene("reset_gate", torch.sigmoid(from_input[0] + from_hidden[0]))
    z = intervene("update_gate", torch.sigmoid(from_input[1] + from_hidden[1]))
    n = intervene("new_gate", gru_candidate(from_input[2], r, from_hidden[2]))
    return GRUGates(r, z, n)


def gru_hidden(gates: GRUGates, h_prev: torch.Tensor) -> torch.Tensor:
    """h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} (PyTorch's convention)."""
    # Written this way (not n + z·(h − n)) so that z = 1 keeps h exactly.
    return torch.addcmul((1 - gates.update_gate) * gates.new_gate, gates.update_gate, h_prev)


def gru_step(
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> tuple[GRUGates, torch.Tensor]:
    """One GRU step: (r, z, n) and h_t."""
    gates = gru_gates(x_proj, h_prev, weights, intervene)
    return gates, intervene("hidden", gru_hidden(gates, h_prev))


def rnn_hidden(
    kind: CellKind, x_proj: torch.Tensor, h_prev: torch.Tensor, weights: CellWeights
) -> torch.Tensor:
    """h_t = tanh or relu(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)."""
    return ACTIVATIONS[RNN_ACTIVATION[kind]](x_proj + hidden_projection(h_prev, weights))


def rnn_step(
    kind: CellKind,
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> torch.Tensor:
    """One Elman RNN step: h_t."""
    return intervene("hidden", rnn_hidden(kind, x_proj, h_prev, weights))


def step(
    kind: CellKind,
    x_proj: torch.Tensor,
    h_prev: torch.Tensor,
    c_prev: torch.Tensor | None,
    weights: CellWeights,
    intervene: Intervene = _unchanged,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
    """One step of any cell kind: (every quantity it records by name, h_t, c_t or None)."""
    if kind == "lstm":
        made = lstm_step(x_proj, h_prev, c_prev, weights, intervene)
        quantities = {**made.gates._asdict(), "cell": made.cell, "hidden": made.hidden}
        if weights.weight_hr is not None:
            quantities["unprojected_hidden"] = made.unprojected_hidden
        return quantities, made.hidden, made.cell
    if kind == "gru":
        gates, h = gru_step(x_proj, h_prev, weights, intervene)
        return {**gates._asdict(), "hidden": h}, h, None
    if kind in RNN_ACTIVATION:
        h = rnn_step(kind, x_proj, h_prev, weights, intervene)
        return {"hidden": h}, h, None
    raise ValueError(f"unknown cell kind {kind!r}; one of {CELL_KINDS}")


# ---------------------------------------------------------------------------------------------
# A whole sequence, one step at a time


@dataclass(frozen=True)
class UnrolledLayer:
    """One layer and direction run step by step, in reading order."""

    steps: dict[str, list[torch.Tensor]]  # quantity → its value at each step, each [batch, units]
    final_hidden: torch.Tensor  # h after each sequence's last step [batch, width]
    final_cell: torch.Tensor | None  # c likewise (LSTM), else None

    def stacked(self, quantity: str) -> torch.Tensor:
        """[batch, time, units]."""
        return torch.stack(self.steps[quantity], dim=1)


def unroll(
    kind: CellKind,
    x: torch.Tensor,
    weights: CellWeights,
    h0: torch.Tensor,
    c0: torch.Tensor | None = None,
    *,
    intervene: Callable[[str, int, torch.Tensor], torch.Tensor] | None = None,
    running: torch.Tensor | None = None,
) -> UnrolledLayer:
    """Run one layer and direction over x [batch, time, inputs] (in the order it reads them).

    h0 [batch, width], c0 [batch, H] (LSTM). `intervene(quantity, t, value)`: see `Intervene`, with
    the step t. `running` [time, batch, 1] bool: whether each sequence still reads a token at step t
    (variable lengths); past its end a sequence keeps its state, and what is recorded there is unused.
    """
    x_proj = input_projection(x, weights).transpose(0, 1)  # [time, batch, G·H]
    h, c = h0, c0
    records: dict[str, list[torch.Tensor]] = {
        q: []
        for q in QUANTITIES_BY_CELL[kind]
        + (("unprojected_hidden",) if kind == "lstm" and weights.weight_hr is not None else ())
    }
    for t in range(x_proj.shape[0]):
        hook = _unchanged if intervene is None else _at_step(intervene, t)
        quantities, h_new, c_new = step(kind, x_proj[t], h, c, weights, hook)
        if running is None:
            h, c = h_new, c_new
        else:
            h = torch.where(running[t], h_new, h)
            c = None if c is None else torch.where(running[t], c_new, c)
        for quantity, value in quantities.items():
            records[quantity].append(value)
    return UnrolledLayer(records, h, c)


def _at_step(intervene: Callable[[str, int, torch.Tensor], torch.Tensor], t: int) -> Intervene:
    return lambda quantity, value: intervene(quantity, t, value)
