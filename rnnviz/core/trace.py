"""The `Trace`: every recorded per-timestep quantity of a model run, by name.

A name reads ``{module path}.layer{k}.{forward|backward}.{quantity}``; every tensor is
float32 and batch-first ``[batch, time, units]``. Positions past a sequence's length
(packed, variable-length input) hold NaN.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import torch

from rnnviz.core.quantities import (
    DIRECTIONS,
    QUANTITIES,
    QUANTITIES_BY_CELL_KIND,
    CellKind,
    quantity_name,
)

__all__ = [
    "DIRECTIONS",
    "QUANTITIES",
    "QUANTITIES_BY_CELL_KIND",
    "RecordedCall",
    "Trace",
    "call_prefix",
    "quantity_name",
]

_META_KEY = "__rnnviz_meta__"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordedCall:
    """One call of one recurrent module: what it is and where its tensors live."""

    path: str  # as in model.named_modules(); "" when the model itself is recurrent
    call: int  # 0 for the first call in the capture block, 1 for the second, ...
    cell_kind: CellKind  # "lstm", "gru", "rnn_tanh" or "rnn_relu"
    num_layers: int
    bidirectional: bool
    hidden_size: int
    proj_size: int
    lengths: tuple[int, ...]  # valid timesteps per batch element

    @property
    def prefix(self) -> str:
        """Name prefix of this call: ``lstm``, ``lstm[1]`` for its second call, ``""`` for the root."""
        return call_prefix(self.path, self.call)

    @property
    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS if self.bidirectional else DIRECTIONS[:1]

    @property
    def quantities(self) -> tuple[str, ...]:
        extra = ("unprojected_hidden",) if self.proj_size > 0 else ()
        return QUANTITIES_BY_CELL_KIND[self.cell_kind] + extra

    def name(self, layer: int, direction: str, quantity: str) -> str:
        return quantity_name(self.prefix, layer, direction, quantity)


def call_prefix(path: str, call: int) -> str:
    """The second and later calls of a module are addressed as ``path[1]``, ``path[2]``, ..."""
    return path if call == 0 else f"{path}[{call}]"


@dataclass(frozen=True)
class Trace:
    """Recorded tensors by name, plus what was recorded (one `RecordedCall` per module call)."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    calls: list[RecordedCall] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(self.tensors)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(tensor.shape) for name, tensor in self.tensors.items()}

    def __getitem__(self, key: str | tuple) -> torch.Tensor:
        """A recorded tensor by its full name, or by shorthand as TransformerLens's cache takes it:
        ``trace["cell", 0, "forward"]`` — (quantity, layer, direction, module); see `resolve`."""
        name = self.resolve(key)
        try:
            return self.tensors[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.tensors, n=3)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; recorded: {len(self.tensors)} names, see trace.names()"
            )
            raise KeyError(f"no quantity named {name!r} in this trace{hint}") from None

    def resolve(self, key: str | tuple) -> str:
        """The full name a key stands for: a full name as it is, or a shorthand
        (quantity, layer, direction, module), each part optional from the end.

        layer: an index, negative from the last (omitted: 0 when the module has one layer);
        direction: "forward" (omitted) or "backward"; module: its call prefix as in the names
        ("lstm", "encoder.lstm", "lstm[1]" for a second call, "" for a recurrent root), needed only
        when the trace holds several. A bare quantity ("cell") reads as (quantity,). Where the
        shorthand is ambiguous or names nothing, a KeyError lists the candidates.
        """
        if isinstance(key, str):
            if key in self.tensors or key not in QUANTITIES:
                return key
            key = (key,)
        if not isinstance(key, tuple) or not 1 <= len(key) <= 4:
            raise KeyError(
                f"a trace is indexed by a name or by (quantity, layer, direction, module), got {key!r}"
            )
        quantity, layer, direction, module = key + (None,) * (4 - len(key))
        recorded = self._call_for(module, key)
        if quantity not in recorded.quantities:
            raise KeyError(
                f"{key!r}: no quantity {quantity!r} in {recorded.cell_kind} module "
                f"{recorded.prefix or 'at the root'!r}; it records {', '.join(recorded.quantities)}"
            )
        if layer is None:
            if recorded.num_layers != 1:
                raise KeyError(
                    f"{key!r}: which layer? module {recorded.prefix or 'at the root'!r} has "
                    f"{recorded.num_layers} (0..{recorded.num_layers - 1}, or -1 for the last)"
                )
            layer = 0
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or not -recorded.num_layers <= layer < recorded.num_layers
        ):
            raise KeyError(
                f"{key!r}: layer {layer!r} outside 0..{recorded.num_layers - 1} "
                f"(negative counts from the last)"
            )
        direction = "forward" if direction is None else direction
        if direction not in recorded.directions:
            raise KeyError(
                f"{key!r}: direction {direction!r}; this module has {', '.join(recorded.directions)}"
            )
        return recorded.name(layer % recorded.num_layers, direction, quantity)

    def _call_for(self, module: str | None, key: tuple) -> RecordedCall:
        """The recorded call a shorthand names by its prefix, or the only one."""
        prefixes = [recorded.prefix for recorded in self.calls]
        if module is None:
            if len(self.calls) == 1:
                return self.calls[0]
            if not self.calls:
                raise KeyError(f"{key!r}: this trace lists no recorded calls to resolve it with")
            raise KeyError(
                f"{key!r}: which module? this trace holds several: "
                f"{', '.join(repr(p) for p in prefixes)} (give it as the fourth part)"
            )
        for recorded in self.calls:
            if recorded.prefix == module:
                return recorded
        raise KeyError(
            f"{key!r}: no recorded module {module!r}; recorded: "
            f"{', '.join(repr(p) for p in prefixes) or 'none'}"
        )

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def call(self, path: str = "", call: int = 0) -> RecordedCall:
        """The record of a module call; with one recurrent module, `trace.call()` finds it."""
        if path == "" and call == 0 and len({c.path for c in self.calls}) == 1:
            path = self.calls[0].path
        for recorded in self.calls:
            if recorded.path == path and recorded.call == call:
                return recorded
        known = ", ".join(repr(c.prefix) for c in self.calls) or "none"
        raise KeyError(f"no recorded call of module {path!r} (call {call}); recorded: {known}")

    def numpy(self) -> dict[str, np.ndarray]:
        return {name: tensor.detach().cpu().numpy() for name, tensor in self.tensors.items()}

    def save(self, path_or_file: str | Path | BinaryIO) -> None:
        """Write an .npz file (a path or a binary file object): one array per name plus JSON metadata, no pickle."""
        meta = {"version": _FORMAT_VERSION, "calls": [asdict(c) for c in self.calls]}
        arrays = self.numpy()
        arrays[_META_KEY] = np.array(json.dumps(meta))
        if isinstance(path_or_file, (str, Path)):
            with open(path_or_file, "wb") as handle:
                np.savez_compressed(handle, **arrays)
        else:
            np.savez_compressed(path_or_file, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        with np.load(path, allow_pickle=False) as archive:
            if _META_KEY not in archive.files:
                raise ValueError(f"{path} is not an rnnviz trace (no metadata entry)")
            meta = json.loads(str(archive[_META_KEY]))
            tensors = {
                name: torch.from_numpy(archive[name]) for name in archive.files if name != _META_KEY
            }
        calls = [RecordedCall(**_call_fields(c)) for c in meta["calls"]]
        return cls(tensors=tensors, calls=calls)


def _call_fields(saved: dict) -> dict:
    """A saved call's fields; traces saved before the cell kind had its own name stored it as "cell"."""
    fields = {**saved, "lengths": tuple(saved["lengths"])}
    if "cell" in fields:
        fields["cell_kind"] = fields.pop("cell")
    return fields
