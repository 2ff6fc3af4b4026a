"""Synthetic long-range tasks for the training lab: each generates batches from a seeded generator.

Every task reads a sequence of feature vectors [batch, time, features] and is judged on the
model's output after the last step, so the answer has to travel through the whole sequence.

* first_symbol — "remember the first symbol": one of 4 symbols, then N distractors, then "?";
  the label is the first symbol (chance 25 %).
* brackets — "are the brackets balanced": N brackets (N rounded up to even), half of them
  balanced; the unbalanced ones have the same number of "(" and ")" (a shuffle of a balanced
  string), so counting is not enough: the running depth must never go below 0 (chance 50 %).
* adding — the adding problem (Hochreiter & Schmidhuber 1997): N pairs (value ~ U[0, 1],
  marker); exactly two markers, one in each half; the target is the sum of the two marked
  values; "correct" means within 0.04 (predicting the mean, 1.0, is correct about 11 % of the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

SYMBOLS = ("A", "B", "C", "D")
DISTRACTORS = ("w", "x", "y", "z")
QUERY = "?"
FIRST_SYMBOL_VOCABULARY = SYMBOLS + DISTRACTORS + (QUERY,)
BRACKETS = ("(", ")")
ADDING_TOLERANCE = 0.04


@dataclass(frozen=True)
class Batch:
    """Inputs [batch, time, features] and targets: class indices (int64) or values (float32), [batch]."""

    inputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True)
class Task:
    """A synthetic task: how to generate it, how many inputs and outputs, how to show a sequence."""

    name: str
    title: str
    kind: Literal["classification", "regression"]
    features: int
    outputs: int  # classes, or 1 for regression
    classes: tuple[str, ...]  # class names ("" for regression)
    generate: Callable[[int, int, torch.Generator], Batch]  # (N, batch size, generator) → Batch
    tokens: Callable[
        [torch.Tensor], list[str]
    ]  # one sequence's inputs [time, features] → display tokens

    def sequence_length(self, n: int) -> int:
        return int(self.generate(n, 1, torch.Generator().manual_seed(0)).inputs.shape[1])


def _one_hot(indices: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(indices, size).to(torch.float32)


def first_symbol(n: int, batch: int, generator: torch.Generator) -> Batch:
    """[symbol, N distractors, ?] → the symbol."""
    symbol = torch.randint(len(SYMBOLS), (batch,), generator=generator)
    distractors = torch.randint(len(DISTRACTORS), (batch, n), generator=generator) + len(SYMBOLS)
    query = torch.full((batch, 1), len(FIRST_SYMBOL_VOCABULARY) - 1)
    indices = torch.cat([symbol.unsqueeze(1), distractors, query], dim=1)
    return Batch(_one_hot(indices, len(FIRST_SYMBOL_VOCABULARY)), symbol)


def is_balanced(brackets: str) -> bool:
    """True when the running depth never goes below 0 and ends at 0."""
    depth = 0
    for ch in brackets:
        depth += 1 if ch == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def _balanced_string(length: int, generator: torch.Generator) -> list[int]:
    """A random balanced string of even `length` as 0 = "(", 1 = ")": a random walk that stays ≥ 0 and ends at 0."""
    out, depth = [], 0
    coins = torch.rand(length, generator=generator).tolist()
    for position in range(length):
        remaining = length - position
        must_close = depth == remaining
        may_close = depth > 0
        close = must_close or (may_close and coins[position] < 0.5)
        out.append(1 if close else 0)
        depth += -1 if close else 1
    return out


def brackets(n: int, batch: int, generator: torch.Generator) -> Batch:
    """N brackets → balanced (1) or not (0); unbalanced strings keep equal counts of "(" and ")"."""
    length = max(2, n + n % 2)
    rows, labels = [], []
    for k in range(batch):
        sequence = _balanced_string(length, generator)
        if k % 2:  # shuffle until unbalanced: same counts, but the depth dips below zero somewhere
            while is_balanced("".join(BRACKETS[i] for i in sequence)):
                sequence = [
                    sequence[i] for i in torch.randperm(length, generator=generator).tolist()
                ]
        rows.append(sequence)
        labels.append(1 - k % 2)
    order = torch.randperm(batch, generator=generator)
    indices = torch.tensor(rows)[order]
    return Batch(_one_hot(indices, 2), torch.tensor(labels)[order])


def adding(n: int, batch: int, generator: torch.Generator) -> Batch:
    """N (value, marker) pairs, one marker in each half → the sum of the two marked values."""
    n = max(2, n)
    values = torch.rand((batch, n), generator=generator)
    half = n // 2
    first = torch.randint(half, (batch,), generator=generator)
    second = torch.randint(n - half, (batch,), generator=generator) + half
    markers = torch.zeros(batch, n)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return Batch(torch.stack([values, markers], dim=-1), targets)


def _symbol_tokens(vocabulary: tuple[str, ...]) -> Callable[[torch.Tensor], list[str]]:
    return lambda inputs: [vocabulary[int(i)] for i in inputs.argmax(dim=-1)]


def _adding_tokens(inputs: torch.Tensor) -> list[str]:
    return [f"{'*' if float(m) > 0 else ''}{float(v):.2f}" for v, m in inputs.tolist()]


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "first_symbol",
            "remember the first symbol after N distractors",
            "classification",
            len(FIRST_SYMBOL_VOCABULARY),
            len(SYMBOLS),
            SYMBOLS,
            first_symbol,
            _symbol_tokens(FIRST_SYMBOL_VOCABULARY),
        ),
        Task(
            "brackets",
            "are N brackets balanced?",
            "classification",
            2,
            2,
            ("unbalanced", "balanced"),
            brackets,
            _symbol_tokens(BRACKETS),
        ),
        Task(
            "adding",
            "adding problem: sum of the two marked values among N",
            "regression",
            2,
            1,
            ("",),
            adding,
            _adding_tokens,
        ),
    )
}
