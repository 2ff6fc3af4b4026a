"""Recurrent cells called in a Python loop, and cells written by hand, recorded as one time axis.

Students write a recurrence three ways: `nn.RNN` / `nn.LSTM` / `nn.GRU` layers (rnnviz.core.capture),
`nn.RNNCell` / `nn.LSTMCell` / `nn.GRUCell` called once per token in a loop, and a cell of their own
from `nn.Linear` and `torch.sigmoid`. Inside `capture(model)` this module records the last two:

- every call of an `nn.*Cell` is one timestep; its gates are rebuilt from the call's own input and
  state with the cell's weights, while h (and the LSTM's c) are the cell's own outputs;
- a hand-written cell declares what it computes with `HookPoint` modules (an identity, as
  TransformerLens's): `self.forget_gate = rnnviz.HookPoint()` in `__init__`, `f = self.forget_gate(f)`
  in `forward`. Each call of a hook point is one timestep of the quantity its attribute names.

The calls of one cell module between two calls of the captured model become `[batch, time, units]`
tensors under the names the layers use: `{cell path}.layer0.forward.{quantity}`, the second forward
pass of the model `{cell path}[1]…`. `stack(owner, [fwd0, bwd0], [fwd1, bwd1])` declares that cells
are the layers and directions of one network: they are then named `{owner path}.layer{k}.{direction}`,
and a backward cell's calls (which read the text from its end) are put back in token order.
"""

from __future__ import annotations

import re
import threading
import warnings
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from rnnviz.core import cells
from rnnviz.core.edits import Edit
from rnnviz.core.quantities import DIRECTIONS, QUANTITIES, QUANTITIES_BY_CELL, quantity_name
from rnnviz.core.trace import RecordedCall, Trace, call_prefix
from rnnviz.errors import RnnvizError

CELL_TYPES = cells.RECURRENT_CELLS
_STACK_ATTRIBUTE = "_rnnviz_stack"


class HookPoint(nn.Module):
    """An identity module that names a quantity of a hand-written cell: inside `rnnviz.capture`, each
    call records its input as the next timestep of that quantity ([batch, units] or [units]).

    The quantity is the attribute name (`self.forget_gate = HookPoint()`) or `quantity=` when the
    attribute is named otherwise. An LSTM declares input_gate, forget_gate, cell_gate, output_gate,
    cell and hidden; a GRU reset_gate, update_gate (PyTorch's convention: h = (1 − z)·n + z·h_prev),
    new_gate and hidden; a plain RNN hidden.
    """

    def __init__(self, quantity: str | None = None):
        super().__init__()
        if quantity is not None and quantity not in QUANTITIES:
            raise RnnvizError(f"HookPoint({quantity!r}): the quantity must be one of {QUANTITIES}")
        self.quantity = quantity

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        session = _SESSION.get()
        if session is not None:
            return session.hook_point_called(self, value)
        return value


def stack(owner: nn.Module, *layers: nn.Module | Sequence[nn.Module | None]) -> nn.Module:
    """Declare cells (nn.*Cell or hand-written) inside `owner` as the layers of one network.

    Each layer is one cell (read left to right) or a pair (forward cell, backward cell); the backward
    cell is expected to be called on the tokens from the last to the first. Call it in `__init__`
    after the cells are attributes: `rnnviz.stack(self, [self.forward_cell, self.backward_cell])`.
    The recorded names are then `{owner path}.layer{k}.{forward|backward}.{quantity}`. Returns owner.
    """
    paths = {id(module): path for path, module in owner.named_modules()}
    declared = []
    for k, layer in enumerate(layers):
        pair = (layer, None) if isinstance(layer, nn.Module) else tuple(layer)
        if len(pair) != 2 or pair[0] is None:
            raise RnnvizError(f"stack: layer {k} must be a cell or a pair (forward, backward)")
        for cell in pair:
            if cell is not None and (id(cell) not in paths or cell is owner):
                raise RnnvizError(
                    f"stack: layer {k}'s {type(cell).__name__} is not a submodule of the owner; "
                    "assign the cells as attributes before calling rnnviz.stack"
                )
        declared.append(tuple(None if cell is None else paths[id(cell)] for cell in pair))
    # A plain attribute (not a buffer or parameter): the state dict and the weights are untouched.
    object.__setattr__(owner, _STACK_ATTRIBUTE, tuple(declared))
    return owner


