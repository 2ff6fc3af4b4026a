"""An independent, step-by-step reference for nn.RNN / nn.LSTM / nn.GRU internals.

Written from the equations in the PyTorch documentation, one sequence and one timestep at
a time, in float64, sharing no code with rnnviz.core.capture. It returns, per layer and
direction, every quantity as a [time, units] tensor.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Edit = Callable[[str, int, int, torch.Tensor], torch.Tensor]


def no_edit(name: str, t: int, steps: int, value: torch.Tensor) -> torch.Tensor:
    return value


def reference_states(
    module: nn.Module, sequence: torch.Tensor, h0=None, c0=None, edit: Edit = no_edit
) -> dict[str, torch.Tensor]:
    """Quantities named `layer{k}.{forward|backward}.{quantity}` for one unbatched [time, input] sequence.

    h0 / c0: [num_layers * num_directions, units] initial states, zeros when None.
    edit(name, t, steps, value) → value: an intervention, called on every quantity as soon as it is
    computed (t the token position, steps the sequence length); what it returns is used from then on.
    """
    directions = 2 if module.bidirectional else 1
    proj = getattr(module, "proj_size", 0)
    out_size = proj or module.hidden_size
    steps = sequence.shape[0]
    if h0 is None:
        h0 = torch.zeros(module.num_layers * directions, out_size)
    if c0 is None:
        c0 = torch.zeros(module.num_layers * directions, module.hidden_size)
    result: dict[str, torch.Tensor] = {}
    layer_input = sequence.double()
    for layer in range(module.num_layers):
        outputs = []
        for d, direction in enumerate(("forward", "backward")[:directions]):
            suffix = "_reverse" if d else ""

            def param(kind):
                value = getattr(module, f"{kind}_l{layer}{suffix}", None)
                return None if value is None else value.detach().double()

            w_ih, w_hh, b_ih, b_hh, w_hr = (
                param(k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
            )
            if b_ih is None:
                b_ih = torch.zeros(w_ih.shape[0], dtype=torch.float64)
                b_hh = torch.zeros(w_hh.shape[0], dtype=torch.float64)
            h = h0[layer * directions + d].double()
            c = c0[layer * directions + d].double()
            order = range(steps - 1, -1, -1) if d else range(steps)
            records: dict[str, list] = {}

            def keep(key, value):
                value = edit(f"layer{layer}.{direction}.{key}", t, steps, value)
                records.setdefault(key, [None] * steps)[t] = value
                return value

            for t in order:
                x = layer_input[t]
                if isinstance(module, nn.LSTM):
                    gates = w_ih @ x + b_ih + w_hh @ h + b_hh
                    i, f, g, o = gates.chunk(4)
                    i = keep("input_gate", torch.sigmoid(i))
                    f = keep("forget_gate", torch.sigmoid(f))
                    g = keep("cell_gate", torch.tanh(g))
                    o = keep("output_gate", torch.sigmoid(o))
                    c = keep("cell", f * c + i * g)
                    unprojected = o * torch.tanh(c)
                    if w_hr is not None:
                        unprojected = keep("unprojected_hidden", unprojected)
                    h = keep("hidden", w_hr @ unprojected if w_hr is not None else unprojected)
                elif isinstance(module, nn.GRU):
                    w_ir, w_iz, w_in = w_ih.chunk(3)
                    w_hr_, w_hz, w_hn = w_hh.chunk(3)
                    b_ir, b_iz, b_in = b_ih.chunk(3)
                    b_hr, b_hz, b_hn = b_hh.chunk(3)
                    r = keep("reset_gate", torch.sigmoid(w_ir @ x + b_ir + w_hr_ @ h + b_hr))
                    z = keep("update_gate", torch.sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz))
                    n = keep("new_gate", torch.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn)))
                    h = keep("hidden", (1 - z) * n + z * h)
                else:
                    activation = torch.tanh if module.nonlinearity == "tanh" else torch.relu
                    h = keep("hidden", activation(w_ih @ x + b_ih + w_hh @ h + b_hh))
            for key, values in records.items():
                result[f"layer{layer}.{direction}.{key}"] = torch.stack(values)
            outputs.append(result[f"layer{layer}.{direction}.hidden"])
        layer_input = torch.cat(outputs, dim=-1)
    return result


def reference_cell_steps(
    cell: nn.Module, sequence: torch.Tensor, h0=None, c0=None, edit=lambda name, t, value: value
):
    """Every quantity of an nn.RNNCell / nn.LSTMCell / nn.GRUCell run over one unbatched [time, input]
    sequence, first step first, as [time, units] float64 tensors (names without layer and direction).
    edit(name, t, value) → value: an intervention on each quantity as soon as it is computed (t the
    call's index), used from then on."""
    w_ih, w_hh = cell.weight_ih.detach().double(), cell.weight_hh.detach().double()
    zeros = torch.zeros(w_ih.shape[0], dtype=torch.float64)
    b_ih = zeros if cell.bias_ih is None else cell.bias_ih.detach().double()
    b_hh = zeros if cell.bias_hh is None else cell.bias_hh.detach().double()
    h = torch.zeros(cell.hidden_size, dtype=torch.float64) if h0 is None else h0.double()
    c = torch.zeros(cell.hidden_size, dtype=torch.float64) if c0 is None else c0.double()
    records: dict[str, list] = {}
    for t, x in enumerate(sequence.double()):

        def keep(key, value, t=t):
            value = edit(key, t, value)
            records.setdefault(key, []).append(value)
            return value

        if isinstance(cell, nn.LSTMCell):
            i, f, g, o = (w_ih @ x + b_ih + w_hh @ h + b_hh).chunk(4)
            i, f = keep("input_gate", torch.sigmoid(i)), keep("forget_gate", torch.sigmoid(f))
            g, o = keep("cell_gate", torch.tanh(g)), keep("output_gate", torch.sigmoid(o))
            c = keep("cell", f * c + i * g)
            h = keep("hidden", o * torch.tanh(c))
        elif isinstance(cell, nn.GRUCell):
            w_ir, w_iz, w_in = w_ih.chunk(3)
            w_hr, w_hz, w_hn = w_hh.chunk(3)
            b_ir, b_iz, b_in = b_ih.chunk(3)
            b_hr, b_hz, b_hn = b_hh.chunk(3)
            r = keep("reset_gate", torch.sigmoid(w_ir @ x + b_ir + w_hr @ h + b_hr))
            z = keep("update_gate", torch.sigmoid(w_iz @ x + b_iz + w_hz @ h + b_hz))
            n = keep("new_gate", torch.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn)))
            h = keep("hidden", (1 - z) * n + z * h)
        else:
            activation = torch.tanh if cell.nonlinearity == "tanh" else torch.relu
            h = keep("hidden", activation(w_ih @ x + b_ih + w_hh @ h + b_hh))
    return {key: torch.stack(values) for key, values in records.items()}
