"""Any PyTorch model with recurrent submodules, opened in the app through a Python entry point.

`rnnviz app --model my_package.my_module:build_model` imports `build_model` and calls it with
no arguments. It returns either an `rnnviz.LoadedModel` (the bundled format) or a
`CustomModel`: the nn.Module plus how its text is tokenized (and, optionally, how to run it
and what it predicts after each token). The capture engine records every nn.RNN / nn.LSTM /
nn.GRU inside, and nn.*Cells called in a loop and hand-written cells with rnnviz.HookPoint
(rnnviz.core.cell_loops); the first one the forward pass calls is the one the views show, unless
`recurrent_path` names another.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from rnnviz.core.capture import capture
from rnnviz.core.cell_loops import CELL_TYPES, HookPoint
from rnnviz.core.trace import RecordedCall
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel
from rnnviz.models.tokenizers import Encoding

RECORDED_TYPES = (nn.RNN, nn.LSTM, nn.GRU, *CELL_TYPES, HookPoint)  # what capture records


@dataclass(frozen=True)
class CustomModel:
    """A model of your own: the module, its tokenization, and optionally its per-step predictions."""

    module: nn.Module
    encode: Callable[[str], Encoding]  # text → tokens (display strings), ids, unknown flags
    name: str = "custom"
    description: str = "a model from a Python entry point"
    run: Callable[[nn.Module, torch.Tensor], object] | None = (
        None  # default: module(ids of shape [1, time])
    )
    per_step: Callable[[object], np.ndarray] | None = (
        None  # the run's output → [time, outcomes] probabilities
    )
    outcomes: tuple[str, ...] = ()  # what per_step's columns mean (class names, vocabulary)
    recurrent_path: str | None = (
        None  # which recurrent submodule the views show (default: the first called)
    )

    def forward(self, ids: torch.Tensor) -> object:
        return self.run(self.module, ids) if self.run is not None else self.module(ids)


def load_entry_point(spec: str) -> LoadedModel | CustomModel:
    """Import `package.module:function`, call it, and check what it returned."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise RnnvizError(f"an entry point reads 'package.module:function', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except ImportError as error:
        raise RnnvizError(
            f"cannot import {module_name!r} for entry point {spec!r}: {error}"
        ) from None
    except AttributeError:
        raise RnnvizError(
            f"module {module_name!r} has no {function_name!r} (entry point {spec!r})"
        ) from None
    model = factory()
    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, CustomModel):
        raise RnnvizError(
            f"{spec} returned {type(model).__name__}; return an rnnviz.CustomModel or an rnnviz.LoadedModel"
        )
    if not any(isinstance(m, RECORDED_TYPES) for m in model.module.modules()):
        raise RnnvizError(
            f"{spec}: the model has no nn.RNN, nn.LSTM or nn.GRU, no nn.*Cell and no "
            "rnnviz.HookPoint inside, so there is nothing to show"
        )
    model.module.eval()
    return model


def probe_call(model: CustomModel) -> RecordedCall:
    """The recorded call the views show, from one run on a three-token probe (its layers, directions
    and units bound the view's choices; a hand-written cell's sizes are known only once it runs)."""
    with torch.no_grad(), capture(model.module) as trace:
        model.forward(torch.zeros(1, 3, dtype=torch.int64))
    if not trace.calls:
        raise RnnvizError(f"{model.name}: the forward pass called none of its recurrent modules")
    if model.recurrent_path is None:
        return trace.calls[0]
    try:
        return trace.call(model.recurrent_path)
    except KeyError as error:
        raise RnnvizError(f"{model.name}: {error.args[0]}") from None
