"""Training a word-level classifier (SST-2, AG News, a user's table) with the shared loop: epochs of
shuffled batches, cosine learning rate, word dropout, dev evaluations with early stopping, an optional
greedy checkpoint soup; then the test split (and the negation contrast set) read once."""

from __future__ import annotations

import itertools
import math
import random
import sys
from dataclasses import replace
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from rnnviz.models.architectures import ModelConfig, build_module, num_parameters
from rnnviz.models.negation import CONTRAST_PAIRS, contrast_examples
from rnnviz.models.tokenizers import PAD_ID, UNK_ID, WordTokenizer
from rnnviz.training.data import EncodedRows, batches, encode_rows
from rnnviz.training.loop import KeepBest, average, cosine_lr, seed_everything, train_loop
from rnnviz.training.recipes import Recipe


@torch.no_grad()
def evaluate_classifier(
    module: nn.Module, data: EncodedRows, batch_size: int = 256
) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``module`` on encoded rows."""
    was_training = module.training
    module.eval()
    correct, loss, n = 0, 0.0, 0
    for ids, lengths, y in batches(data, batch_size, False, random.Random(0)):
        logits = module(ids, lengths)
        loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        n += len(y)
    module.train(was_training)
    return {"accuracy": correct / max(n, 1), "loss": loss / max(n, 1), "n": n}


def contrast_accuracy(module: nn.Module, tok: WordTokenizer) -> float:
    """Accuracy on the negation contrast set (:mod:`rnnviz.models.negation`)."""
    return evaluate_classifier(module, encode_rows(tok, contrast_examples()))["accuracy"]


def train_classifier(
    recipe: Recipe,
    train_rows: list[tuple[str, int]],
    dev_rows: list[tuple[str, int]],
    test_rows: list[tuple[str, int]] | None = None,
    *,
    labels: Sequence[str],
    progress: bool = True,
    report_contrast: bool = True,
    other_tests: dict[str, list[tuple[str, int]]] | None = None,
) -> tuple[ModelConfig, WordTokenizer, nn.Module, dict[str, Any]]:
    """Train a classifier; early stopping on dev accuracy; returns the best model and its metrics.

    ``other_tests`` (name → rows) are read once, with the test split, after training: ``<name>_accuracy``.
    """
    seed_everything(recipe.seed)
    tok = WordTokenizer.build((t for t, _ in train_rows), min_freq=recipe.min_freq)
    cfg = ModelConfig(
        name=recipe.name,
        description=recipe.description,
        task="classifier",
        cell=recipe.cell,  # type: ignore[arg-type]
        vocab_size=tok.vocab_size,
        embedding_dim=recipe.embedding_dim,
        hidden_size=recipe.hidden_size,
        num_layers=recipe.num_layers,
        bidirectional=recipe.bidirectional,
        dropout=recipe.dropout,
        labels=list(labels),
        pooling=recipe.pooling,  # type: ignore[arg-type]
    )
    module = build_module(cfg)
    train = encode_rows(tok, train_rows)
    dev = encode_rows(tok, dev_rows)
    opt = torch.optim.Adam(module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    rng = random.Random(recipe.seed)
    steps_per_epoch = math.ceil(len(train) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.max_epochs
    eval_interval = max(1, steps_per_epoch // recipe.evals_per_epoch)
    # dev accuracy; the epoch is fractional when evaluating mid-epoch
    best = KeepBest(recipe.patience, higher_is_better=True, candidates=recipe.soup_candidates)
    history: list[dict[str, Any]] = []
    epoch_stats = {
        "loss": 0.0,
        "correct": 0,
        "n": 0,
    }  # this epoch's running training loss and accuracy
    bar: list[tqdm] = []

    def where(step: int) -> tuple[int, int]:
        """(epoch from 1, batch within it from 1) of optimiser step ``step`` (counted from 1)."""
        return (step - 1) // steps_per_epoch + 1, (step - 1) % steps_per_epoch + 1

    def loss_of(batch) -> torch.Tensor:
        ids, lengths, y = batch
        if recipe.word_dropout:
            drop = (torch.rand(ids.shape) < recipe.word_dropout) & (ids != PAD_ID)
            ids = ids.masked_fill(drop, UNK_ID)
        logits = module(ids, lengths)
        loss = nn.functional.cross_entropy(logits, y)
        epoch_stats["loss"] += loss.item() * len(y)
        epoch_stats["correct"] += (logits.argmax(-1) == y).sum().item()
        epoch_stats["n"] += len(y)
        return loss

    def on_step(step: int, loss: torch.Tensor) -> None:
        epoch, i = where(step)
        if not bar:
            bar.append(
                tqdm(
                    total=steps_per_epoch,
                    desc=f"{recipe.name} epoch {epoch}/{recipe.max_epochs}",
                    disable=not progress,
                    leave=False,
                    file=sys.stderr,
                    mininterval=1.0,
                )
            )
        bar[0].update(1)
        n = epoch_stats["n"]
        bar[0].set_postfix(
            loss=f"{epoch_stats['loss'] / n:.4f}",
            acc=f"{epoch_stats['correct'] / n:.3f}",
            refresh=False,
        )

    def checkpoint_after(step: int) -> bool:
        _, i = where(step)
        return i == steps_per_epoch or (
            i % eval_interval == 0 and steps_per_epoch - i >= eval_interval // 2
        )

    def checkpoint(step: int) -> bool:
        # evaluation switches to eval mode and back; it consumes no random numbers,
        # so the training trajectory does not depend on how often we evaluate
        epoch, i = where(step)
        d = evaluate_classifier(module, dev)
        n = epoch_stats["n"]
        entry = {
            "epoch": round(epoch - 1 + i / steps_per_epoch, 2) if i < steps_per_epoch else epoch,
            "train_loss": epoch_stats["loss"] / n,
            "train_accuracy": epoch_stats["correct"] / n,
            "dev_accuracy": d["accuracy"],
            "dev_loss": d["loss"],
        }
        if report_contrast:
            entry["contrast_accuracy"] = contrast_accuracy(module, tok)
        history.append(entry)
        if progress:
            tqdm.write(
                f"{recipe.name} epoch {entry['epoch']}: "
                + ", ".join(f"{k}={v:.4f}" for k, v in entry.items() if k != "epoch"),
                file=sys.stderr,
            )
        if i == steps_per_epoch:  # the epoch is over: its bar and running figures go
            end_epoch()
        if best.update(module, d["accuracy"], entry["epoch"]):
            if progress:
                tqdm.write(
                    f"early stopping: no dev improvement for {best.bad} evaluations",
                    file=sys.stderr,
                )
            return True
        return False

    def end_epoch() -> None:
        if bar:
            bar.pop().close()
        epoch_stats.update(loss=0.0, correct=0, n=0)

    epochs = itertools.chain.from_iterable(
        batches(train, recipe.batch_size, True, rng) for _ in range(recipe.max_epochs)
    )
    train_loop(
        module,
        opt,
        epochs,
        loss_of,
        max_steps=total_steps,
        clip=recipe.clip,
        learning_rate=lambda step: cosine_lr(step, total_steps, recipe.lr, recipe.min_lr),
        checkpoint_after=checkpoint_after,
        checkpoint=checkpoint,
        on_step=on_step,
    )
    end_epoch()
    module.load_state_dict(best.weights)
    soup = (
        {
            "best_single_dev_accuracy": round(best.score, 4),
            "soup_epochs": greedy_soup(module, best.candidates, dev),
        }
        if recipe.soup_candidates
        else {}
    )
    module.eval()
    if recipe.weights_dtype != "float32":  # evaluate exactly what will be stored
        with torch.no_grad():
            for tensor in module.state_dict().values():
                tensor.copy_(tensor.to(getattr(torch, recipe.weights_dtype)))
    metrics: dict[str, Any] = {
        "dev_accuracy": round(evaluate_classifier(module, dev)["accuracy"], 4),
        "best_epoch": best.at,
        **soup,
        "epochs_run": history[-1]["epoch"] if history else 0,
        "train_rows": len(train),
    }
    if test_rows is not None:
        metrics["test_accuracy"] = round(
            evaluate_classifier(module, encode_rows(tok, test_rows))["accuracy"], 4
        )
    for name, rows in (other_tests or {}).items():
        metrics[f"{name}_accuracy"] = round(
            evaluate_classifier(module, encode_rows(tok, rows))["accuracy"], 4
        )
    if report_contrast:
        metrics["contrast_accuracy"] = round(contrast_accuracy(module, tok), 4)
        metrics["contrast_pairs_both_correct"] = pairs_both_correct(module, tok)
    metrics["parameters"] = num_parameters(module)
    metrics["history"] = history
    return replace(cfg), tok, module, metrics


def greedy_soup(
    module: nn.Module,
    candidates: list[tuple[float, float, dict[str, torch.Tensor]]],
    dev: EncodedRows,
) -> list[float]:
    """Load into ``module`` the greedy soup of ``candidates`` (sorted best first) and return the
    epochs it averages.  Each candidate joins only if the average's dev accuracy does not drop,
    so the soup scores at least the best single checkpoint on dev; test is never looked at.

    (Wortsman et al. 2022, "Model soups".)"""
    soup = [candidates[0]]
    module.load_state_dict(candidates[0][2])
    score = evaluate_classifier(module, dev)["accuracy"]
    for cand in candidates[1:]:
        trial = soup + [cand]
        module.load_state_dict(average([c[2] for c in trial]))
        trial_score = evaluate_classifier(module, dev)["accuracy"]
        if trial_score >= score:
            soup, score = trial, trial_score
    module.load_state_dict(average([c[2] for c in soup]))
    return [c[1] for c in soup]


def pairs_both_correct(module: nn.Module, tok: WordTokenizer) -> float:
    """Share of the negation contrast pairs whose two sentences are both classified right."""
    ex = encode_rows(tok, contrast_examples())
    with torch.no_grad():
        preds = []
        for ids, lengths, _ in batches(ex, 256, False, random.Random(0)):
            preds += module(ids, lengths).argmax(-1).tolist()
    labels = [y for _, y in contrast_examples()]
    ok = [p == y for p, y in zip(preds, labels)]
    return round(
        sum(ok[2 * i] and ok[2 * i + 1] for i in range(len(CONTRAST_PAIRS))) / len(CONTRAST_PAIRS),
        4,
    )
