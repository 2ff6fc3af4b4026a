"""Interventions inside the recurrence: set or scale a gate, the cell state or the hidden state.

    with rnnviz.capture(model, edits=[Edit("rnn.layer0.forward.forget_gate", units=[17],
                                           steps=slice(3, None), value=1.0)]) as trace:
        output = model(ids)

An `Edit` names a recorded quantity (the trace's naming contract), the units and token
positions it touches, and either a value to set or a factor to multiply by. Inside the block,
every layer of a recurrent module that has an edit runs a step-by-step recurrence with the
module's own weights, the edit applied to the quantity as soon as it is computed and before
anything downstream reads it (c_t reads the edited gates, h_t the edited c_t, step t + 1 and the
next layer the edited h_t). Its output sequence and final states (h_n, c_n) are what the rest of
the model sees. Unedited layers and modules run on PyTorch's own kernels, as in a plain capture,
and the trace records every quantity as the edited model used it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from rnnviz.core import cells, layout
from rnnviz.core.cells import CellWeights, cell_kind
from rnnviz.core.trace import DIRECTIONS, QUANTITIES_BY_CELL_KIND, quantity_name
from rnnviz.errors import RnnvizError

Steps = int | slice | Sequence[int] | None
Indices = int | Sequence[int] | None


@dataclass(frozen=True)
class Edit:
    """Set (`value=`) or multiply (`scale=`) quantity `name` of `units` at token positions `steps`.

    units: unit indices, a set (None: every unit). steps: token positions (None: every position),
    an int, a slice or a list; negative positions count from each sequence's own end. For the
    backward direction, too, steps are token positions (the backward pass reaches them in reverse
    order). batch: which sequences of a batch (None: all). Several edits of one quantity apply in
    list order.
    """

    name: str
    units: Indices = None
    steps: Steps = None
    value: float | None = None
    scale: float | None = None
    batch: Indices = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.scale is None):
            raise RnnvizError(
                f"Edit({self.name!r}): give exactly one of value= (set) or scale= (multiply)"
            )
        for field_name in ("value", "scale"):
            number = getattr(self, field_name)
            if number is not None:
                if isinstance(number, bool) or not isinstance(number, (int, float)):
                    raise RnnvizError(
                        f"Edit({self.name!r}): {field_name} must be a number, got {number!r}"
                    )
                object.__setattr__(self, field_name, float(number))
        object.__setattr__(self, "units", _index_tuple(self.units, "units", self.name))
        object.__setattr__(self, "batch", _index_tuple(self.batch, "batch", self.name))
        if isinstance(self.steps, np.integer):
            object.__setattr__(self, "steps", int(self.steps))
        if not isinstance(self.steps, (type(None), int, slice)) or isinstance(self.steps, bool):
            object.__setattr__(
                self, "steps", _index_tuple(self.steps, "steps", self.name, negative=True)
            )
        elif isinstance(self.steps, slice) and any(
            not isinstance(v, (int, type(None)))
            for v in (self.steps.start, self.steps.stop, self.steps.step)
        ):
            raise RnnvizError(
                f"Edit({self.name!r}): a steps slice takes integers, got {self.steps!r}"
            )

    def positions(self, length: int) -> list[int]:
        """The token positions (0 … length − 1) it touches in a sequence of `length` tokens."""
        if self.steps is None:
            return list(range(length))
        if isinstance(self.steps, slice):
            return list(range(length)[self.steps])
        chosen = (self.steps,) if isinstance(self.steps, int) else self.steps
        return [p % length for p in chosen if -length <= p < length]

    def at_positions(self, length: int) -> Edit:
        """The same edit, its steps written as non-negative positions of a `length`-token text."""
        _check_steps(self, length)
        return Edit(
            self.name, self.units, tuple(self.positions(length)), self.value, self.scale, self.batch
        )


def _index_tuple(indices, what: str, name: str, negative: bool = False) -> tuple[int, ...] | None:
    if indices is None:
        return None
    if isinstance(indices, (torch.Tensor, np.ndarray)):
        indices = indices.tolist()
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        items = [indices]
    elif isinstance(indices, (list, tuple, range)):
        items = list(indices)
    else:
        items = None
    if items is None or any(
        isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) for i in items
    ):
        raise RnnvizError(f"Edit({name!r}): {what} must be integers, got {indices!r}")
    # A set of indices: a unit listed twice is edited once.
    items = list(dict.fromkeys(int(i) for i in items))
    if not negative and any(i < 0 for i in items):
        raise RnnvizError(f"Edit({name!r}): {what} must be non-negative, got {indices!r}")
    return tuple(items)


def _check_steps(edit: Edit, length: int) -> None:
    """Integer steps must lie inside the longest sequence (a slice may select nothing)."""
    if edit.steps is None or isinstance(edit.steps, slice):
        return
    chosen = (edit.steps,) if isinstance(edit.steps, int) else edit.steps
    outside = [p for p in chosen if not -length <= p < length]
    if outside:
        raise RnnvizError(
            f"edit of {edit.name}: steps {outside} outside the sequence (positions 0..{length - 1})"
        )


# ---------------------------------------------------------------------------------------------
# Names → targets


@dataclass(frozen=True)
class _Target:
    path: str
    call: int
    layer: int
    direction: str
    quantity: str


_NAME = re.compile(
    r"^(?:(?P<prefix>.*)\.)?layer(?P<layer>\d+)\.(?P<direction>\w+)\.(?P<quantity>\w+)$"
)
_CALL = re.compile(r"^(?P<path>.*?)(?:\[(?P<call>\d+)\])?$")

# Edits of one module: call → layer → direction → [(quantity, edit)] in the order given.
ModuleEdits = dict[int, dict[int, dict[str, list[tuple[str, Edit]]]]]


def quantities_of(module: nn.Module) -> tuple[str, ...]:
    """The quantity names a recurrent module records (what an edit may name)."""
    return QUANTITIES_BY_CELL_KIND[cell_kind(module)] + (
        ("unprojected_hidden",) if getattr(module, "proj_size", 0) else ()
    )


def editable_names(modules: dict[str, nn.Module]) -> list[str]:
    """Every name an edit can take in these modules (first call; later calls add `[n]`)."""
    names = []
    for path, module in modules.items():
        directions = DIRECTIONS[: 2 if module.bidirectional else 1]
        for layer in range(module.num_layers):
            for direction in directions:
                names += [quantity_name(path, layer, direction, q) for q in quantities_of(module)]
    return names


def unit_count(module: nn.Module, quantity: str) -> int:
    """Units of a quantity: proj_size for a projected LSTM's h, hidden_size otherwise."""
    if quantity == "hidden":
        return getattr(module, "proj_size", 0) or module.hidden_size
    return module.hidden_size


