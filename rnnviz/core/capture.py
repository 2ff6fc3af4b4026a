"""Record every per-timestep state and gate of the nn.RNN / nn.LSTM / nn.GRU modules in a model.

How: inside `capture(model)` each recurrent module runs its layers one at a time, each
through PyTorch's own single-layer `forward` (same parameters, same kernels), because
PyTorch returns only the last layer's output sequence and we need every layer's. From
each layer's input sequence and its output sequence h we rebuild the gates exactly and
for all timesteps at once: h_{t-1} is known, so W·x_t + U·h_{t-1} + b is one matrix
product; only the LSTM cell state needs an element-wise recursion
c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t. Leaving the block restores the modules' own forward once no other thread captures them.

With `edits=`, a layer that has an edit runs step by step instead (rnnviz.core.edits); the others as above.
"""

from __future__ import annotations

import fnmatch
import threading
import warnings
import weakref
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from rnnviz.core import cells, layout
from rnnviz.core.cell_loops import recording_cell_loops, split_edits
from rnnviz.core.cells import (
    RECURRENT_MODULES,
    CellWeights,
    cell_kind,
    recurrent_base,
    stock_forward,
)
from rnnviz.core.edits import Edit, edits_by_module, run_edited_layer
from rnnviz.core.trace import (
    DIRECTIONS,
    QUANTITIES_BY_CELL_KIND,
    RecordedCall,
    Trace,
    call_prefix,
    quantity_name,
)
from rnnviz.errors import RnnvizError

# Recorders active in the current thread / context: id(module) → recording forward. A
# module stays instrumented while any thread captures it; calls from a thread (or context)
# without a capture block of its own run PyTorch's stock forward and record nothing, so
# sessions of a server sharing one model never see each other's calls.
_ACTIVE_RECORDERS: ContextVar[dict[int, Callable] | None] = ContextVar(
    "rnnviz_active_recorders", default=None
)
_INSTALL_LOCK = threading.Lock()
_INSTALLED: dict[int, int] = {}  # id(module) → number of capture blocks using it, in any thread


@contextmanager
def capture(
    model: nn.Module,
    *,
    detach: bool = True,
    only: str | Iterable[str] | None = None,
    edits: Sequence[Edit] = (),
) -> Iterator[Trace]:
    """Record the states and gates of every recurrent submodule of `model` while the block runs.

    Only calls made by this thread (this context) inside the block are recorded; several
    threads may capture the same model at once, each into its own Trace.
    `detach=False` keeps the recorded tensors in the autograd graph (for gradient views).
    `only`: glob pattern(s) over the recorded names (e.g. "rnn.layer1.forward.*"); quantities that
    match none are neither rebuilt nor stored (their layers still run), which saves the rebuild
    of every other layer and direction when one is all that is wanted.
    `edits`: `rnnviz.Edit`s applied inside the recurrence (see rnnviz.core.edits); the model runs as
    edited, and the trace holds the quantities it used.
    """
    patterns = None if only is None else ((only,) if isinstance(only, str) else tuple(only))
    trace = Trace()
    calls_so_far: dict[str, int] = defaultdict(int)
    outer = _ACTIVE_RECORDERS.get() or {}
    recorders: dict[int, Callable] = {}
    modules: list[nn.Module] = []
    loop_edits, edits = split_edits(model, edits)  # cells in a loop edit their own steps
    planned = _planned_edits(model, edits) if edits else {}
    for path, module in model.named_modules():
        if not isinstance(module, RECURRENT_MODULES):
            continue
        base = recurrent_base(module)
        if type(module).forward is not stock_forward(module):
            warnings.warn(
                f"rnnviz.core.capture: {path or type(module).__name__} overrides forward(); not recorded",
                stacklevel=3,
            )
            continue
        if id(module) in outer:
            raise RuntimeError(
                f"module {path!r} is already inside another rnnviz.core.capture block"
            )
        recorders[id(module)] = _recording_forward(
            module, base, path, trace, calls_so_far, detach, patterns, planned.get(path)
        )
        modules.append(module)
    token = _ACTIVE_RECORDERS.set({**outer, **recorders})
    _instrument(modules)
    try:
        # Cells called in a loop and hand-written cells (rnnviz.core.cell_loops).
        with recording_cell_loops(
            model, trace, detach, lambda name: _wanted(name, patterns), loop_edits
        ):
            yield trace
    finally:
        _ACTIVE_RECORDERS.reset(token)
        _uninstrument(modules)
    _check_every_edit_applied(planned, calls_so_far)


