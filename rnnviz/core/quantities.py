"""The vocabulary every module shares: cell kinds, the quantities each records, their labels and
symbols, which are σ gates, the directions, and the one way a layer and direction are named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

QUANTITIES = (
    "hidden",
    "cell",
    "input_gate",
    "forget_gate",
    "cell_gate",
    "output_gate",
    "unprojected_hidden",
    "reset_gate",
    "update_gate",
    "new_gate",
)

# The kind of recurrent cell, one spelling everywhere: nn.LSTM, nn.GRU, nn.RNN with tanh or relu.
CellKind = Literal["lstm", "gru", "rnn_tanh", "rnn_relu"]
CELL_KINDS: tuple[CellKind, ...] = get_args(CellKind)

# What each cell kind records, in the order a lecture introduces them.
QUANTITIES_BY_CELL: dict[CellKind, tuple[str, ...]] = {
    "lstm": ("input_gate", "forget_gate", "cell_gate", "output_gate", "cell", "hidden"),
    "gru": ("reset_gate", "update_gate", "new_gate", "hidden"),
    "rnn_tanh": ("hidden",),
    "rnn_relu": ("hidden",),
}

DIRECTIONS = ("forward", "backward")

SIGMOID_GATES = frozenset({"input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate"})
TANH_QUANTITIES = frozenset({"cell_gate", "new_gate", "unprojected_hidden"})

LABELS = {
    "input_gate": "input gate i",
    "forget_gate": "forget gate f",
    "cell_gate": "cell candidate g",
    "output_gate": "output gate o",
    "cell": "cell state c",
    "hidden": "hidden state h",
    "unprojected_hidden": "o ⊙ tanh(c) before projection",
    "reset_gate": "reset gate r",
    "update_gate": "update gate z",
    "new_gate": "candidate n",
}
SYMBOLS = {
    "input_gate": "i",
    "forget_gate": "f",
    "cell_gate": "g",
    "output_gate": "o",
    "cell": "c",
    "hidden": "h",
    "reset_gate": "r",
    "update_gate": "z",
    "new_gate": "n",
    "unprojected_hidden": "o·tanh(c)",
}


def cell_kind_of(cell: str) -> str:
    """A bundled config's cell ("rnn", "gru", "lstm") as the kind capture records ("rnn_tanh", ...)."""
    return "rnn_tanh" if cell == "rnn" else cell


def layer_key(layer: int, direction: str) -> str:
    """``layer{k}.{direction}``: how a layer and direction are named in traces, flows and scans."""
    return f"layer{layer}.{direction}"


def quantity_name(prefix: str, layer: int, direction: str, quantity: str) -> str:
    """A recorded quantity's name: ``{module path}.layer{k}.{direction}.{quantity}``."""
    head = f"{prefix}." if prefix else ""
    return f"{head}{layer_key(layer, direction)}.{quantity}"


@dataclass(frozen=True)
class Notation:
    """How the page writes the quantities, to match a course: the GRU's update convention (PyTorch's
    h = (1 − z)·n + z·h_prev, or the textbook's h = z·n + (1 − z)·h_prev, whose z is PyTorch's 1 − z),
    the LSTM candidate as g or c̃, and the state and input as h_t, x_t or as the lesson's S_i, X_i."""

    gru_update: str = "pytorch"  # or "textbook"
    candidate: str = "g"  # or "c~"
    symbols: str = "h"  # or "S": S_i, X_i

    def symbol(self, quantity: str) -> str:
        if quantity == "cell_gate" and self.candidate == "c~":
            return "c̃"
        if quantity == "hidden" and self.symbols == "S":
            return "S"
        return SYMBOLS.get(quantity, quantity)

    def label(self, quantity: str) -> str:
        name = LABELS.get(quantity, quantity)
        if quantity in ("cell_gate", "hidden") or (
            quantity == "update_gate" and self.textbook_update
        ):
            name = name.rsplit(" ", 1)[0] + " " + self.symbol(quantity)
        if quantity == "update_gate" and self.textbook_update:
            name += " (textbook)"
        return name

    @property
    def textbook_update(self) -> bool:
        return self.gru_update == "textbook"

    @property
    def index(self) -> str:
        """The time index: t, or the lesson's i."""
        return "i" if self.symbols == "S" else "t"

    @property
    def input_symbol(self) -> str:
        return "X" if self.symbols == "S" else "x"

    def shown(self, quantity: str, values):
        """Recorded values as this notation names them: the textbook's z is PyTorch's 1 − z."""
        return 1 - values if quantity == "update_gate" and self.textbook_update else values


PYTORCH_NOTATION = Notation()
