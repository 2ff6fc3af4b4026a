"""Running a training end to end: ``rnnviz train <recipe>`` and ``rnnviz train custom``. Each reads
its data, trains (rnnviz.training.classifier or .language_model), and writes weights, config and a
model card (rnnviz.training.cards) whose numbers come from that very run."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnviz.errors import DataError
from rnnviz.models.architectures import PRETRAINED_DIR, save
from rnnviz.training.cards import write_card
from rnnviz.training.classifier import train_classifier
from rnnviz.training.data import (
    DEFAULT_DATA_DIR,
    hold_out,
    read_agnews,
    read_sst2,
    read_table,
    require_file,
    sha256_of,
)
from rnnviz.training.language_model import train_language_model
from rnnviz.training.recipes import AGNEWS_LABELS, DEV_SPLIT_SEED, SST2_LABELS, Recipe


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: where it wrote, the metrics, and how long it took."""

    folder: Path
    metrics: dict[str, Any]
    seconds: float


def run_recipe(
    recipe: Recipe,
    data_dir: Path = DEFAULT_DATA_DIR,
    out_dir: Path | None = None,
    *,
    progress: bool = True,
    threads: int | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train ``recipe`` from ``data_dir`` and write weights, config and card to ``out_dir``
    (default ``pretrained/<name>``)."""
    if threads:
        torch.set_num_threads(threads)
    data_dir = Path(data_dir)
    paths = {k: require_file(data_dir / v) for k, v in recipe.data_files.items()}
    out = Path(out_dir) if out_dir else PRETRAINED_DIR / recipe.name
    t0 = time.perf_counter()
    if recipe.task == "language_model":
        text = paths["text"].read_text(encoding="utf-8")
        cfg, tok, module, metrics = train_language_model(recipe, text, progress=progress)
    else:
        rows, other_tests = classifier_splits(recipe, paths)
        cfg, tok, module, metrics = train_classifier(
            recipe,
            rows["train"],
            rows["dev"],
            rows.get("test"),
            labels=recipe.labels,
            progress=progress,
            report_contrast=recipe.labels == SST2_LABELS,
            other_tests=other_tests,
        )
    seconds = time.perf_counter() - t0
    metrics = {"training_seconds": round(seconds, 1), **metrics}
    history = metrics.pop("history")
    cfg = replace(cfg, metrics=metrics)
    save(out, cfg, tok, module, weights_dtype=recipe.weights_dtype)
    data_info = {str(Path(recipe.data_files[k])): sha256_of(p) for k, p in paths.items()}
    write_card(
        out, recipe, cfg, metrics, history, data_info, command or f"rnnviz train {recipe.name}"
    )
    return TrainResult(folder=out, metrics=metrics, seconds=seconds)


def classifier_splits(
    recipe: Recipe, paths: dict[str, Path]
) -> tuple[dict[str, list], dict[str, list]]:
    """The recipe's train / dev / test rows, and any other test sets (AG News: the test split's titles only)."""
    if recipe.labels == AGNEWS_LABELS:
        # one dev part for every recipe and seed, so that their dev accuracies compare
        train, dev = hold_out(read_agnews(paths["train"]), recipe.dev_fraction, DEV_SPLIT_SEED)
        return (
            {"train": train, "dev": dev, "test": read_agnews(paths["test"])},
            {"test_titles_only": read_agnews(paths["test"], titles_only=True)},
        )
    return {k: read_sst2(p) for k, p in paths.items()}, {}


def run_custom(
    data: Path,
    out_dir: Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    name: str | None = None,
    cell: str = "lstm",
    val_fraction: float = 0.1,
    seed: int = 0,
    max_epochs: int = 5,
    hidden_size: int = 128,
    embedding_dim: int = 64,
    batch_size: int = 64,
    lr: float = 2e-3,
    progress: bool = True,
    threads: int | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train a word-level classifier on a user's CSV/TSV (``text_column``, ``label_column``).

    Label names are the distinct values of the label column (sorted); a seeded
    ``val_fraction`` of the rows is held out for early stopping and reporting.
    """
    if threads:
        torch.set_num_threads(threads)
    data = Path(data)
    raw = read_table(data, text_column, label_column)
    labels = sorted({y for _, y in raw})
    if len(labels) < 2:
        raise DataError(f"{data}: column {label_column!r} has fewer than two distinct labels")
    index = {y: i for i, y in enumerate(labels)}
    rows = [(t, index[y]) for t, y in raw]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = max(1, int(round(len(rows) * val_fraction)))
    if len(rows) - n_val < 1:
        raise DataError(f"{data}: too few rows ({len(rows)}) to hold out a validation split")
    val = [rows[i] for i in order[:n_val]]
    train = [rows[i] for i in order[n_val:]]
    recipe = Recipe(
        name=name or data.stem,
        description=f"Word-level {cell.upper()} classifier trained on {data.name}.",
        task="classifier",
        cell=cell,
        data_files={"data": str(data)},
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        dropout=0.3,
        lr=lr,
        min_lr=lr / 20,
        batch_size=batch_size,
        max_epochs=max_epochs,
        patience=2,
        seed=seed,
        labels=tuple(labels),
    )
    t0 = time.perf_counter()
    cfg, tok, module, metrics = train_classifier(
        recipe, train, val, None, labels=labels, progress=progress, report_contrast=False
    )
    seconds = time.perf_counter() - t0
    metrics = {"training_seconds": round(seconds, 1), **metrics}
    metrics["val_accuracy"] = metrics.pop("dev_accuracy")
    history = metrics.pop("history")
    cfg = replace(cfg, metrics=metrics)
    out_dir = Path(out_dir)
    save(out_dir, cfg, tok, module)
    write_card(
        out_dir,
        recipe,
        cfg,
        metrics,
        history,
        {data.name: sha256_of(data)},
        command or f"rnnviz train custom --data {data}",
    )
    return TrainResult(folder=out_dir, metrics=metrics, seconds=seconds)