def _planned_edits(model: nn.Module, edits: Sequence[Edit]) -> dict:
    """The edits checked against the model's recordable recurrent modules, grouped by path, call and layer."""
    modules = {
        path: module
        for path, module in model.named_modules()
        if isinstance(module, RECURRENT_MODULES) and type(module).forward is stock_forward(module)
    }
    return edits_by_module(list(edits), modules)


def _check_every_edit_applied(planned: dict, calls_so_far: dict[str, int]) -> None:
    for path, by_call in planned.items():
        missed = sorted(call for call in by_call if call >= calls_so_far[path])
        if missed:
            names = [
                edit.name
                for call in missed
                for layer in by_call[call].values()
                for pairs in layer.values()
                for _, edit in pairs
            ]
            raise RnnvizError(
                f"edits {names} were never applied: module {path or 'the model'!r} was called "
                f"{calls_so_far[path]} time(s) inside the capture block"
            )


def _instrument(modules: list[nn.Module]) -> None:
    with _INSTALL_LOCK:
        for module in modules:
            if _INSTALLED.get(id(module), 0) == 0:
                module.forward = _dispatching_forward(module, stock_forward(module))
            _INSTALLED[id(module)] = _INSTALLED.get(id(module), 0) + 1


def _uninstrument(modules: list[nn.Module]) -> None:
    with _INSTALL_LOCK:
        for module in modules:
            _INSTALLED[id(module)] -= 1
            if _INSTALLED[id(module)] == 0:
                del _INSTALLED[id(module)]
                module.__dict__.pop("forward", None)


def _dispatching_forward(module: nn.Module, stock: Callable) -> Callable:
    """The module's forward while instrumented: the recorder of this context, or the stock one."""

    def forward(*args, **kwargs):
        recorders = _ACTIVE_RECORDERS.get()
        recorder = recorders.get(id(module)) if recorders else None
        if recorder is None:
            return stock(module, *args, **kwargs)
        return recorder(*args, **kwargs)

    return forward


def _recording_forward(module, base, path, trace, calls_so_far, detach, patterns=None, edits=None):
    num_directions = 2 if module.bidirectional else 1

    def forward(input, hx=None):
        layers = _single_layers(module, base)
        for layer in layers:
            layer.training = module.training
        call = calls_so_far[path]
        calls_so_far[path] += 1
        layer_input = input
        finals = []
        for k, layer in enumerate(layers):
            layer_hx = _slice_layers(hx, k, num_directions)
            layer_edits = (edits or {}).get(call, {}).get(k)
            if layer_edits:
                layer_output, layer_final, lengths = _run_edited_layer(
                    trace,
                    module,
                    call_prefix(path, call),
                    k,
                    layer_input,
                    layer_hx,
                    layer_edits,
                    detach,
                    patterns,
                )
            else:
                layer_output, layer_final, anchors = _run_layer(
                    module, base, k, layer, layer_input, layer_hx
                )
                lengths = _record_layer(
                    trace,
                    module,
                    path,
                    call,
                    k,
                    layer_input,
                    layer_output,
                    layer_hx,
                    detach,
                    patterns,
                    anchors,
                )
            finals.append(layer_final)
            is_last = k == module.num_layers - 1
            if not is_last and module.training and module.dropout > 0:
                layer_output = _dropout(layer_output, module.dropout)
            layer_input = layer_output
        trace.calls.append(
            RecordedCall(
                path=path,
                call=call,
                cell_kind=cell_kind(module),
                num_layers=module.num_layers,
                bidirectional=module.bidirectional,
                hidden_size=module.hidden_size,
                proj_size=getattr(module, "proj_size", 0),
                lengths=lengths,
            )
        )
        return layer_output, _concat_finals(finals)

    return forward


# Long LSTM sequences run in chunks of this many steps (PyTorch's own kernel, its final (h, c) carried
# from one chunk to the next): each chunk's final c is the module's own, and the rebuilt recursion
# c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t restarts from it, so float32 rounding accumulates over one chunk
# at most, not over the whole text (bench/bench_capture.py measures the cost). None: one run.
ANCHOR_STEPS: int | None = 128