def edits_by_module(edits: Sequence[Edit], modules: dict[str, nn.Module]) -> dict[str, ModuleEdits]:
    """Check every edit against the recurrent modules (path → module); group them by target."""
    grouped: dict[str, ModuleEdits] = {}
    for edit in edits:
        if not isinstance(edit, Edit):
            raise RnnvizError(f"edits must be rnnviz.Edit objects, got {edit!r}")
        target = _target(edit.name, modules)
        module = modules[target.path]
        count = unit_count(module, target.quantity)
        if edit.units is not None:
            outside = [u for u in edit.units if u >= count]
            if outside:
                raise RnnvizError(
                    f"edit of {edit.name}: units {outside} outside 0..{count - 1} ({count} units)"
                )
        by_layer = grouped.setdefault(target.path, {}).setdefault(target.call, {})
        by_layer.setdefault(target.layer, {}).setdefault(target.direction, []).append(
            (target.quantity, edit)
        )
    return grouped


def _target(name: str, modules: dict[str, nn.Module]) -> _Target:
    match = _NAME.match(name) if isinstance(name, str) else None
    if match:
        call_match = _CALL.match(match["prefix"] or "")
        path, call = call_match["path"], int(call_match["call"] or 0)
        module = modules.get(path)
        if module is not None:
            layer, direction, quantity = int(match["layer"]), match["direction"], match["quantity"]
            directions = DIRECTIONS[: 2 if module.bidirectional else 1]
            if (
                layer < module.num_layers
                and direction in directions
                and quantity in quantities_of(module)
            ):
                return _Target(path, call, layer, direction, quantity)
    raise RnnvizError(_unknown_name_message(name, modules))


def _unknown_name_message(name: object, modules: dict[str, nn.Module]) -> str:
    valid = editable_names(modules)
    if not valid:
        return f"cannot edit {name!r}: the model has no recurrent module that capture records"
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    shown = ", ".join(valid[:48]) + (f", … ({len(valid) - 48} more)" if len(valid) > 48 else "")
    return (
        f"cannot edit {name!r}: no such quantity. {hint}Valid names: {shown} "
        f"(a module's second call is addressed as path[1])"
    )


# ---------------------------------------------------------------------------------------------
# The edited recurrence of one layer


