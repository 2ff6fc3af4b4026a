"""An example entry point: a model that is not in rnnviz's format, opened by
`rnnviz app --model custom_entry_point:build_model` (with this folder on PYTHONPATH).

A character tagger: embedding → 2-layer bidirectional GRU → linear, predicting at every
character whether it is a vowel, with its own tokenization (lower-case letters only).
"""

from __future__ import annotations

import string

import torch
from torch import nn

import rnnviz
from rnnviz.models.tokenizers import Encoding

LETTERS = string.ascii_lowercase


class VowelTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.characters = nn.Embedding(len(LETTERS) + 1, 8)
        self.encoder = nn.GRU(8, 12, num_layers=2, bidirectional=True, batch_first=True)
        self.classify = nn.Linear(24, 2)

    def forward(self, ids):
        states, _ = self.encoder(self.characters(ids))
        return self.classify(states)  # [batch, time, 2]: a prediction after every character


def encode(text: str) -> Encoding:
    tokens = list(text.lower())
    ids = [LETTERS.index(ch) + 1 if ch in LETTERS else 0 for ch in tokens]
    return Encoding(tokens=tokens, ids=ids, unknown=[ch not in LETTERS for ch in tokens])


def build_model() -> rnnviz.CustomModel:
    torch.manual_seed(0)
    return rnnviz.CustomModel(
        module=VowelTagger(),
        encode=encode,
        name="vowel-tagger",
        description="an untrained character tagger (bidirectional GRU)",
        per_step=lambda logits: torch.softmax(logits[0], dim=-1).numpy(),
        outcomes=("consonant", "vowel"),
    )


def not_a_model():
    return "hello"


class CellTagger(nn.Module):
    """The same tagger written with nn.LSTMCells in a loop, one per direction, declared as one
    bidirectional layer with rnnviz.stack."""

    def __init__(self):
        super().__init__()
        self.characters = nn.Embedding(len(LETTERS) + 1, 8)
        self.forward_cell, self.backward_cell = nn.LSTMCell(8, 6), nn.LSTMCell(8, 6)
        rnnviz.stack(self, [self.forward_cell, self.backward_cell])
        self.classify = nn.Linear(12, 2)

    def forward(self, ids):
        x = self.characters(ids)
        steps = x.shape[1]
        forward_states, backward_states = [None] * steps, [None] * steps
        state = None
        for t in range(steps):
            state = self.forward_cell(x[:, t], state)
            forward_states[t] = state[0]
        state = None
        for t in reversed(range(steps)):
            state = self.backward_cell(x[:, t], state)
            backward_states[t] = state[0]
        states = torch.cat([torch.stack(forward_states, 1), torch.stack(backward_states, 1)], -1)
        return self.classify(states)


def build_cell_model() -> rnnviz.CustomModel:
    torch.manual_seed(0)
    return rnnviz.CustomModel(
        module=CellTagger(),
        encode=encode,
        name="cell-tagger",
        description="an untrained character tagger (two nn.LSTMCells in a loop)",
        per_step=lambda logits: torch.softmax(logits[0], dim=-1).numpy(),
        outcomes=("consonant", "vowel"),
    )
