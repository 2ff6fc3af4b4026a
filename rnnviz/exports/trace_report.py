"""Text and JSON renderings of a `TextRun` for the command line (`rnnviz trace`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnviz.analysis.inspection import TextRun, unit_contributions
from rnnviz.models.architectures import LoadedModel


def _prediction(run: TextRun, step: int, k: int) -> dict[str, Any]:
    if run.task == "classifier":
        probabilities = {
            label: float(p) for label, p in zip(run.prediction_labels, run.predictions[step])
        }
        return {"label": max(probabilities, key=probabilities.get), "probabilities": probabilities}
    return {
        "next_token_top_k": [{"token": t, "probability": p} for t, p in run.top_outcomes(step, k)]
    }


def trace_json(run: TextRun, top_k: int = 5) -> dict[str, Any]:
    """The `rnnviz trace --json` object: model, tokens, prediction, per_step, states."""
    steps = len(run.tokens)
    return {
        "model": run.model,
        "task": run.task,
        "tokens": run.tokens,
        "unknown": run.encoding.unknown,
        "prediction": _prediction(run, steps - 1, top_k),
        "per_step": [{"token": run.tokens[t], **_prediction(run, t, top_k)} for t in range(steps)],
        "states": {name: tensor[0].tolist() for name, tensor in run.trace.tensors.items()},
    }


def _marked(run: TextRun) -> str:
    return " ".join(
        f"{t}⟨unk⟩" if unknown else t for t, unknown in zip(run.tokens, run.encoding.unknown)
    )


def trace_summary(loaded: LoadedModel, run: TextRun, top_k: int = 5) -> str:
    """A readable summary: tokens (unknown ones marked), prediction, the units that matter most."""
    record = run.recurrent_call
    lines = [
        f"model   {run.model} ({record.cell_kind}, {record.num_layers} layer(s), "
        f"{'bidirectional' if record.bidirectional else 'forward only'}, {record.hidden_size} units)",
        f"tokens  {_marked(run)}  ({len(run.tokens)} tokens, {run.encoding.num_unknown} unknown)",
    ]
    if run.task == "classifier":
        prediction = _prediction(run, len(run.tokens) - 1, top_k)
        shown = ", ".join(f"{label} {p:.3f}" for label, p in prediction["probabilities"].items())
        lines.append(f"predict {prediction['label']}  ({shown})")
        curve = " → ".join(
            f"{t}:{run.predictions[i].max():.2f}{run.prediction_labels[run.predictions[i].argmax()][:3]}"
            for i, t in enumerate(run.tokens)
        )
        lines.append(f"per step {curve}")
        contributions = unit_contributions(loaded, run)
        head_input = (
            "final state"
            if loaded.config.pooling == "last"
            else f"{loaded.config.pooling} of the outputs"
        )
        best = np.argsort(-np.abs(contributions))[:top_k]
        width = record.hidden_size
        units = ", ".join(
            f"{'b' if u >= width else 'f'}{u % width} ({contributions[u]:+.2f})" for u in best
        )
        lines.append(
            f"units   largest contributions to '{prediction['label']}' ({head_input} · head weight): {units}"
        )
    else:
        shown = ", ".join(f"{t!r} {p:.3f}" for t, p in run.top_outcomes(len(run.tokens) - 1, top_k))
        lines.append(f"next    {shown}")
        last = record.num_layers - 1
        hidden = run.states(last, "forward", "hidden")
        best = np.argsort(-np.abs(hidden[-1]))[:top_k]
        units = ", ".join(f"{u} ({hidden[-1, u]:+.2f})" for u in best)
        lines.append(f"units   largest |h| of layer {last} at the last character: {units}")
    return "\n".join(lines)
