"""What a run will cost before it runs, and what a result holds once it has run.

A run's memory is its recorded states (layers × directions × quantities × tokens × units float32)
plus its per-step predictions (tokens × outputs: a language model's whole vocabulary after every
token); its time grows with parameters × tokens, and a bidirectional classifier's per-token
predictions run every prefix (tokens² / 2 tokens in all). `plan_run` checks both against limits and
says what it keeps when they would be exceeded: the top next tokens instead of the whole vocabulary,
the prefixes up to a length, or a refusal. tests/test_budget.py holds the estimates to the measured
bytes of real runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnnviz.core.capture import cell_kind
from rnnviz.core.quantities import QUANTITIES_BY_CELL, cell_kind_of
from rnnviz.core.trace import RecordedCall
from rnnviz.errors import RnnvizError

FLOAT_BYTES = 4
# Multiply-adds per second on one CPU thread (the app sets one intra-op thread): a batch-1 forward,
# and a batch of prefixes; about half what runs of the bundled models measured on a busy 2-core
# machine, so that estimates err towards too slow.
MULTIPLY_ADDS_PER_SECOND = 5e9
PREFIX_MULTIPLY_ADDS_PER_SECOND = 1e10
# Passes over the text per run: the captured forward and the exactness rerun.
PASSES_PER_RUN = 2
TOP_NEXT_TOKENS = 5  # next tokens kept per position when a language model's vocabulary does not fit


@dataclass(frozen=True)
class ModelSize:
    """What a run's cost depends on: the recorded shape, the parameters and the outputs per token."""

    quantities: int  # recorded per layer and direction (an LSTM's six, a GRU's four, an RNN's h)
    num_layers: int
    num_directions: int
    hidden_size: int
    parameters: int
    outputs: int  # classes, or a language model's vocabulary (0: no per-step predictions)
    language_model: bool = False
    per_prefix: bool = (
        False  # a bidirectional classifier: the prediction after token t runs x[:t+1]
    )


@dataclass(frozen=True)
class Limits:
    """What one run may take: bytes kept once it has run, and seconds of work."""

    run_bytes: int
    seconds: float


@dataclass(frozen=True)
class RunPlan:
    """What a run of `tokens` tokens keeps and costs, and what was cut to stay within the limits."""

    tokens: int
    trace_bytes: int
    prediction_bytes: int
    seconds: float
    # None: every output; else at most this many columns: a language model's top tokens
    prediction_columns: int | None = None
    prefixes: int | None = None  # a bidirectional classifier's per-token predictions computed
    notices: tuple[str, ...] = ()

    @property
    def bytes(self) -> int:
        return self.trace_bytes + self.prediction_bytes


def model_size(
    module: nn.Module, recurrent: nn.Module | RecordedCall, task: str, outputs: int
) -> ModelSize:
    """The `ModelSize` of `module` whose shown recurrent module is `recurrent` (a layer module, or
    the recorded call of a cell loop or hand-written cell, whose sizes are known once it ran)."""
    if isinstance(recurrent, RecordedCall):
        quantities = len(recurrent.quantities)
    else:
        quantities = len(QUANTITIES_BY_CELL[cell_kind_of(cell_kind(recurrent))])
    return ModelSize(
        quantities=quantities,
        num_layers=recurrent.num_layers,
        num_directions=2 if recurrent.bidirectional else 1,
        hidden_size=recurrent.hidden_size,
        parameters=_parameters_per_token(module),
        outputs=outputs,
        language_model=task == "language_model",
        per_prefix=task == "classifier" and recurrent.bidirectional,
    )


def _parameters_per_token(module: nn.Module) -> int:
    """The weights a token's pass multiplies by: all but the embedding tables, of which it reads a row."""
    looked_up = {
        id(p) for m in module.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
    }
    return sum(p.numel() for p in module.parameters() if id(p) not in looked_up)


def trace_bytes(size: ModelSize, tokens: int) -> int:
    """Recorded states: one [1, tokens, units] float32 tensor per layer, direction and quantity."""
    per_token = size.quantities * size.num_layers * size.num_directions * size.hidden_size
    return per_token * tokens * FLOAT_BYTES


def run_seconds(size: ModelSize, tokens: int, prefixes: int = 0) -> float:
    """Estimated seconds: each pass reads every parameter once per token; prefix t adds t tokens."""
    prefix_tokens = prefixes * (prefixes + 1) // 2
    return size.parameters * (
        PASSES_PER_RUN * tokens / MULTIPLY_ADDS_PER_SECOND
        + prefix_tokens / PREFIX_MULTIPLY_ADDS_PER_SECOND
    )