@dataclass(frozen=True)
class _Member:
    """Where a cell's (or a hand-written cell's) steps go: its network's path, layer and direction."""

    path: str
    layer: int
    direction: str


@dataclass
class _Steps:
    """One pass of one network: per (layer, direction), per quantity, the recorded [batch, units] steps."""

    first_seen: int  # how many recorded calls the trace held when this pass's first step came
    edited: bool = False  # an edit acted on a step: the model ran as edited
    by_layer: dict[tuple[int, str], dict[str, list[torch.Tensor]]] = field(default_factory=dict)
    # The cell kind per (layer, direction).
    cells: dict[tuple[int, str], str] = field(default_factory=dict)
    max_error: float = 0.0  # largest |rebuilt − the cell's own output| over the nn.*Cell steps


_SESSION: ContextVar[_Session | None] = ContextVar("rnnviz_cell_loop_session", default=None)

# Largest |rebuilt − own output| of each recorded loop, by trace and name prefix (see loop_exactness).
_ERRORS: dict[int, dict[str, float]] = {}


class _Session:
    """The cells of one capture block and the steps recorded so far (this thread / context only)."""

    def __init__(self, model: nn.Module, trace: Trace, detach: bool, edits: Sequence[Edit] = ()):
        self.trace, self.detach = trace, detach
        self.members = _members(model)
        cell_kinds = {
            (member.path, member.layer, member.direction): cells.cell_kind(module)
            for module in model.modules()
            if isinstance(member := self.members.get(id(module)), _Member)
        }
        self.edits = _planned_loop_edits(edits, self.members, cell_kinds)
        # The quantities each hand-written cell declares with its hook points.
        self.hand_written: dict[_Member, set[str]] = {}
        for entry in self.members.values():
            if isinstance(entry, tuple):
                self.hand_written.setdefault(entry[0], set()).add(entry[1])
        # Networks made of nn.*Cells: their gates are rebuilt, so their exactness is measured.
        self.built_in_paths = {m.path for m in self.members.values() if isinstance(m, _Member)}
        self.passes = -1  # calls of the captured model so far (-1: none, the cells called directly)
        self.applied: set[int] = set()  # id() of the slice edits whose network and pass ran
        self.reached: set[tuple[int, int]] = set()  # (id(edit), step) where an edit acted
        self.steps: dict[tuple[str, int], _Steps] = {}

    def _steps(self, member: _Member) -> _Steps:
        key = (member.path, max(self.passes, 0))
        if key not in self.steps:
            self.steps[key] = _Steps(first_seen=len(self.trace.calls))
        return self.steps[key]

    def cell_called(self, cell: nn.Module, args: tuple, output):
        """Record one step of an nn.*Cell; with edits at this step, the edited (h[, c]) it returns."""
        member = self.members.get(id(cell))
        if member is None:
            return None
        x, state = args[0], args[1] if len(args) > 1 else None
        kind = cells.cell_kind(cell)
        steps = self._steps(member)
        step_edits = self._edits_now(member, "hidden")
        intervene = _intervention(step_edits) if step_edits else None
        with torch.set_grad_enabled(not self.detach and torch.is_grad_enabled()):
            quantities, rebuilt = _rebuilt_step(cell, kind, x, state, intervene)
        own = output if isinstance(output, tuple) else (output,)
        if intervene is not None:  # the model goes on from the edited step
            steps.edited = True
            own = rebuilt
        error = max(
            float((r.detach().double() - o.detach().double()).abs().max())
            for r, o in zip(rebuilt, own)
        )
        steps.max_error = max(steps.max_error, error)
        quantities["hidden"] = own[0]
        if kind == "lstm":
            quantities["cell"] = own[1]
        self._keep(member, kind, quantities)
        return None if intervene is None else (own if kind == "lstm" else own[0])

    def hook_point_called(self, hook_point: HookPoint, value: torch.Tensor) -> torch.Tensor:
        """Record one step of a hand-written cell's quantity; the value the cell goes on with."""
        owner = self.members.get(id(hook_point))
        if owner is None:
            return value
        member, quantity = owner
        if value.dim() not in (1, 2):
            raise RnnvizError(
                f"rnnviz.HookPoint {quantity!r} of {member.path or 'the model'!r} got a tensor of "
                f"shape {tuple(value.shape)}: a hook point records one step, [batch, units] or "
                "[units], per call"
            )
        step_edits = [edit for q, edit in self._edits_now(member, quantity) if q == quantity]
        if step_edits:
            self._steps(member).edited = True
            for edit in step_edits:
                value = _edited(edit, value)
        self._keep(member, _hand_written_kind(self.hand_written[member]), {quantity: value})
        return value

    def _edits_now(self, member: _Member, quantity: str) -> list[tuple[str, Edit]]:
        """The (quantity, edit) pairs that act at the step this member is about to record."""
        pass_index = max(self.passes, 0)
        planned = self.edits.get((member.path, pass_index, member.layer, member.direction))
        if not planned:
            return []
        recorded = self._steps(member).by_layer.get((member.layer, member.direction), {})
        step = len(recorded.get(quantity, ()))
        acting = [(q, edit) for q, edit in planned if _acts_at(edit, step, member.direction)]
        # A slice may select no step (as for layers); listed steps must each be reached.
        self.applied.update(id(edit) for _, edit in planned if isinstance(edit.steps, slice))
        self.reached.update((id(edit), step) for _, edit in acting)
        return acting

    def _keep(self, member: _Member, kind: str, quantities: dict[str, torch.Tensor]) -> None:
        steps = self._steps(member)
        key = (member.layer, member.direction)
        steps.cells[key] = kind
        recorded = steps.by_layer.setdefault(key, {})
        for quantity, value in quantities.items():
            value = value.detach() if self.detach else value
            recorded.setdefault(quantity, []).append(value if value.dim() > 1 else value[None])

    def finish(self, patterns_wanted) -> None:
        """Stack every network's steps into [batch, time, units] tensors and record its calls."""
        acted = self.applied | {edit for edit, _ in self.reached}
        missed = [
            edit.name
            for planned in self.edits.values()
            for _, edit in planned
            if id(edit) not in acted or not _every_step_reached(edit, self.reached)
        ]
        if missed:
            raise RnnvizError(
                f"edits {missed} were never applied (or not at every step listed): that cell loop "
                "did not run that far in that call of the model inside the capture block"
            )
        finished = []
        for (path, pass_index), steps in self.steps.items():
            record = self._record(path, pass_index, steps, patterns_wanted)
            if record is not None:
                # An edited run is another model: nothing to hold its numbers against.
                finished.append(
                    (steps.first_seen, record, None if steps.edited else steps.max_error)
                )
        # Insert each call where its first step came, so trace.calls stays in the order of calls.
        for offset, (position, record, error) in enumerate(sorted(finished, key=lambda f: f[0])):
            self.trace.calls.insert(position + offset, record)
            if record.path in self.built_in_paths and error is not None:
                errors = _ERRORS.setdefault(id(self.trace), {})
                if not errors:
                    weakref.finalize(self.trace, _ERRORS.pop, id(self.trace), None)
                errors[record.prefix] = error

    def _record(self, path, pass_index, steps: _Steps, wanted) -> RecordedCall | None:
        prefix = call_prefix(path, pass_index)
        kinds = set(steps.cells.values())
        where = prefix or "the model"
        if len(kinds) != 1:
            warnings.warn(
                f"rnnviz: {where} mixes cell kinds {sorted(kinds)}; not recorded", stacklevel=4
            )
            return None
        (kind,) = kinds
        tensors = {}
        batch = None
        for (layer, direction), quantities in sorted(steps.by_layer.items()):
            missing = [q for q in QUANTITIES_BY_CELL[kind] if q not in quantities]
            lengths = {len(v) for v in quantities.values()}
            batches = {t.shape[0] for v in quantities.values() for t in v}
            problem = (
                f"declares no {', '.join(missing)}"
                if missing
                else "records its quantities a different number of times"
                if len(lengths) != 1
                else "changes its batch size between steps"
                if len(batches) != 1 or (batch is not None and batches != {batch})
                else None
            )
            if problem:
                warnings.warn(
                    f"rnnviz: layer {layer} {direction} of {where} {problem}; not recorded",
                    stacklevel=4,
                )
                return None
            (batch,) = batches
            for quantity, values in quantities.items():
                if quantity not in QUANTITIES_BY_CELL[kind]:
                    continue
                name = quantity_name(prefix, layer, direction, quantity)
                if not wanted(name):
                    continue
                sequence = torch.stack(values, dim=1).to(torch.float32)  # [batch, time, units]
                tensors[name] = sequence.flip(1) if direction == "backward" else sequence
        lengths = {len(v) for q in steps.by_layer.values() for v in q.values()}
        if len(lengths) != 1:
            warnings.warn(
                f"rnnviz: the layers and directions of {where} ran {sorted(lengths)} steps; "
                "not recorded",
                stacklevel=4,
            )
            return None
        layers = {layer for layer, _ in steps.by_layer}
        if layers != set(range(len(layers))):
            warnings.warn(
                f"rnnviz: {where} ran layers {sorted(layers)} only; not recorded", stacklevel=4
            )
            return None
        (steps_per_sequence,) = lengths
        self.trace.tensors.update(tensors)
        return RecordedCall(
            path=path,
            call=pass_index,
            cell=kind,
            num_layers=len(layers),
            bidirectional=any(direction == "backward" for _, direction in steps.by_layer),
            hidden_size=steps.by_layer[min(steps.by_layer)]["hidden"][0].shape[-1],
            proj_size=0,
            lengths=(steps_per_sequence,) * batch,
        )