class _Plan:
    """The edits of one direction as one affine map per quantity and step: q ← q·A + B (set: A = 0).

    Built batch-first over token positions, then put into the order the direction reads them.
    """

    def __init__(
        self,
        edits: list[tuple[str, Edit]],
        lengths: list[int],
        widths: dict[str, int],
        reverse,
        like: torch.Tensor,
    ):
        batch, steps = len(lengths), max(lengths)
        rows_by_length: dict[int, list[int]] = {}
        for b, length in enumerate(lengths):
            rows_by_length.setdefault(length, []).append(b)
        raw: dict[str, dict[str, torch.Tensor]] = {}
        for quantity, edit in edits:
            _check_steps(edit, steps)
            if edit.batch is not None and any(b >= batch for b in edit.batch):
                raise RnnvizError(
                    f"edit of {edit.name}: batch {list(edit.batch)} outside 0..{batch - 1}"
                )
            width = widths[quantity]
            if quantity not in raw:
                raw[quantity] = {
                    "scale": like.new_ones(batch, steps, width),
                    "shift": like.new_zeros(batch, steps, width),
                    "touched": torch.zeros(batch, steps, 1, dtype=torch.bool, device=like.device),
                }
            maps = raw[quantity]
            units = (
                slice(None) if edit.units is None else torch.tensor(edit.units, device=like.device)
            )
            if edit.steps is None and edit.batch is None:  # everywhere (padding is never read)
                index = (slice(None), slice(None), units)
                touched = (slice(None), slice(None))
            else:
                # over the chosen rows only: a ranking edits one row per unit, and scanning every
                # row for each of its hundreds of edits was most of the What if view's set-up time
                chosen_rows = sorted(
                    {
                        b
                        for b in (range(batch) if edit.batch is None else edit.batch)
                        if 0 <= b < batch
                    }
                )
                positions_by_length = {
                    length: list(edit.positions(length)) for length in rows_by_length
                }
                pairs = [(b, t) for b in chosen_rows for t in positions_by_length[lengths[b]]]
                if not pairs:
                    continue
                rows, positions = torch.tensor(pairs, device=like.device).T
                index = (
                    rows[:, None],
                    positions[:, None],
                    units if edit.units is None else units[None, :],
                )
                touched = (rows, positions)
            maps["touched"][touched] = True
            if edit.value is not None:
                maps["scale"][index] = 0.0
                maps["shift"][index] = edit.value
                if "set" not in maps:
                    maps["set"] = torch.zeros(
                        batch, steps, width, dtype=torch.bool, device=like.device
                    )
                maps["set"][index] = True
            else:
                maps["scale"][index] *= edit.scale
                maps["shift"][index] *= edit.scale
        self.maps: dict[
            str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[bool]]
        ] = {}
        for quantity, maps in raw.items():
            scale, shift, is_set = (
                None if maps.get(k) is None else reverse(maps[k]).transpose(0, 1).contiguous()
                for k in ("scale", "shift", "set")
            )
            active = reverse(maps["touched"]).any(dim=0).squeeze(-1).tolist()
            self.maps[quantity] = (scale, shift, is_set, active)

    def acting_steps(self) -> list[int]:
        """The (reading-order) steps at which some edit acts, in order."""
        return sorted(
            {t for *_, active in self.maps.values() for t, acts in enumerate(active) if acts}
        )

    def apply(self, quantity: str, t: int, value: torch.Tensor) -> torch.Tensor:
        """The quantity at (reading-order) step t after the edits; as it was where none acts."""
        entry = self.maps.get(quantity)
        if entry is None or not entry[3][t]:
            return value
        scale, shift, is_set, _ = entry
        edited = torch.addcmul(shift[t], scale[t], value)
        # A set value is exactly the value, whatever the computed one was (0 · inf would be NaN).
        return edited if is_set is None else torch.where(is_set[t], shift[t], edited)


def _kernel_around_edits(
    kind: str,
    source: torch.Tensor,
    weights: CellWeights,
    h_start: torch.Tensor,
    c_start: torch.Tensor | None,
    plan: _Plan,
    kernel: nn.Module,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None]]:
    """One direction over `source` [batch, time, inputs] (reading order): `kernel` up to the first
    edited step, step by step through the last, `kernel` again after it. (hidden [batch, time,
    width], (h_n, c_n)), as the step-by-step run gives them."""
    steps = source.shape[1]
    acting = plan.acting_steps()
    first, last = (acting[0], acting[-1]) if acting else (steps, steps - 1)
    h, c = h_start, c_start
    parts = []

    def through_kernel(chunk: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None):
        hx = h.unsqueeze(0) if c is None else (h.unsqueeze(0), c.unsqueeze(0))
        output, final = kernel(chunk if kernel.batch_first else chunk.transpose(0, 1), hx)
        output = output if kernel.batch_first else output.transpose(0, 1)
        h_n, c_n = final if isinstance(final, tuple) else (final, None)
        return output, h_n[0], None if c_n is None else c_n[0]

    if first > 0:
        output, h, c = through_kernel(source[:, :first], h, c)
        parts.append(output)
    if acting:
        unrolled = cells.unroll(
            kind,
            source[:, first : last + 1],
            weights,
            h,
            c,
            intervene=lambda quantity, t, value: plan.apply(quantity, first + t, value),
        )
        parts.append(unrolled.stacked("hidden"))
        h, c = unrolled.final_hidden, unrolled.final_cell
    if last + 1 < steps:
        output, h, c = through_kernel(source[:, last + 1 :], h, c)
        parts.append(output)
    return torch.cat(parts, dim=1), (h, c)


