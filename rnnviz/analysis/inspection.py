"""One call from a text to everything the views show: tokens, Trace and per-step predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnviz.analysis.cost import TOP_NEXT_TOKENS, Limits, RunPlan, model_size, plan_run
from rnnviz.analysis.predict import class_probabilities_per_step, next_token_probabilities
from rnnviz.core.capture import capture
from rnnviz.core.quantities import Notation
from rnnviz.core.trace import RecordedCall, Trace
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel
from rnnviz.models.custom import CustomModel, probe_call
from rnnviz.models.tokenizers import Encoding

# Longest text inspected at once. Beyond it the CLI refuses and the app truncates with a
# notice: heatmaps of thousands of columns are unreadable and the trace grows with length.
MAX_TEXT_CHARACTERS = 2000
# A bidirectional classifier's prefixes run in batches of about this many padded tokens: memory
# stays bounded (a 1,000-word text in one batch of 1,000 prefixes peaked at 3.2 GB, issue 21).
PREFIX_BATCH_TOKENS = 32768
RECURRENT_PATH = "rnn"  # the recurrent submodule of every bundled model


@dataclass(frozen=True)
class TextRun:
    """A text as the model saw it: tokens, every recorded state and gate, the per-step predictions."""

    model: str
    task: str  # "classifier", "language_model", or "custom" (a model from a Python entry point)
    text: str  # the text that was run (after truncation)
    encoding: Encoding
    trace: Trace
    predictions: (
        np.ndarray | None
    )  # after each token: [time, classes] / [time, vocabulary]; None if a custom model gives none
    prediction_labels: tuple[
        str, ...
    ]  # class labels, or the vocabulary (what the predictions' columns mean)
    truncated: bool = False
    recurrent_path: str = RECURRENT_PATH  # the recurrent submodule the views show
    # The vocabulary ids of the predictions' columns when a language model's whole vocabulary did
    # not fit (increasing; prediction_labels name them); None: every outcome is a column.
    prediction_ids: np.ndarray | None = None
    # A bidirectional classifier's predictions computed after the first `prefixes` tokens and the
    # whole text only (the rows between are NaN); None: after every token.
    prefixes: int | None = None
    notices: tuple[str, ...] = ()  # what was cut to stay within the run's limits, and why

    @property
    def tokens(self) -> list[str]:
        return self.encoding.tokens

    @property
    def recurrent_call(self) -> RecordedCall:
        """The recorded call of the recurrent module the views show."""
        return self.trace.call(self.recurrent_path)

    def states(self, layer: int, direction: str, quantity: str) -> np.ndarray:
        """[time, units] values of one quantity for this (single) text."""
        return self.trace[self.recurrent_call.name(layer, direction, quantity)][0].numpy()

    def prediction_columns(self, token_ids) -> np.ndarray:
        """The predictions' columns of vocabulary entries `token_ids` (a language model's)."""
        token_ids = np.asarray(token_ids, dtype=np.int64)
        if self.prediction_ids is None:
            return token_ids
        return np.searchsorted(self.prediction_ids, token_ids)

    def top_outcomes(self, step: int, k: int = 5) -> list[tuple[str, float]]:
        """The k most probable classes / next tokens after token `step`."""
        row = self.predictions[step]
        best = np.argsort(-row, kind="stable")[:k]
        return [(self.prediction_labels[i], float(row[i])) for i in best]


def prepare_text(
    text: str, max_characters: int = MAX_TEXT_CHARACTERS, truncate: bool = False
) -> tuple[str, bool]:
    """The text to run and whether it was cut; refuses empty text and, unless truncating, overlong text."""
    if not text or not text.strip():
        raise RnnvizError("the text is empty: type at least one word")
    if len(text) <= max_characters:
        return text, False
    if not truncate:
        raise RnnvizError(f"the text has {len(text)} characters; the limit is {max_characters}")
    return text[:max_characters], True


def inspect_text(
    loaded: LoadedModel | CustomModel,
    text: str,
    max_characters: int = MAX_TEXT_CHARACTERS,
    truncate: bool = False,
    limits: Limits | None = None,
) -> TextRun:
    """Tokenize `text`, run the model inside `capture`, and compute the per-step predictions.

    With `limits`, the run's cost is planned from its token count first (rnnviz.analysis.cost):
    what would not fit is cut (the run's `notices` say what) or refused with an RnnvizError."""
    text, truncated = prepare_text(text, max_characters, truncate)
    if isinstance(loaded, CustomModel):
        return _inspect_custom(loaded, text, truncated, limits)
    module = loaded.module
    encoding = loaded.encode(text)
    plan = _plan(module, module.rnn, loaded.config.task, _outputs(loaded), encoding, limits)
    prediction_ids = None
    if loaded.config.task == "classifier":
        _, trace, _ = _captured_forward(lambda _: encoding, module, module, text)
        per_step = class_probabilities_per_step(
            loaded, encoding.ids, plan and plan.prefixes, PREFIX_BATCH_TOKENS
        )
        outcomes = tuple(loaded.config.labels)
    else:  # the language model's head reads the last layer's outputs a block of rows at a time
        _, trace, outputs = _captured_forward(
            lambda _: encoding, module, lambda ids: module.rnn(module.embedding(ids))[0], text
        )
        keep_top = TOP_NEXT_TOKENS if plan and plan.prediction_columns else None
        per_step, prediction_ids = next_token_probabilities(
            module.head,
            outputs[0],
            keep_top,
            always=encoding.ids,
            max_columns=plan and plan.prediction_columns,
        )
        itos = loaded.tokenizer.itos
        outcomes = tuple(itos) if prediction_ids is None else tuple(itos[i] for i in prediction_ids)
    return TextRun(
        model=loaded.name,
        task=loaded.config.task,
        text=text,
        encoding=encoding,
        trace=trace,
        predictions=per_step,
        prediction_labels=outcomes,
        truncated=truncated,
        prediction_ids=prediction_ids,
        prefixes=plan.prefixes if plan and (plan.prefixes or 0) < len(encoding.ids) else None,
        notices=plan.notices if plan else (),
    )


def estimated_seconds(loaded: LoadedModel | CustomModel, text: str, limits: Limits) -> float:
    """About how long `inspect_text(loaded, text, truncate=True, limits=limits)` will take (0: it
    will be refused, or the text has no tokens)."""
    text, _ = prepare_text(text, truncate=True)
    encoding = loaded.encode(text)
    if isinstance(loaded, CustomModel):
        shape = (loaded.module, probe_call(loaded), "custom", len(loaded.outcomes))
    else:
        shape = (loaded.module, loaded.module.rnn, loaded.config.task, _outputs(loaded))
    try:
        plan = _plan(*shape, encoding, limits)
    except RnnvizError:
        return 0.0
    return plan.seconds if plan else 0.0


def _outputs(loaded: LoadedModel) -> int:
    return (
        len(loaded.config.labels)
        if loaded.config.task == "classifier"
        else loaded.config.vocab_size
    )


def _plan(module, recurrent, task: str, outputs: int, encoding: Encoding, limits) -> RunPlan | None:
    """The run's plan within `limits` (None: no limits), refused before any work if it cannot fit."""
    if limits is None or not encoding.ids:
        return None
    return plan_run(model_size(module, recurrent, task, outputs), len(encoding.ids), limits)


def _captured_forward(encode, module, forward, text: str):
    """(encoding, trace, output): `text` tokenized by `encode`, its ids run through `forward` inside
    `capture(module)`."""
    encoding = encode(text)
    if not encoding.ids:
        raise RnnvizError("the text has no tokens the model can read")
    with torch.no_grad(), capture(module) as trace:
        output = forward(torch.tensor([encoding.ids], dtype=torch.int64))
    return encoding, trace, output


def _inspect_custom(
    model: CustomModel, text: str, truncated: bool, limits: Limits | None
) -> TextRun:
    encoding = model.encode(text)
    plan = _plan(model.module, probe_call(model), "custom", len(model.outcomes), encoding, limits)
    _, trace, output = _captured_forward(lambda _: encoding, model.module, model.forward, text)
    if not trace.calls:
        raise RnnvizError(f"{model.name}: the forward pass called none of its recurrent modules")
    per_step = None
    if model.per_step is not None:
        per_step = np.asarray(model.per_step(output), dtype=np.float32)
        if per_step.shape != (len(encoding.ids), len(model.outcomes)):
            raise RnnvizError(
                f"{model.name}: per_step gave shape {per_step.shape}, "
                f"expected (tokens, outcomes) = ({len(encoding.ids)}, {len(model.outcomes)})"
            )
    return TextRun(
        model=model.name,
        task="custom",
        text=text,
        encoding=encoding,
        trace=trace,
        predictions=per_step,
        prediction_labels=model.outcomes,
        truncated=truncated,
        recurrent_path=model.recurrent_path or trace.calls[0].path,
        notices=plan.notices if plan else (),
    )


def unit_contributions(loaded: LoadedModel, run: TextRun) -> np.ndarray:
    """Each unit's contribution w·h_T (or w·mean / max of h) to the predicted class's logit (classifiers)."""
    record = run.recurrent_call
    outputs = np.concatenate(
        [run.states(record.num_layers - 1, d, "hidden") for d in record.directions], axis=1
    )
    state = loaded.module.pooled(torch.from_numpy(outputs).unsqueeze(0))[
        0
    ].numpy()  # what the head reads
    predicted = int(run.predictions[-1].argmax())
    weight = loaded.module.head.weight.detach().numpy()[predicted]
    return weight * state


class NotatedRun:
    """A `TextRun` whose `states` are written in a notation (the textbook GRU's z = 1 − PyTorch's z);
    everything else is the run's own. The views draw it; analyses (edits, retention) read the run."""

    def __init__(self, run: TextRun, notation: Notation):
        self.run = run
        self.notation = notation

    def __getattr__(self, name: str):
        return getattr(self.run, name)

    def states(self, layer: int, direction: str, quantity: str) -> np.ndarray:
        return self.notation.shown(quantity, self.run.states(layer, direction, quantity))