def _members(model: nn.Module) -> dict[int, object]:
    """id(cell or hook point) → where its steps go, for every cell and hook point in `model`."""
    declared: dict[str, _Member] = {}
    for owner_path, owner in model.named_modules():
        for layer, pair in enumerate(getattr(owner, _STACK_ATTRIBUTE, ())):
            for direction, cell_path in zip(DIRECTIONS, pair):
                if cell_path is not None:
                    full = f"{owner_path}.{cell_path}" if owner_path else cell_path
                    declared[full] = _Member(owner_path, layer, direction)
    members: dict[int, object] = {}
    for path, module in model.named_modules():
        if isinstance(module, CELL_TYPES):
            members[id(module)] = declared.get(path, _Member(path, 0, "forward"))
        elif isinstance(module, HookPoint):
            parent, _, attribute = path.rpartition(".")
            quantity = module.quantity or attribute
            if quantity not in QUANTITIES:
                raise RnnvizError(
                    f"HookPoint {path!r}: name the attribute after a quantity ({', '.join(QUANTITIES)}) "
                    "or pass HookPoint(quantity=...)"
                )
            members[id(module)] = (declared.get(parent, _Member(parent, 0, "forward")), quantity)
    return members


def _hand_written_kind(quantities: set[str]) -> str:
    if "forget_gate" in quantities or "cell" in quantities:
        return "lstm"
    if "update_gate" in quantities or "reset_gate" in quantities:
        return "gru"
    return "rnn_tanh"