@dataclass(frozen=True)
class EditedLayer:
    """One layer run with its edits: what the next layer / the caller gets, and every quantity."""

    output: torch.Tensor | PackedSequence  # the layer's output, in the format PyTorch returns it
    final: torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h_n, or (h_n, c_n): its directions
    quantities: dict[str, dict[str, torch.Tensor]]  # direction → quantity → [batch, time, units]
    lengths: list[int]


def run_edited_layer(
    module: nn.Module,
    layer: int,
    layer_input,
    layer_hx,
    edits: dict[str, list[tuple[str, Edit]]],
    direction_kernel: Callable[[int], nn.Module] | None = None,
) -> EditedLayer:
    """Layer `layer` of `module` step by step with its own weights, each quantity edited as made.

    `direction_kernel(d)`: PyTorch's own one-layer one-direction module for direction d, given where
    no quantity is to be recorded: the steps before the first edit and after the last then run
    through it (a ranking's hundreds of edited rows differ only from their one edited token on), and
    `quantities` stays empty. Sequences of unequal lengths and projections always run step by step.
    """
    kind = cell_kind(module)
    inputs, lengths = layout.batch_first(layer_input, module)
    work_dtype = torch.float64 if inputs.dtype == torch.float64 else torch.float32
    x = inputs.to(work_dtype)
    batch, steps = x.shape[:2]
    length_tensor = torch.tensor(lengths, device=x.device)
    full_length = all(n == steps for n in lengths)
    width = getattr(module, "proj_size", 0) or module.hidden_size
    if layer_hx is None:
        h0 = c0 = None
    else:
        h0, c0 = layer_hx if isinstance(layer_hx, tuple) else (layer_hx, None)
    widths = {q: unit_count(module, q) for q in quantities_of(module)}
    # valid[t]: which sequences still read a token at (reading-order) step t; the rest keep theirs.
    valid = (
        None
        if full_length
        else (torch.arange(steps, device=x.device).unsqueeze(1) < length_tensor).unsqueeze(-1)
    )

    def reverse(tensor):
        return layout.reverse(tensor, length_tensor, full_length)

    quantities, finals, hidden_parts = {}, [], []
    directions = DIRECTIONS[: 2 if module.bidirectional else 1]
    for d, direction in enumerate(directions):
        weights = CellWeights.of_layer(module, layer, d, work_dtype)
        plan = _Plan(
            edits.get(direction, []), lengths, widths, reverse if d == 1 else (lambda t: t), x
        )
        source = reverse(x) if d == 1 else x
        h_start = layout.initial_state(h0, d, batch, width, x).to(work_dtype)
        c_start = (
            layout.initial_state(c0, d, batch, module.hidden_size, x).to(work_dtype)
            if kind == "lstm"
            else None
        )
        kernel = direction_kernel(d) if direction_kernel is not None else None
        if (
            kernel is not None
            and full_length
            and width == module.hidden_size
            and work_dtype == getattr(module, f"weight_ih_l{layer}").dtype
        ):
            hidden, final = _kernel_around_edits(
                kind, source, weights, h_start, c_start, plan, kernel
            )
            quantities[direction] = {}
            finals.append(final)
            hidden_parts.append(reverse(hidden) if d == 1 else hidden)
            continue
        unrolled = cells.unroll(
            kind, source, weights, h_start, c_start, intervene=plan.apply, running=valid
        )
        recorded = {q: unrolled.stacked(q) for q in unrolled.steps}
        final = (unrolled.final_hidden, unrolled.final_cell)
        if d == 1:
            recorded = {q: reverse(v) for q, v in recorded.items()}
        quantities[direction] = recorded
        finals.append(final)
        hidden_parts.append(recorded["hidden"])
    output = torch.cat(hidden_parts, dim=-1)
    if not full_length:  # PyTorch pads with zeros past each length
        output = output.masked_fill(
            torch.arange(steps, device=x.device).view(1, -1, 1) >= length_tensor.view(-1, 1, 1), 0.0
        )
    output = layout.like_input(output.to(inputs.dtype), layer_input, module)
    h_n = torch.stack([f[0] for f in finals]).to(inputs.dtype)
    c_n = torch.stack([f[1] for f in finals]).to(inputs.dtype) if kind == "lstm" else None
    if not isinstance(layer_input, PackedSequence) and layer_input.dim() == 2:  # unbatched
        h_n = h_n.squeeze(1)
        c_n = None if c_n is None else c_n.squeeze(1)
    return EditedLayer(output, h_n if c_n is None else (h_n, c_n), quantities, lengths)
