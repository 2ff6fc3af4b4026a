"""Any PyTorch model with recurrent submodules, opened in the app through a Python entry point.

`rnnviz app --model my_package.my_module:build_model` imports `build_model` and calls it with
no arguments. It returns either an `rnnviz.LoadedModel` (the bundled format) or a
`CustomModel`: the nn.Module plus how its text is tokenized (and, optionally, how to run it
and what it predicts after each token). The capture engine records every nn.RNN / nn.LSTM /
nn.GRU inside; the first one the forward pass calls is the one the views show, unless
`recurrent_path` names another.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from rnnviz.core.cells import RECURRENT_MODULES
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel
from rnnviz.models.tokenizers import Encoding


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
    if not any(isinstance(m, RECURRENT_MODULES) for m in model.module.modules()):
        raise RnnvizError(
            f"{spec}: the model has no nn.RNN, nn.LSTM or nn.GRU inside, so there is nothing to show"
        )
    model.module.eval()
    return model


def first_recurrent(module: nn.Module) -> nn.Module:
    """The first recurrent submodule in definition order (its shape bounds the view's choices)."""
    for submodule in module.modules():
        if isinstance(submodule, RECURRENT_MODULES):
            return submodule
    raise RnnvizError("the model has no nn.RNN, nn.LSTM or nn.GRU inside")