def _run_layer(module, base, k, layer, layer_input, layer_hx):
    """PyTorch's own forward of one layer: (output, final state, anchors).

    anchors: per direction, {step in reading order: the module's c there [batch, H]}, from an
    LSTM over sequences of one length longer than ANCHOR_STEPS, run in chunks; else None.
    """
    with warnings.catch_warnings():
        # On CUDA, a layer's weights are not one contiguous cuDNN chunk: harmless here.
        warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
        packed = isinstance(layer_input, PackedSequence)
        unbatched = not packed and layer_input.dim() == 2
        if packed:  # one length when every step holds the whole batch
            sizes = layer_input.batch_sizes
            steps, one_length = len(sizes), bool(sizes[0] == sizes[-1])
        else:
            steps = layer_input.shape[0 if unbatched or not module.batch_first else 1]
            one_length = True
        if base is not nn.LSTM or ANCHOR_STEPS is None or steps <= ANCHOR_STEPS or not one_length:
            return *layer(layer_input, layer_hx), None
        padded, _ = layout.batch_first(layer_input, module)
        directions = _direction_layers(module, base)[k] if module.bidirectional else [layer]
        outputs, finals, anchors = [], [], []
        for d, direction_layer in enumerate(directions):
            direction_layer.training = module.training
            sequence = padded.flip(1) if d == 1 else padded  # one length: a flip reverses each
            state = None if layer_hx is None else tuple(s[d : d + 1] for s in layer_hx)
            pieces, anchor = [], {}
            for start, length in _chunks(steps, ANCHOR_STEPS):
                chunk = _in_layout(sequence[:, start : start + length], layer_input, module)
                piece, state = direction_layer(chunk, state)
                pieces.append(layout.batch_first(piece, module)[0])
                anchor[start + length - 1] = state[1] if unbatched else state[1][0]
            output = torch.cat(pieces, dim=1)
            outputs.append(output.flip(1) if d == 1 else output)
            finals.append(state)
            anchors.append(anchor)
        output = layout.like_input(torch.cat(outputs, dim=-1), layer_input, module)
        return output, _concat_finals(finals), anchors


def _in_layout(chunk, layer_input, module):
    """A batch-first [B, T, F] chunk of one-length sequences in the layer input's layout."""
    if isinstance(layer_input, PackedSequence):
        lengths = torch.full((chunk.shape[0],), chunk.shape[1], dtype=torch.int64)
        return pack_padded_sequence(chunk, lengths, batch_first=True, enforce_sorted=False)
    if layer_input.dim() == 2:
        return chunk.squeeze(0)
    return chunk if module.batch_first else chunk.transpose(0, 1)


def anchored_steps(module: nn.Module, steps: int) -> list[int]:
    """The steps (in reading order) at which the capture restarts a layer's rebuilt c from the
    module's own: the ends of its chunks, for an LSTM over one-length sequences of `steps` steps."""
    if not isinstance(module, nn.LSTM) or ANCHOR_STEPS is None or steps <= ANCHOR_STEPS:
        return []
    return [start + length - 1 for start, length in _chunks(steps, ANCHOR_STEPS)]


def direction_layer(module: nn.Module, layer: int, direction: int) -> nn.Module:
    """One direction of one layer of an LSTM as a one-layer one-direction module sharing its
    parameters (PyTorch's own kernel for that part alone)."""
    if not module.bidirectional:
        return _single_layers(module, nn.LSTM)[layer]
    return _direction_layers(module, nn.LSTM)[layer][direction]


