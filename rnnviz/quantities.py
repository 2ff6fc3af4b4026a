"""The vocabulary every module shares: cell kinds, the quantities each records, their labels and
symbols, which are σ gates, the directions, and the one way a layer and direction are named."""

from __future__ import annotations

# Cell kinds as capture records them (a bundled config's cell "rnn" is the tanh RNN).
CELL_KINDS = ("lstm", "gru", "rnn_tanh", "rnn_relu")

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

# What each cell kind records, in the order a lecture introduces them.
QUANTITIES_BY_CELL = {
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