def plan_run(size: ModelSize, tokens: int, limits: Limits) -> RunPlan:
    """What a run of `tokens` tokens keeps within `limits`: everything, or a reduction it names.

    Raises RnnvizError when even the recorded states, or one pass over the text, do not fit."""
    states = trace_bytes(size, tokens)
    base_seconds = run_seconds(size, tokens)
    if states > limits.run_bytes:
        fitting = max(limits.run_bytes // max(trace_bytes(size, 1), 1), 1)
        raise RnnvizError(
            f"this model records {_mb(trace_bytes(size, 1))} per token; {tokens} tokens would keep "
            f"{_mb(states)}, more than the {_mb(limits.run_bytes)} one run may hold here: "
            f"try a text of at most {fitting} tokens"
        )
    if base_seconds > limits.seconds:
        fitting = max(int(tokens * limits.seconds / base_seconds), 1)
        raise RnnvizError(
            f"this model has {size.parameters:,} parameters; reading {tokens} tokens would take "
            f"about {base_seconds:.2g} s, more than the {limits.seconds:g} s one run may take here: "
            f"try a text of at most {fitting} tokens"
        )
    room = limits.run_bytes - states
    notices: list[str] = []
    columns, prefixes = None, None
    prediction_bytes = tokens * size.outputs * FLOAT_BYTES
    if prediction_bytes > room:
        # A language model keeps its top tokens of every row and the text's own: how many distinct
        # entries that is shows only once the head has run, so the plan bounds the columns kept
        # (next_token_probabilities refuses a text whose top tokens spread over more).
        fitting_columns = room // (tokens * FLOAT_BYTES)
        if not size.language_model or fitting_columns < TOP_NEXT_TOKENS + 1:
            per_token = FLOAT_BYTES * (TOP_NEXT_TOKENS + 1 if size.language_model else size.outputs)
            fitting = max(min(room // per_token, tokens - 1), 1)
            raise RnnvizError(
                f"the predictions after each of {tokens} tokens ({size.outputs:,} outputs each) would "
                f"not fit in the {_mb(limits.run_bytes)} one run may hold here: try a text of at "
                f"most {fitting} tokens"
            )
        columns = min(fitting_columns, tokens * (TOP_NEXT_TOKENS + 1))
        prediction_bytes = tokens * columns * FLOAT_BYTES
        notices.append(
            f"The whole next-token distribution ({size.outputs:,} entries × {tokens} positions, "
            f"{_mb(tokens * size.outputs * FLOAT_BYTES)}) would not fit in the "
            f"{_mb(limits.run_bytes)} one run may hold; only the {TOP_NEXT_TOKENS} likeliest next "
            "tokens at each position and the text's own next tokens are kept."
        )
    seconds = base_seconds
    if size.per_prefix:
        prefixes = _prefixes_within(size, tokens, limits.seconds - base_seconds)
        seconds = run_seconds(size, tokens, prefixes)
        if prefixes < tokens:
            notices.append(
                f"The prediction after each token runs the model on every prefix ({tokens} prefixes); "
                f"within the {limits.seconds:g} s a run may take here, predictions are computed after "
                f"the first {prefixes} tokens and for the whole text only."
            )
    return RunPlan(
        tokens=tokens,
        trace_bytes=states,
        prediction_bytes=prediction_bytes,
        seconds=seconds,
        prediction_columns=columns,
        prefixes=prefixes,
        notices=tuple(notices),
    )


def _prefixes_within(size: ModelSize, tokens: int, seconds: float) -> int:
    """The most prefixes x[:1] … x[:p] whose runs fit in `seconds` (the whole text is always run)."""
    budget = seconds * PREFIX_MULTIPLY_ADDS_PER_SECOND / max(size.parameters, 1)  # token passes
    fitting = int((np.sqrt(8 * max(budget, 0) + 1) - 1) / 2)  # p (p + 1) / 2 ≤ budget
    return min(tokens, max(fitting, 1))


def held_bytes(value: object) -> int:
    """The bytes of the arrays and tensors `value` holds (through dataclasses, dicts, lists, tuples
    and objects' attributes), each storage counted once: what a cache entry keeps alive."""
    seen: set = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif isinstance(item, np.ndarray):
            while isinstance(item.base, np.ndarray):  # a view: count the array it looks into
                item = item.base
            if ("array", id(item)) not in seen:
                seen.add(("array", id(item)))
                total += item.nbytes
        elif isinstance(item, nn.Module):
            stack.extend(item.state_dict(keep_vars=True).values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            if item and isinstance(next(iter(item)), str):
                continue  # labels and vocabularies: small beside the arrays, slow to walk
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())
    return total


def _mb(count: int) -> str:
    return f"{count / 2**20:,.1f} MB"