def _rebuilt_step(cell: nn.Module, kind: str, x: torch.Tensor, state, intervene=None):
    """The gates of one step of an nn.*Cell from its input and state (rnnviz.core.cells' equations
    with the cell's weights), and the (h[, c]) they give."""
    batched = x.dim() == 2
    x = x if batched else x[None]
    if state is None:
        zeros = x.new_zeros(x.shape[0], cell.hidden_size)
        state = (zeros, zeros) if kind == "lstm" else zeros
    h, c = state if kind == "lstm" else (state, None)
    h = h if batched else h[None]
    c = None if c is None else (c if batched else c[None])
    weights = cells.CellWeights.of_cell(cell)
    hook = () if intervene is None else (intervene,)
    quantities, h_new, c_new = cells.step(
        kind, cells.input_projection(x, weights), h, c, weights, *hook
    )
    quantities = {q: v for q, v in quantities.items() if q not in ("hidden", "cell")}
    rebuilt = (h_new,) if c_new is None else (h_new, c_new)
    if not batched:
        quantities = {q: v[0] for q, v in quantities.items()}
        rebuilt = tuple(v[0] for v in rebuilt)
    return quantities, rebuilt


@contextmanager
def recording_cell_loops(
    model: nn.Module, trace: Trace, detach: bool, wanted, edits: Sequence[Edit] = ()
) -> Iterator[None]:
    """While the block runs, record the model's cells and hook points (this context's calls only),
    applying `edits` (those `split_edits` gave to cell loops); at its end, add their [batch, time,
    units] tensors and calls to `trace`. `wanted(name)`: keep it?"""
    session = _Session(model, trace, detach, edits)
    if not session.members:
        yield
        return
    # Each call of the model is one sequence (its own pass), unless the model is itself the cell.
    root_is_cell = not hasattr(model, _STACK_ATTRIBUTE) and any(
        _network_of(entry).path == "" for entry in session.members.values()
    )
    instrumented = [
        (m, _recording_cell_forward) for m in model.modules() if isinstance(m, CELL_TYPES)
    ]
    if not root_is_cell:
        instrumented.append((model, _counting_forward))
    _instrument(instrumented)
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)
        _uninstrument([module for module, _ in instrumented])
    session.finish(wanted)


