"""The same architecture with fresh weights: what a model shows before training, for comparison."""

from __future__ import annotations

import dataclasses

import torch

from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel, build_module


def untrained_copy(loaded: LoadedModel, seed: int = 0) -> LoadedModel:
    """`loaded`'s architecture and tokenizer, PyTorch's default initialisation drawn from `seed`.

    The same seed gives the same weights; the global random state is left as it was.
    """
    if not isinstance(loaded, LoadedModel):
        raise RnnvizError(
            "an untrained copy needs a model in the bundled format (a config to rebuild it from)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RnnvizError(f"the seed must be a non-negative integer, got {seed!r}")
    config = dataclasses.replace(
        loaded.config,
        name=f"{loaded.config.name} (untrained, seed {seed})",
        description=f"{loaded.config.name}'s architecture, freshly initialised (seed {seed})",
        metrics={},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build_module(config)
    return LoadedModel(config=config, tokenizer=loaded.tokenizer, module=module.eval(), folder=None)
