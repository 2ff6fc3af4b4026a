"""Numbers you can trust: how far a capture's recorded states are from the module's own outputs.

`capture_exactness` reruns the recurrent module on the same input through PyTorch's stock forward
(outside any capture) and compares what the trace recorded with what PyTorch returns: the last
layer's h with the output sequence, each layer's final h and c with h_n and c_n. The gates have no
counterpart in PyTorch's outputs; they enter the comparison through c, which is rebuilt from them,
and through h recomputed from them by the cell's last equation ("h from gates": LSTM
o_t ⊙ tanh(c_t), GRU (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}) against PyTorch's h_t.
An edited run changes the model, so its trace is not expected to match the unedited module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnviz.analysis.inspection import TextRun
from rnnviz.core import cells, layout
from rnnviz.core.capture import anchored_steps, direction_layer
from rnnviz.core.cells import RECURRENT_MODULES, CellWeights, GRUGates, stock_forward
from rnnviz.core.trace import DIRECTIONS, Trace, call_prefix, quantity_name
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel

# The largest |recorded − PyTorch| / max(1, |PyTorch|) a float32 capture is held to (tests, the page's
# green badge): absolute for values within ±1 (h, gates), relative beyond. An absolute bound cannot
# hold for large c: a counting unit's c reaches hundreds on long texts, where float32 values are
# 3e-5 apart and PyTorch's own one-step and many-step kernels differ by that much (bench_capture).
EXACT_WITHIN = 1e-5


@dataclass(frozen=True)
class Exactness:
    """The largest difference between recorded quantities and the module's own outputs."""

    max_abs_error: float
    # "output", "h_n", "c_n", "h from gates", "c before anchors" → the largest |difference| there
    by_check: dict[str, float]
    # the largest |difference| / max(1, |module's value|), the figure EXACT_WITHIN bounds
    max_scaled_error: float

    @property
    def exact(self) -> bool:
        return self.max_scaled_error <= EXACT_WITHIN


def capture_exactness(
    trace: Trace, module: nn.Module, inputs, hx=None, path: str = "", call: int = 0
) -> Exactness:
    """Call `call` of recurrent `module` (at `path` in the model) vs a stock rerun on `inputs`."""
    if not isinstance(module, RECURRENT_MODULES):
        raise RnnvizError(f"{type(module).__name__} is not an nn.RNN, nn.LSTM or nn.GRU")
    with torch.no_grad():
        output, final = stock_forward(module)(module, inputs, hx)
    h_n, c_n = final if isinstance(final, tuple) else (final, None)
    if isinstance(output, PackedSequence):
        output, lengths = pad_packed_sequence(output, batch_first=True)
        lengths = lengths.tolist()
    else:
        if output.dim() == 2:  # unbatched
            output, h_n = output.unsqueeze(0), h_n.unsqueeze(1)
            c_n = None if c_n is None else c_n.unsqueeze(1)
        elif not module.batch_first:
            output = output.transpose(0, 1)
        lengths = [output.shape[1]] * output.shape[0]
    prefix = call_prefix(path, call)
    directions = DIRECTIONS[: 2 if module.bidirectional else 1]
    last = module.num_layers - 1

    def recorded(layer, direction, quantity):
        name = quantity_name(prefix, layer, direction, quantity)
        return trace.tensors.get(name)

    errors: dict[str, float] = {}
    scaled = [0.0]

    def compare(key, mine, theirs):
        if mine is None or not mine.numel():
            return
        difference = (mine.double() - theirs.double()).abs()
        errors[key] = max(errors.get(key, 0.0), float(difference.max()))
        relative = difference / theirs.double().abs().clamp(min=1.0)
        scaled[0] = max(scaled[0], float(relative.max()))

    hidden = [recorded(last, d, "hidden") for d in directions]
    if all(h is not None for h in hidden):
        recorded_output = torch.cat(hidden, dim=-1)
        for b, n in enumerate(lengths):
            compare("output", recorded_output[b, :n], output[b, :n])
    for layer in range(module.num_layers):
        for d, direction in enumerate(directions):
            row = layer * len(directions) + d
            for key, final_state, quantity in (("h_n", h_n, "hidden"), ("c_n", c_n, "cell")):
                states = recorded(layer, direction, quantity)
                if states is None or final_state is None:
                    continue
                for b, n in enumerate(lengths):
                    compare(key, states[b, n - 1 if d == 0 else 0], final_state[row, b])
    for layer in range(module.num_layers):
        for d, direction in enumerate(directions):
            states = {
                q: recorded(layer, direction, q)
                for q in (
                    "hidden",
                    "cell",
                    "output_gate",
                    "unprojected_hidden",
                    "update_gate",
                    "new_gate",
                )
            }
            start = None if hx is None else (hx[0] if isinstance(hx, tuple) else hx)
            if start is not None and start.dim() == 2:
                start = start.unsqueeze(1)
            for b, n in enumerate(lengths):
                rebuilt = _hidden_from_gates(
                    module,
                    layer,
                    d,
                    states,
                    b,
                    n,
                    None if start is None else start[layer * len(directions) + d, b],
                )
                if rebuilt is not None:
                    compare("h from gates", rebuilt, states["hidden"][b, :n])
    if isinstance(module, nn.LSTM) and all(n == lengths[0] for n in lengths):
        compare_inside = _cell_before_anchors(module, inputs, hx, recorded, directions)
        for mine, theirs in compare_inside:
            compare("c before anchors", mine, theirs)
    if not errors:
        raise RnnvizError(
            f"the trace holds no h or c of {prefix or 'the module'!r} to compare with its outputs"
        )
    return Exactness(max(errors.values()), errors, scaled[0])


