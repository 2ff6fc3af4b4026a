"""The one training loop, shared by ``rnnviz train`` (rnnviz.training.classifier and .language_model)
and the in-page lab (rnnviz.training.lab_run).

A run is a stream of batches and a loss. The loop takes one optimiser step per batch (learning rate
from a schedule, gradients clipped) and, after the steps a caller marks, calls its checkpoint, which
may end the run (early stopping, a target accuracy reached). It also ends at ``max_steps``, when the
batches run out, at a stop request or when a time budget is used. What a checkpoint measures, and
what is kept of it, is the caller's: :class:`KeepBest` keeps the best weights and counts evaluations
without improvement for early stopping.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal

import numpy as np
import torch
from torch import nn


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (dropout and word dropout draw from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cosine_lr(step: int, total: int, lr: float, min_lr: float) -> float:
    """Cosine decay from ``lr`` at step 0 to ``min_lr`` at ``total``."""
    if total <= 1:
        return lr
    t = min(step, total) / total
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the module's weights as they are now (training goes on changing them)."""
    return {k: v.clone() for k, v in module.state_dict().items()}


def average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts, computed in float32, stored in the first one's dtypes."""
    return {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype)
        for k in states[0]
    }


EndReason = Literal["steps", "data", "stopped", "time", "checkpoint"]


@dataclass(frozen=True)
class LoopEnd:
    """How a run ended: after how many optimiser steps, and why — ``max_steps`` taken ("steps"), the
    batches ran out ("data"), a stop request ("stopped"), the time budget used ("time"), or a
    checkpoint ended it ("checkpoint": early stopping, a target reached)."""

    steps: int
    reason: EndReason


def train_loop(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Any],
    loss_of: Callable[[Any], torch.Tensor],
    *,
    max_steps: int | None = None,
    clip: float = 0.0,
    learning_rate: Callable[[int], float] | None = None,
    checkpoint_after: Callable[[int], bool] = lambda step: False,
    checkpoint: Callable[[int], bool] | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    stop: threading.Event | None = None,
    time_budget_s: float | None = None,
    started: float | None = None,
) -> LoopEnd:
    """Train ``module`` on ``batches`` with ``optimizer`` until one of the ends in :class:`LoopEnd`.

    Before step k (0-based) the learning rate is set to ``learning_rate(k)``; ``loss_of(batch)`` is
    minimised, gradients clipped to norm ``clip`` (0: not clipped); then ``on_step(steps taken, loss)``.
    ``checkpoint(steps taken)`` runs after every step where ``checkpoint_after`` holds, after the last
    of ``max_steps`` and when the time budget (counted from ``started``, a ``time.perf_counter()``
    value, by default now) is used; it returns True to end the run. A stop request is honoured before
    each step, so a run stopped before it began takes none.
    """
    start = time.perf_counter() if started is None else started
    module.train()
    stream = iter(batches)
    step = 0
    while True:
        if max_steps is not None and step >= max_steps:
            return LoopEnd(step, "steps")
        if stop is not None and stop.is_set():
            return LoopEnd(step, "stopped")
        batch = next(stream, _END)
        if batch is _END:
            return LoopEnd(step, "data")
        if learning_rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
        loss = loss_of(batch)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimizer.step()
        step += 1
        if on_step is not None:
            on_step(step, loss)
        out_of_time = time_budget_s is not None and time.perf_counter() - start >= time_budget_s
        if checkpoint is not None and (checkpoint_after(step) or out_of_time or step == max_steps):
            if checkpoint(step):
                return LoopEnd(step, "checkpoint")
        if out_of_time:
            return LoopEnd(step, "time")


_END = object()


class KeepBest:
    """Early stopping on a validation score: the weights of the best score so far, where they were
    reached, and how many evaluations in a row did not improve on it.

    With ``candidates`` > 0 it also keeps the weights of that many best evaluations, best first (for
    a greedy checkpoint soup, rnnviz.training.classifier.greedy_soup)."""

    def __init__(self, patience: int, higher_is_better: bool, candidates: int = 0):
        self.patience = patience
        self.higher_is_better = higher_is_better
        self.score = -math.inf if higher_is_better else math.inf
        self.weights: dict[str, torch.Tensor] | None = None
        self.at: float = 0
        self.bad = 0
        self.keep_candidates = candidates
        self.candidates: list[
            tuple[float, float, dict[str, torch.Tensor]]
        ] = []  # (score, at, weights)

    def update(self, module: nn.Module, score: float, at: float) -> bool:
        """Record an evaluation of ``module`` at ``at`` (an epoch or a step); True once ``patience``
        evaluations in a row have not improved on the best."""
        better = score > self.score if self.higher_is_better else score < self.score
        weights = snapshot(module) if self.keep_candidates or better else None
        if self.keep_candidates:
            self.candidates.append((score, at, weights))
            # stable: among equal scores the earlier one first
            self.candidates.sort(key=lambda c: -c[0] if self.higher_is_better else c[0])
            del self.candidates[self.keep_candidates :]
        if better:
            self.score, self.weights, self.at, self.bad = score, weights, at, 0
            return False
        self.bad += 1
        return self.bad >= self.patience