# A module stays instrumented while any capture block (in any thread) uses it. Its forward is
# replaced by setting an instance attribute (one atomic write) rather than adding hooks, whose
# dictionary another thread may be iterating while it calls the shared model; the instrumented
# forward records only for the session of the calling context, so uncaptured calls run as before.
_INSTALL_LOCK = threading.Lock()
_INSTALLED: dict[int, int] = {}  # id(module) → capture blocks using it


def _instrument(modules: list[tuple[nn.Module, Callable]]) -> None:
    with _INSTALL_LOCK:
        for module, make_forward in modules:
            if _INSTALLED.get(id(module), 0) == 0:
                module.forward = make_forward(module, module.forward)
            _INSTALLED[id(module)] = _INSTALLED.get(id(module), 0) + 1


def _uninstrument(modules: list[nn.Module]) -> None:
    with _INSTALL_LOCK:
        for module in modules:
            _INSTALLED[id(module)] -= 1
            if _INSTALLED[id(module)] == 0:
                del _INSTALLED[id(module)]
                module.__dict__.pop("forward", None)


def _recording_cell_forward(cell: nn.Module, own_forward: Callable) -> Callable:
    """The cell's forward, then (inside a capture block) its step recorded, or replaced when edited."""

    def forward(*args, **kwargs):
        output = own_forward(*args, **kwargs)
        session = _SESSION.get()
        if session is None:
            return output
        inputs = (*args, *kwargs.values())  # (input, hx) however they were passed
        edited = session.cell_called(cell, inputs, output)
        return output if edited is None else edited

    return forward


def _counting_forward(model: nn.Module, own_forward: Callable) -> Callable:
    """The model's forward; inside a capture block, each call starts the next pass (sequence)."""

    def forward(*args, **kwargs):
        session = _SESSION.get()
        if session is not None:
            session.passes += 1
        return own_forward(*args, **kwargs)

    return forward


def loop_exactness(trace: Trace, prefix: str) -> float | None:
    """The largest |rebuilt − own| difference of the h (and c) of a recorded nn.*Cell loop over its
    steps: the gates rebuilt from each call's input and state give back the cell's own outputs. None
    for a hand-written cell (its own hook points are what is shown) or a layer."""
    return _ERRORS.get(id(trace), {}).get(prefix)


def cell_layers(model: nn.Module) -> list[tuple[nn.Module, nn.Module | None]] | None:
    """The model's nn.*Cells as layers of one network — its one `stack` declaration, or its only
    cell — as (forward cell, backward cell or None) per layer; None when that is not one network."""
    cells = [m for m in model.modules() if isinstance(m, CELL_TYPES)]
    owners = [m for m in model.modules() if hasattr(m, _STACK_ATTRIBUTE)]
    if len(owners) == 1:
        owner = owners[0]
        layers = [
            tuple(None if path is None else owner.get_submodule(path) for path in pair)
            for pair in getattr(owner, _STACK_ATTRIBUTE)
        ]
        declared = {id(c) for pair in layers for c in pair if c is not None}
        if declared == {id(c) for c in cells}:
            return layers
        return None
    return [(cells[0], None)] if len(cells) == 1 and not owners else None


# ---------------------------------------------------------------------------------------------
# Edits inside a cell loop: applied to the quantity as the step computes it, before anything reads it

_EDIT_NAME = re.compile(
    r"^(?:(?P<path>.*?)(?:\[(?P<call>\d+)\])?\.)?layer(?P<layer>\d+)\.(?P<direction>\w+)\.(?P<quantity>\w+)$"
)


def split_edits(model: nn.Module, edits: Sequence[Edit]) -> tuple[list[Edit], list[Edit]]:
    """(edits of the model's cell loops and hand-written cells, the rest) — by the name's path."""
    if not edits:
        return [], []
    networks = {_network_of(entry).path for entry in _members(model).values()}
    mine, rest = [], []
    for edit in edits:
        match = _EDIT_NAME.match(edit.name) if isinstance(edit, Edit) else None
        (mine if match and (match["path"] or "") in networks else rest).append(edit)
    return mine, rest


def _network_of(entry) -> _Member:
    return entry[0] if isinstance(entry, tuple) else entry


