"""The model card (README.md beside the weights): data hashes, command, seed, time, hyper-parameters,
metrics and the evaluation history of the run that wrote it."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from rnnviz.models.architectures import CARD_FILE, ModelConfig
from rnnviz.training.recipes import DEV_SPLIT_SEED, Recipe


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.4f}"
    return str(v)


def write_card(
    folder: Path,
    recipe: Recipe,
    cfg: ModelConfig,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    data_sha256: dict[str, str],
    command: str,
) -> Path:
    """Write the model card (README.md): data hashes, command, seed, time, metrics, history."""
    hp = {
        k: v
        for k, v in recipe.__dict__.items()
        if k not in ("name", "description", "data_files", "labels", "selection")
    }
    if recipe.task == "classifier":
        for k in ("seq_len", "max_steps", "eval_every", "val_fraction"):
            hp.pop(k, None)
    else:
        hp.pop("max_epochs", None)
    lines = [
        f"# {cfg.name}",
        "",
        cfg.description,
        "",
        "## Architecture",
        "",
        f"- task: {cfg.task}; cell: {cfg.cell}; layers: {cfg.num_layers}; bidirectional: {cfg.bidirectional}",
        f"- vocabulary: {cfg.vocab_size} ({'characters' if cfg.task == 'language_model' else 'words'}, "
        f"incl. `<pad>`=0 and `<unk>`=1); embedding: {cfg.embedding_dim}; hidden: {cfg.hidden_size}; "
        f"dropout: {cfg.dropout}",
        f"- head: linear on {_head_input(cfg)}",
        f"- parameters: {metrics.get('parameters')}",
    ]
    if cfg.labels:
        lines.append(
            f"- labels: {', '.join(f'{i} = {label}' for i, label in enumerate(cfg.labels))}"
        )
    lines += ["", "## Data", ""]
    for f, h in data_sha256.items():
        lines.append(f"- `{f}` sha256 `{h}`")
    if recipe.task == "language_model":
        lines.append(
            f"- split: first {1 - recipe.val_fraction:.0%} of characters for training, "
            f"last {recipe.val_fraction:.0%} for validation (early stopping and the reported loss)"
        )
    elif recipe.dev_fraction:
        lines.append(
            f"- train.tsv: a seeded ({DEV_SPLIT_SEED}) random {recipe.dev_fraction:.0%} held out as dev "
            "(early stopping and the choice of settings), the rest for training; test.tsv (the official split) "
            'evaluated once after training, on title + " " + description and on titles only'
        )
    elif "dev" in recipe.data_files:
        lines.append(
            "- train.tsv (all rows: sentences and phrases) for training; dev.tsv for early stopping; "
            "test.tsv evaluated once after training"
        )
    else:
        lines.append(f"- seeded {recipe.seed} random hold-out split for validation/early stopping")
    lines += [
        "",
        "## Training",
        "",
        f"- command: `{command}`",
        f"- seed: {recipe.seed}",
        f"- training time: {metrics.get('training_seconds')} s on {_machine()}",
        f"- torch {torch.__version__}, Python {platform.python_version()}",
        "- hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in hp.items()),
        *([f"- how they were chosen: {recipe.selection}"] if recipe.selection else []),
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for k, v in metrics.items():
        lines.append(f"| {k} | {_fmt(v)} |")
    if recipe.task == "classifier" and "contrast_accuracy" in metrics:
        lines += [
            "",
            "`contrast_accuracy` is the accuracy on the 40 sentences of the negation contrast set "
            "(`rnnviz/models/negation.py`, never used for training or model selection); "
            "`contrast_pairs_both_correct` the fraction of its 20 pairs with both sentences right.",
        ]
    lines += ["", "## History", ""]
    if history:
        keys = list(history[0])
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        for h in history:
            lines.append("| " + " | ".join(_fmt(h.get(k)) for k in keys) + " |")
    path = Path(folder) / CARD_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _head_input(cfg: ModelConfig) -> str:
    if cfg.task == "language_model":
        return "every timestep (next character)"
    if cfg.pooling == "last":
        return "the final hidden state of the last layer"
    return f"the {cfg.pooling} over the tokens of the last layer's outputs"


def _machine() -> str:
    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)"