def _cell_before_anchors(module, inputs, hx, recorded, directions):
    """(recorded c, the module's own c) one step before each step where the capture restarted the
    rebuilt c from the module's own (core.capture.anchored_steps): there the float32 recursion has
    run longest since its last restart, and the final c_n, itself an anchor, says nothing of it.

    The module's own c at those steps comes from its kernel run over chunks that end there, one
    layer and direction at a time, on the layer's recorded input (the previous layer's h, which the
    "output" and "h_n" checks hold to the module's)."""
    padded, _ = layout.batch_first(inputs, module)
    steps = padded.shape[1]
    checks = [step - 1 for step in anchored_steps(module, steps) if step > 0]
    if not checks:
        return []
    pairs = []
    layer_input = padded
    for layer in range(module.num_layers):
        outputs = []
        for d, direction in enumerate(directions):
            cells_recorded = recorded(layer, direction, "cell")
            hidden = recorded(layer, direction, "hidden")
            if cells_recorded is None or hidden is None:
                return pairs
            outputs.append(hidden)
            single = direction_layer(module, layer, d)
            sequence = layer_input.flip(1) if d == 1 else layer_input
            state = None
            if hx is not None:
                row = layer * len(directions) + d
                state = tuple((s.unsqueeze(1) if s.dim() == 2 else s)[row : row + 1] for s in hx)
            start = 0
            for step in checks:
                chunk = sequence[:, start : step + 1]
                if not module.batch_first:
                    chunk = chunk.transpose(0, 1)
                with torch.no_grad():
                    _, state = stock_forward(single)(single, chunk, state)
                index = step if d == 0 else steps - 1 - step
                pairs.append((cells_recorded[:, index], state[1][0]))
                start = step + 1
        layer_input = torch.cat(outputs, dim=-1)
    return pairs


def _hidden_from_gates(module, layer, d, states, b, n, h_start):
    """h_t of one sequence recomputed from the recorded gates by the cell's last equation
    (rnnviz.core.cells, in float64), or None.

    LSTM: o_t ⊙ tanh(c_t) (then W_hr· with proj_size); GRU: (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}.
    """
    hidden = states["hidden"]
    if hidden is None:
        return None
    if isinstance(module, nn.LSTM):
        if states["output_gate"] is None or states["cell"] is None:
            return None
        weights = CellWeights.of_layer(module, layer, d, torch.float64)
        output_gate, cell = states["output_gate"][b, :n].double(), states["cell"][b, :n].double()
        with torch.no_grad():
            return cells.lstm_hidden(output_gate, cell, weights)[1]
    if (
        isinstance(module, nn.GRU)
        and states["update_gate"] is not None
        and states["new_gate"] is not None
    ):
        h = hidden[b, :n].double()
        start = torch.zeros_like(h[0]) if h_start is None else h_start.double()
        previous = torch.cat([start[None], h[:-1]]) if d == 0 else torch.cat([h[1:], start[None]])
        z, new = states["update_gate"][b, :n].double(), states["new_gate"][b, :n].double()
        return cells.gru_hidden(GRUGates(None, z, new), previous)
    return None


def run_exactness(loaded: LoadedModel, run: TextRun) -> Exactness:
    """`capture_exactness` of a bundled model's text run: its `rnn` on the embedded tokens."""
    if not isinstance(loaded, LoadedModel):
        raise RnnvizError(
            "exactness is measured for models in the bundled format (embedding → rnn → head)"
        )
    module = loaded.module.get_submodule(run.recurrent_path)
    with torch.no_grad():
        inputs = loaded.module.embedding(torch.tensor([run.encoding.ids], dtype=torch.int64))
    return capture_exactness(run.trace, module, inputs, path=run.recurrent_path)