def _chunks(steps: int, size: int) -> list[tuple[int, int]]:
    """(start, length) of ⌈steps / size⌉ chunks of near-equal length (none very short: PyTorch's
    kernel takes another path for a single step, which would change the output's last bits)."""
    count = -(-steps // size)
    base, extra = divmod(steps, count)
    bounds, start = [], 0
    for index in range(count):
        length = base + (1 if index < extra else 0)
        bounds.append((start, length))
        start += length
    return bounds


# One-layer modules per recurrent module, kept across capture blocks (building them costs
# more than a batch-1 forward); weak keys, so a module that is gone takes its entry along.
_SINGLE_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# Each layer's directions as one-layer one-direction modules (for the anchored run, below).
_DIRECTION_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _single_layers(module, base):
    """The module's layers as one-layer modules; rebuilt if its parameters were swapped
    (e.g. by torch.func.functional_call)."""
    return _cached_layers(
        _SINGLE_LAYERS,
        module,
        lambda: [_single_layer(module, base, k) for k in range(module.num_layers)],
    )


def _direction_layers(module, base):
    """Per layer, its forward and backward directions as one-direction one-layer modules."""
    return _cached_layers(
        _DIRECTION_LAYERS,
        module,
        lambda: [
            [_single_layer(module, base, k, direction=d) for d in range(2)]
            for k in range(module.num_layers)
        ],
    )


def _cached_layers(cache, module, build):
    key = tuple(id(getattr(module, name)) for name in module._flat_weights_names)
    with _INSTALL_LOCK:
        cached = cache.get(module)
        if cached is None or cached[0] != key:
            cached = (key, build())
            cache[module] = cached
    return cached[1]


def _single_layer(module, base, layer, direction=None):
    """A one-layer module of the same kind that shares layer `layer`'s parameters with `module`
    (with `direction` 0 or 1: that direction's alone, as a one-direction module)."""
    options = dict(
        input_size=module.input_size if layer == 0 else _output_size(module),
        hidden_size=module.hidden_size,
        num_layers=1,
        bias=module.bias,
        batch_first=module.batch_first,
        bidirectional=module.bidirectional and direction is None,
        device="meta",
    )
    if base is nn.LSTM:
        options["proj_size"] = module.proj_size
    if base is nn.RNN:
        options["nonlinearity"] = module.nonlinearity
    single = base(**options)
    suffix = "_reverse" if direction == 1 else ""
    for name in single._flat_weights_names:
        own = name.replace("_l0", f"_l{layer}") + ("" if name.endswith("_reverse") else suffix)
        single._parameters[name] = getattr(module, own)
    # Set the flat-weight lists by hand: flatten_parameters() would move the shared
    # parameters into a new cuDNN buffer and change the user's module.
    single._flat_weights = [single._parameters[name] for name in single._flat_weights_names]
    single._flat_weight_refs = [weakref.ref(w) for w in single._flat_weights]
    return single


def _output_size(module) -> int:
    directions = 2 if module.bidirectional else 1
    return directions * (getattr(module, "proj_size", 0) or module.hidden_size)


def _slice_layers(hx, layer, num_directions):
    if hx is None:
        return None
    rows = slice(layer * num_directions, (layer + 1) * num_directions)
    if isinstance(hx, tuple):
        return tuple(h[rows] for h in hx)
    return hx[rows]


def _concat_finals(finals):
    if isinstance(finals[0], tuple):
        return tuple(torch.cat(parts, dim=0) for parts in zip(*finals))
    return torch.cat(finals, dim=0)


def _dropout(sequence, p):
    if isinstance(sequence, PackedSequence):
        return sequence._replace(data=F.dropout(sequence.data, p, training=True))
    return F.dropout(sequence, p, training=True)


def _wanted(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _run_edited_layer(
    trace, module, prefix, layer, layer_input, layer_hx, layer_edits, detach, patterns
):
    """Run one layer step by step with its edits and store every (wanted) quantity as the model used it;
    where none is wanted, PyTorch's own kernel runs the steps the edits do not reach."""
    directions = DIRECTIONS[: 2 if module.bidirectional else 1]
    recorded = any(
        _wanted(quantity_name(prefix, layer, direction, quantity), patterns)
        for direction in directions
        for quantity in QUANTITIES_BY_CELL_KIND[cell_kind(module)]
    )
    base = recurrent_base(module)
    kernel = (
        None
        if recorded
        else (
            (lambda d: _direction_layers(module, base)[layer][d])
            if module.bidirectional
            else (lambda d: _single_layers(module, base)[layer])
        )
    )
    edited = run_edited_layer(module, layer, layer_input, layer_hx, layer_edits, kernel)
    steps = max(edited.lengths)
    length_tensor = torch.tensor(edited.lengths)
    mask = (
        None
        if all(n == steps for n in edited.lengths)
        else layout.padding_mask(length_tensor, steps)
    )
    for direction, quantities in edited.quantities.items():
        for quantity, value in quantities.items():
            name = quantity_name(prefix, layer, direction, quantity)
            if not _wanted(name, patterns):
                continue
            value = value.to(torch.float32)
            if mask is not None:
                value = value.masked_fill(mask.to(value.device), float("nan"))
            trace.tensors[name] = value.detach() if detach else value
    return edited.output, edited.final, tuple(edited.lengths)


def _record_layer(
    trace,
    module,
    path,
    call,
    layer,
    layer_input,
    layer_output,
    layer_hx,
    detach,
    patterns=None,
    anchors=None,
):
    """Rebuild and store every (wanted) quantity of one layer, both directions; returns the lengths."""
    with torch.set_grad_enabled(not detach):
        inputs, lengths = layout.batch_first(layer_input, module)
        outputs, _ = layout.batch_first(layer_output, module)
        # Half precision is rebuilt in float32 (from PyTorch's half-precision h); float64 stays float64.
        work_dtype = torch.float64 if inputs.dtype == torch.float64 else torch.float32
        inputs, outputs = inputs.to(work_dtype), outputs.to(work_dtype)
        batch, steps = outputs.shape[:2]
        full_length = all(n == steps for n in lengths)
        length_tensor = torch.tensor(lengths, device=outputs.device)
        width = getattr(module, "proj_size", 0) or module.hidden_size
        kind = cell_kind(module)
        h0, c0 = (
            (None, None)
            if layer_hx is None
            else layer_hx
            if isinstance(layer_hx, tuple)
            else (layer_hx, None)
        )
        possible = QUANTITIES_BY_CELL_KIND[kind] + (
            ("unprojected_hidden",) if getattr(module, "proj_size", 0) else ()
        )
        for d, direction in enumerate(DIRECTIONS[: 2 if module.bidirectional else 1]):
            names = {
                q: quantity_name(call_prefix(path, call), layer, direction, q) for q in possible
            }
            wanted = {q for q, name in names.items() if _wanted(name, patterns)}
            if not wanted:
                continue  # nothing of this layer and direction is wanted: no rebuild
            parameters = CellWeights.of_layer(module, layer, d)
            weights = parameters.to(work_dtype)
            # Joined matrices are reused only when built from the parameters themselves: their storage
            # and version tell when they change, which a per-call dtype-converted copy's do not.
            own = weights is parameters
            cache = (
                _JOINED_WEIGHTS.setdefault(module, {}).setdefault((layer, d), {}) if own else None
            )
            hidden = outputs[..., d * width : (d + 1) * width]
            x, h = inputs, hidden
            if d == 1:  # run the backward direction as a forward one over reversed sequences
                x, h = (
                    layout.reverse(x, length_tensor, full_length),
                    layout.reverse(h, length_tensor, full_length),
                )
            h_start = layout.initial_state(h0, d, batch, width, h).to(work_dtype)
            if wanted <= {"hidden"}:
                quantities = {}  # h is PyTorch's own output: nothing to rebuild
            elif kind == "lstm":
                c_start = layout.initial_state(c0, d, batch, module.hidden_size, h).to(work_dtype)
                quantities = _lstm_quantities(
                    x, h, h_start, c_start, weights, wanted, cache, anchors and anchors[d]
                )
            elif kind == "gru":
                quantities = _gru_quantities(x, h, h_start, weights, wanted, cache)
            else:
                quantities = {}
            quantities = {q: v for q, v in quantities.items() if q in wanted}
            if d == 1:
                quantities = {
                    q: layout.reverse(v, length_tensor, full_length) for q, v in quantities.items()
                }
            if "hidden" in wanted:
                quantities["hidden"] = hidden
            mask = None if full_length else layout.padding_mask(length_tensor, steps)
            for quantity, value in quantities.items():
                value = value.to(torch.float32)
                if mask is not None:
                    # Rebuilt tensors are ours to overwrite; h is a view of the model's own output.
                    fresh = quantity != "hidden" and not value.requires_grad
                    value = (
                        value.masked_fill_(mask, float("nan"))
                        if fresh
                        else value.masked_fill(mask, float("nan"))
                    )
                trace.tensors[names[quantity]] = value.detach() if detach else value
    return tuple(lengths)


_ACTIVATIONS = {"none": None, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _onednn_linear_works() -> bool:
    """Whether oneDNN's dense linear (the kernel family PyTorch's own CPU LSTM runs on) is usable here.

    The rebuild is a few large matrix products per layer; oneDNN does them faster than the default
    BLAS (`torch.addmm`) on this project's CPUs and applies σ or tanh as it writes the result
    (bench/bench_capture.py). The op is PyTorch-internal (`torch.ops.mkldnn`),
    so it is used only after a check against `F.linear` on this very build; otherwise
    everything runs through `F.linear`.
    """
    try:
        if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
            return False
        generator = torch.Generator().manual_seed(0)
        x, weight, bias = (
            torch.randn(shape, generator=generator) for shape in ((7, 5), (6, 5), (6,))
        )
        for name, activation in _ACTIVATIONS.items():
            fast = torch.ops.mkldnn._linear_pointwise(x, weight, bias, name, [], "")
            expected = F.linear(x, weight, bias)
            expected = activation(expected) if activation else expected
            if fast.shape != (7, 6) or not torch.allclose(fast, expected, atol=1e-5):
                return False
        return True
    except Exception:  # noqa: BLE001 — any failure means: use the portable path
        return False


_ONEDNN_LINEAR: bool | None = None  # decided on first use


def _linear(
    rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, activation: str = "none"
) -> torch.Tensor:
    """activation(rows · weightᵀ + bias) for a [n, in] matrix; oneDNN on CPU float32 without autograd."""
    global _ONEDNN_LINEAR
    fast_case = (
        rows.device.type == "cpu"
        and rows.dtype == weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (rows.requires_grad or weight.requires_grad))
    )
    if fast_case:
        if _ONEDNN_LINEAR is None:
            _ONEDNN_LINEAR = _onednn_linear_works()
        if _ONEDNN_LINEAR:
            return torch.ops.mkldnn._linear_pointwise(
                rows.contiguous(),
                weight.contiguous(),
                None if bias is None else bias.contiguous(),
                activation,
                [],
                "",
            )
    result = F.linear(rows, weight, bias)
    function = _ACTIVATIONS[activation]
    return _inplace_if_no_grad(result, function) if function else result


def _affine(x, weight, bias, activation="none"):
    """activation(weight·x_t + bias) for every (batch, time) row in one matrix product."""
    batch, steps = x.shape[:2]
    return _linear(x.reshape(batch * steps, -1), weight, bias, activation).view(batch, steps, -1)


def _joined(x, hidden, h_start):
    """[x_t, h_{t-1}] for every t, written in one pass (h_{t-1} from the outputs and the initial state)."""
    inputs = x.shape[-1]
    joined = x.new_empty(*x.shape[:2], inputs + hidden.shape[-1])
    joined[..., :inputs] = x
    joined[:, 0, inputs:] = h_start
    joined[:, 1:, inputs:] = hidden[:, :-1]
    return joined


# Joined weights per module, layer and direction, reused while the parameters are unchanged: building
# them copies a layer's weights, a sizeable part of a batch-1 capture.
_JOINED_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _joined_rows(weights: CellWeights, rows: slice | list[slice], cache: dict | None = None):
    """The given gate rows of [W_ih, W_hh] side by side, and of b_ih + b_hh (None without biases)."""
    rows = [rows] if isinstance(rows, slice) else rows
    sources = [
        t
        for t in (weights.weight_ih, weights.weight_hh, weights.bias_ih, weights.bias_hh)
        if t is not None
    ]
    reusable = cache is not None and not (
        torch.is_grad_enabled() and any(t.requires_grad for t in sources)
    )
    if reusable:
        key = tuple((r.start, r.stop) for r in rows)
        stamp = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources)
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
    weight = torch.cat(
        [torch.cat([weights.weight_ih[r], weights.weight_hh[r]], dim=1) for r in rows]
    )
    biases = [b for b in (weights.bias_ih, weights.bias_hh) if b is not None]
    bias = torch.cat([sum(b[r] for b in biases) for r in rows]) if biases else None
    if reusable:
        cache[key] = (stamp, weight, bias)
    return weight, bias


def _lstm_quantities(x, hidden, h_start, c_start, weights, wanted=None, cache=None, anchors=None):
    """The LSTM's gates for every step at once, from PyTorch's h_{t-1} (cells.lstm_gates' equations,
    in two joined products), and its cell state c_t = f·c_{t-1} + i·g (cells.cell_update).

    `wanted` (default: all): when neither g, c nor o·tanh(c) is among them, only the σ gates are built.
    `anchors`: {step: the module's own c there}; the recursion takes it in place of its own value.
    """
    size = weights.hidden_size
    rows = {gate: cells.gate_rows("lstm", gate, size) for gate in cells.GATE_ROWS["lstm"]}
    joined = _joined(x, hidden, h_start)
    # Two products over [x_t, h_{t-1}]: the σ gates (i, f, o) and the tanh candidate g, each activated
    # as it is written.
    sigmoid_names = [g for g in cells.GATE_ROWS["lstm"] if cells.GATE_ACTIVATION[g] == "sigmoid"]
    sigmoid_gates = _affine(
        joined,
        *_joined_rows(weights, [rows[g] for g in sigmoid_names], cache),
        activation="sigmoid",
    )
    quantities = dict(zip(sigmoid_names, sigmoid_gates.split(size, dim=-1)))
    if wanted is not None and not wanted & {"cell_gate", "cell", "unprojected_hidden"}:
        return quantities
    cell_gate = _affine(
        joined,
        *_joined_rows(weights, rows["cell_gate"], cache),
        activation=cells.GATE_ACTIVATION["cell_gate"],
    )
    cell = _cell_recursion(
        quantities["forget_gate"], quantities["input_gate"] * cell_gate, c_start, anchors
    )
    quantities.update(cell_gate=cell_gate, cell=cell)
    if weights.weight_hr is not None:  # proj_size > 0: h_t = W_hr·(o_t ⊙ tanh(c_t))
        quantities["unprojected_hidden"] = cells.lstm_hidden(
            quantities["output_gate"], cell, weights
        )[0]
    return quantities


def _cell_recursion(forget_gate, written, c_start, anchors=None):
    """c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, one fused element-wise step per timestep ([batch, time, H]);
    at an anchored step the module's own c_t, from which the recursion goes on."""
    steps = []
    previous = c_start
    for t in range(written.shape[1]):
        previous = cells.cell_update(forget_gate[:, t], written[:, t], previous)
        if anchors and t in anchors:
            previous = anchors[t].to(previous.dtype)
        steps.append(previous)
    return torch.stack(steps, dim=1)


def _gru_quantities(x, hidden, h_start, weights, wanted=None, cache=None):
    """The GRU's gates for every step at once, from PyTorch's h_{t-1} (cells.gru_gates' equations):
    r and z in one joined product, the candidate n from its two products (cells.gru_candidate).

    `wanted` (default: all): without the candidate n among them, its two products are skipped.
    """
    size = weights.hidden_size
    reset, update, new = (cells.gate_rows("gru", g, size) for g in cells.GATE_ROWS["gru"])
    joined = _joined(x, hidden, h_start)
    reset_gate, update_gate = _affine(
        joined, *_joined_rows(weights, [reset, update], cache), activation="sigmoid"
    ).split(size, dim=-1)
    if wanted is not None and "new_gate" not in wanted:
        return {"reset_gate": reset_gate, "update_gate": update_gate}
    bias_ih, bias_hh = weights.bias_ih, weights.bias_hh
    input_n = _affine(x, weights.weight_ih[new], None if bias_ih is None else bias_ih[new])
    hidden_n = _affine(
        joined[..., x.shape[-1] :],
        weights.weight_hh[new],
        None if bias_hh is None else bias_hh[new],
    )
    new_gate = cells.gru_candidate(input_n, reset_gate, hidden_n)
    return {"reset_gate": reset_gate, "update_gate": update_gate, "new_gate": new_gate}


def _inplace_if_no_grad(tensor, op, *args):
    """op(tensor, *args), written into `tensor` when no graph is recorded (saves fresh memory)."""
    if torch.is_grad_enabled() and (tensor.requires_grad or any(a.requires_grad for a in args)):
        return op(tensor, *args)
    return op(tensor, *args, out=tensor)