def _planned_loop_edits(
    edits: Sequence[Edit], members: dict[int, object], cell_kinds: dict[tuple, str]
) -> dict:
    """(path, pass, layer, direction) → [(quantity, edit)], each edit checked against the networks:
    an nn.*Cell's quantities are its kind's, a hand-written cell's those its hook points declare."""
    declared = {key: set(QUANTITIES_BY_CELL[kind]) for key, kind in cell_kinds.items()}
    for entry in members.values():
        if isinstance(entry, tuple):
            member = entry[0]
            declared.setdefault((member.path, member.layer, member.direction), set()).add(entry[1])
    planned: dict[tuple[str, int, int, str], list[tuple[str, Edit]]] = {}
    for edit in edits:
        match = _EDIT_NAME.match(edit.name)
        path, layer, direction = match["path"] or "", int(match["layer"]), match["direction"]
        quantity = match["quantity"]
        key = (path, layer, direction)
        allowed = declared.get(key, set())
        if quantity not in allowed:
            raise RnnvizError(
                f"cannot edit {edit.name!r}: layer {layer} {direction} of {path or 'the model'!r} "
                f"records {', '.join(sorted(allowed)) or 'nothing'}"
            )
        _check_loop_steps(edit, direction)
        planned.setdefault((path, int(match["call"] or 0), layer, direction), []).append(
            (quantity, edit)
        )
    return planned


def _check_loop_steps(edit: Edit, direction: str) -> None:
    """While a loop runs its length is unknown: forward steps count from the start, backward ones
    (which read the text from its end) from the end."""
    steps = edit.steps
    if steps is None:
        return
    if isinstance(steps, slice):
        fine = (
            direction == "forward"
            and all(v is None or v >= 0 for v in (steps.start, steps.stop))
            and (steps.step or 1) > 0
        )
    else:
        chosen = (steps,) if isinstance(steps, int) else steps
        fine = all((p >= 0) == (direction == "forward") for p in chosen)
    if not fine:
        raise RnnvizError(
            f"edit of {edit.name}: in a cell loop the text's length is not known while it runs; "
            + (
                "give forward steps as positions from the start (0, 1, …, or slice(3, None))"
                if direction == "forward"
                else "give backward steps counted from the end (-1 the last token, -2, …)"
            )
        )


def _every_step_reached(edit: Edit, reached: set[tuple[int, int]]) -> bool:
    """Whether a list of steps was reached whole (None and slices need no particular step)."""
    if edit.steps is None or isinstance(edit.steps, slice):
        return True
    listed = (edit.steps,) if isinstance(edit.steps, int) else edit.steps
    return len({step for key, step in reached if key == id(edit)}) == len(set(listed))


def _acts_at(edit: Edit, step: int, direction: str) -> bool:
    """Whether the edit acts at the loop's `step`-th call (a backward cell's call k is token −k−1)."""
    steps = edit.steps
    if steps is None:
        return True
    if isinstance(steps, slice):
        return step in range(
            steps.start or 0, step + 1 if steps.stop is None else steps.stop, steps.step or 1
        )
    chosen = (steps,) if isinstance(steps, int) else steps
    return (step if direction == "forward" else -step - 1) in chosen


def _edited(edit: Edit, value: torch.Tensor) -> torch.Tensor:
    """The value with the edit applied to its chosen sequences and units ([batch, units] or [units])."""
    rows = value if value.dim() > 1 else value[None]
    batch, units = rows.shape
    for what, chosen, count in (("units", edit.units, units), ("batch", edit.batch, batch)):
        if chosen is not None and any(i >= count for i in chosen):
            raise RnnvizError(f"edit of {edit.name}: {what} {list(chosen)} outside 0..{count - 1}")
    mask = torch.zeros(batch, units, dtype=torch.bool, device=value.device)
    row_index = torch.arange(batch) if edit.batch is None else torch.tensor(edit.batch)
    unit_index = torch.arange(units) if edit.units is None else torch.tensor(edit.units)
    mask[row_index[:, None], unit_index[None, :]] = True
    changed = torch.full_like(rows, edit.value) if edit.value is not None else rows * edit.scale
    result = torch.where(mask, changed, rows)
    return result if value.dim() > 1 else result[0]


def _intervention(step_edits: list[tuple[str, Edit]]):
    """rnnviz.core.cells' intervene hook applying this step's edits, in list order."""

    def intervene(quantity: str, value: torch.Tensor) -> torch.Tensor:
        for edited_quantity, edit in step_edits:
            if edited_quantity == quantity:
                value = _edited(edit, value)
        return value

    return intervene
