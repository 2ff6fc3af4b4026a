"""What an edit does to a bundled model's prediction, and which units matter at a token.

- `edit_effect`: a text's prediction after every token with and without a list of `Edit`s, and
  how every recorded quantity changed (edited − original).
- `rank_units_by_ablation`: for each unit of a quantity, the change of the final prediction when
  that unit alone is ablated (set to a value, 0 by default) at a chosen token; all units run as
  one batch, each row editing its own unit.
- `rank_units_by_change`: the cheaper ranking by how much each unit's value moved at that token,
  |q_t − q_{t−1}| (no rerun); `held_at_previous` gives the edits that undo that move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from rnnviz.analysis.inspection import TextRun
from rnnviz.analysis.predict import class_probabilities_per_step, next_token_probabilities
from rnnviz.core.capture import capture
from rnnviz.core.edits import Edit
from rnnviz.core.trace import Trace
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel

# Rows × tokens × units of one batch of ablation reruns: bounds the memory of long texts (an LM's
# 2,000 characters), whose reruns then go in several batches.
_ABLATION_BATCH_CELLS = 2**25


@dataclass(frozen=True)
class EditEffect:
    """A text's per-token prediction with and without edits, and the change of every quantity."""

    model: str
    tokens: tuple[str, ...]
    outcomes: tuple[str, ...]  # class labels, or the LM's vocabulary
    edits: tuple[Edit, ...]  # as applied: steps written as explicit token positions
    before: np.ndarray  # [time, outcomes]: the prediction after each token, unedited
    after: np.ndarray  # [time, outcomes]: the same, edited
    differences: dict[str, np.ndarray]  # recorded name → [time, units]: edited − original value
    edited: Trace  # every quantity as the edited model used it

    @property
    def final_change(self) -> np.ndarray:
        """[outcomes]: how the prediction after the last token moved."""
        return self.after[-1] - self.before[-1]

    @property
    def label_before(self) -> str:
        return self.outcomes[int(self.before[-1].argmax())]

    @property
    def label_after(self) -> str:
        return self.outcomes[int(self.after[-1].argmax())]


def edit_effect(loaded: LoadedModel, run: TextRun, edits: Sequence[Edit]) -> EditEffect:
    """Rerun `run`'s text with `edits` in the recurrence; `run` (inspect_text) is the unedited side.

    Negative or sliced steps are fixed as token positions of the whole text first, so that a
    bidirectional classifier's prefixes (its prediction after token t) see the edit at the same
    tokens.
    """
    if not isinstance(loaded, LoadedModel):
        raise RnnvizError("edits need a model in the bundled format (embedding → rnn → head)")
    steps = len(run.tokens)
    edits = tuple(edit.at_positions(steps) for edit in edits)
    for edit in edits:
        if edit.batch not in (None, (0,)):
            raise RnnvizError(f"edit of {edit.name}: one text has one sequence; leave batch unset")
    edits = tuple(Edit(e.name, e.units, e.steps, e.value, e.scale) for e in edits)
    edited, after = _edited_run(loaded, run.encoding.ids, edits, run.prediction_ids)
    differences = {}
    for name in edited.names():
        if name in run.trace:
            differences[name] = (edited[name][0] - run.trace[name][0]).numpy()
    return EditEffect(
        model=loaded.name,
        tokens=tuple(run.tokens),
        outcomes=run.prediction_labels,
        edits=edits,
        before=run.predictions,
        after=after,
        differences=differences,
        edited=edited,
    )


def _edited_run(
    loaded: LoadedModel,
    ids: Sequence[int],
    edits: tuple[Edit, ...],
    prediction_ids: np.ndarray | None = None,
) -> tuple[Trace, np.ndarray]:
    """(trace, per-token prediction) of the edited model on one text; a language model's predictions
    cover the vocabulary entries `prediction_ids` (None: all), as the unedited run's do."""
    module = loaded.module
    x = torch.tensor([list(ids)], dtype=torch.int64)
    with torch.no_grad():
        if loaded.config.task == "language_model":
            with capture(module, edits=edits) as trace:
                outputs = module.rnn(module.embedding(x))[0]
            return trace, next_token_probabilities(module.head, outputs[0], columns=prediction_ids)[
                0
            ]
        # class_probabilities_per_step makes one call of the recurrent module: the text itself
        # (unidirectional), or the batch of its prefixes (bidirectional), which edits also reach.
        if not loaded.config.bidirectional:
            with capture(module, edits=edits) as trace:
                per_step = class_probabilities_per_step(loaded, ids)
            return trace, per_step
        with capture(module, edits=edits, only=()):
            per_step = class_probabilities_per_step(loaded, ids)
        with capture(module, edits=edits) as trace:
            module(x)
        return trace, per_step


