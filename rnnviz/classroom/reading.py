"""A student's sentence as the room's model reads it: the prediction after every token, where it
changed, how much one word moved it, and the final state (a point in the room's state space)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import rnnviz
from rnnviz.analysis.inspection import TextRun, inspect_text
from rnnviz.display import token_display
from rnnviz.errors import RnnvizError
from rnnviz.models.custom import CustomModel, load_entry_point


@dataclass(frozen=True)
class Reading:
    """What the phone shows and the room keeps of one sentence."""

    model: str  # where the model was loaded from (a room's model: a bundled name, folder or entry point)
    tokens: tuple[str, ...]
    labels: tuple[str, ...]  # after each token: the most probable class (an LM: next token)
    probabilities: tuple[float, ...]  # after each token: that label's probability
    final_probabilities: dict[str, float]  # after the last token, every class (LM: the top 5)
    flips: tuple[int, ...]  # tokens after which the most probable label differs from the one before
    surprise: float  # the largest change one token made: max_t ½·Σ|p_t − p_{t−1}| (total variation)
    final_state: np.ndarray  # float32 [units]: the last layer's final h (both directions' ends)

    @property
    def final_label(self) -> str:
        return self.labels[-1]

    @property
    def final_probability(self) -> float:
        return self.probabilities[-1]

    @property
    def flip_token(self) -> int | None:
        """The token that set the final prediction: the last one the prediction changed at."""
        return self.flips[-1] if self.flips else None

    def as_json(self) -> dict:
        """What the phone's page draws (numbers and plain strings; the page writes them as text)."""
        return {
            "model": self.model,
            "tokens": [token_display(t) for t in self.tokens],
            "labels": [token_display(label) for label in self.labels],
            "probabilities": [round(p, 4) for p in self.probabilities],
            "flips": list(self.flips),
            "final": {
                "label": token_display(self.final_label),
                "probability": self.final_probability,
            },
        }


def reading_of(run: TextRun) -> Reading:
    """The reading of a run whose model predicts after every token."""
    if run.predictions is None:
        raise RnnvizError(
            "this model gives no prediction after each token; pick another for the room"
        )
    per_step = np.asarray(run.predictions, dtype=np.float64)  # [time, outcomes]
    best = per_step.argmax(axis=1)
    flips = tuple(int(t) for t in np.flatnonzero(best[1:] != best[:-1]) + 1)
    moves = 0.5 * np.abs(np.diff(per_step, axis=0)).sum(axis=1)  # [time − 1]
    call = run.recurrent_call
    last_layer = call.num_layers - 1
    ends = [run.states(last_layer, "forward", "hidden")[-1]]
    if call.bidirectional:  # the backward direction ends at the first token
        ends.append(run.states(last_layer, "backward", "hidden")[0])
    final = per_step[-1]
    kept = np.argsort(-final, kind="stable")[: min(5, len(final))]
    return Reading(
        model=run.model,
        tokens=tuple(run.tokens),
        labels=tuple(run.prediction_labels[i] for i in best),
        probabilities=tuple(float(per_step[t, i]) for t, i in enumerate(best)),
        final_probabilities={
            token_display(run.prediction_labels[i]): float(final[i]) for i in kept
        },
        flips=flips,
        surprise=float(moves.max()) if len(moves) else 0.0,
        final_state=np.concatenate(ends).astype(np.float32),
    )


@functools.lru_cache(maxsize=8)
def room_model(source: str) -> rnnviz.LoadedModel | CustomModel:
    """The model a room reads with, loaded once per process (a bundled name, a folder, or an entry
    point, as `rnnviz app --model` takes them)."""
    if ":" in source and not Path(source).is_dir():
        return load_entry_point(source)
    return rnnviz.load(source)


def read_sentence(source: str, text: str) -> Reading:
    """`text` (already cut to the room's limit) read by the model at `source`."""
    return replace(reading_of(inspect_text(room_model(source), text)), model=source)