@dataclass(frozen=True)
class UnitRanking:
    """Units of one quantity ranked by an effect measured at one token."""

    name: str  # the quantity ("rnn.layer0.forward.cell")
    step: int  # the token position
    measure: str  # what the scores are, in words
    scores: np.ndarray  # [units], signed, in unit order
    order: np.ndarray  # unit indices, largest |score| first

    def top(self, k: int) -> list[tuple[int, float]]:
        """The k units with the largest |score|, with their scores."""
        return [(int(u), float(self.scores[u])) for u in self.order[:k]]


def rank_units_by_ablation(
    loaded: LoadedModel,
    run: TextRun,
    name: str,
    step: int,
    value: float = 0.0,
    until_end: bool = False,
    at: int | None = None,
) -> UnitRanking:
    """Each unit's effect on the prediction when it alone is set to `value` at token `step`
    (through the last token read with `until_end`): Δ p(the unedited prediction) after the last
    token — or, for a language model, after token `at` (default: the last), the text being read
    only that far."""
    module = loaded.module
    ids = list(run.encoding.ids)
    step = _position(step, len(ids))
    if at is not None:
        if loaded.config.task != "language_model":
            raise RnnvizError(
                "at= applies to language models; a classifier predicts after the whole text"
            )
        at = _position(at, len(ids))
        if at < step:
            raise RnnvizError(
                f"the prediction after token {at} comes before the edited token {step}"
            )
        ids = ids[: at + 1]
    steps = len(ids)
    units = _recorded(run, name).shape[-1]
    x = torch.tensor([ids], dtype=torch.int64)
    edited_steps = slice(step, None) if until_end else step
    with torch.no_grad():
        with capture(module, edits=[Edit(name, steps=edited_steps, scale=1.0)], only=()):
            baseline = _final_probabilities(loaded, module(x))[0]
        chosen = int(baseline.argmax())
        rows = max(1, _ABLATION_BATCH_CELLS // (steps * units * 8))
        scores = np.empty(units, dtype=np.float64)
        for first in range(0, units, rows):
            chunk = range(first, min(first + rows, units))
            edits = [
                Edit(name, units=u, steps=edited_steps, value=value, batch=row)
                for row, u in enumerate(chunk)
            ]
            with capture(module, edits=edits, only=()):
                probabilities = _final_probabilities(loaded, module(x.expand(len(chunk), -1)))
            scores[first : first + len(chunk)] = (
                probabilities[:, chosen] - baseline[chosen]
            ).numpy()
    span = f"tokens {step}..{steps - 1}" if until_end else f"token {step}"
    measure = (
        f"Δ p({run.prediction_labels[chosen]!r}) after token {steps - 1} when the unit is set to {value:g} "
        f"at {span}"
    )
    return UnitRanking(name, step, measure, scores, np.argsort(-np.abs(scores), kind="stable"))


def _position(step: int, steps: int) -> int:
    if (
        isinstance(step, bool)
        or not isinstance(step, (int, np.integer))
        or not -steps <= step < steps
    ):
        raise RnnvizError(f"step {step!r} outside the text (positions 0..{steps - 1})")
    return int(step) % steps


def rank_units_by_change(run: TextRun, name: str, step: int) -> UnitRanking:
    """Each unit's change at token `step`: q_step − q_previous (the previous token in the
    direction's reading order; the zero initial state before the first one), ranked by size."""
    values = _recorded(run, name)[0].double()
    steps = values.shape[0]
    step = _position(step, steps)
    backward = ".backward." in name
    previous_step = step + 1 if backward else step - 1
    previous = (
        values[previous_step] if 0 <= previous_step < steps else torch.zeros_like(values[step])
    )
    scores = (values[step] - previous).numpy()
    neighbour = "next" if backward else "previous"
    measure = f"change of {name.rsplit('.', 1)[-1]} at token {step} from the {neighbour} one"
    return UnitRanking(name, step, measure, scores, np.argsort(-np.abs(scores), kind="stable"))


def held_at_previous(run: TextRun, name: str, units: Sequence[int], step: int) -> list[Edit]:
    """Edits that hold `units` of `name` at token `step` at their value from the token before it
    (in the direction's reading order; the zero initial state before the first): that token no
    longer moves them."""
    values = _recorded(run, name)[0]
    step = _position(step, values.shape[0])
    steps = values.shape[0]
    previous_step = step + 1 if ".backward." in name else step - 1
    inside = 0 <= previous_step < steps
    return [
        Edit(
            name, units=int(u), steps=step, value=float(values[previous_step, u]) if inside else 0.0
        )
        for u in units
    ]


def _recorded(run: TextRun, name: str) -> torch.Tensor:
    try:
        return run.trace[name]
    except KeyError as error:
        raise RnnvizError(str(error.args[0])) from None


def _final_probabilities(loaded: LoadedModel, output: torch.Tensor) -> torch.Tensor:
    """[batch, outcomes]: the prediction after the whole text (a class, or the LM's next token)."""
    logits = output if loaded.config.task == "classifier" else output[:, -1]
    return torch.softmax(logits.double(), dim=-1)
