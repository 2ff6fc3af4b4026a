"""Training the character-level language model with the shared loop: random windows of the first
90 % of the text, cosine learning rate, early stopping on the loss over the last 10 %."""

from __future__ import annotations

import math
import sys
from typing import Any, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from rnnviz.errors import DataError
from rnnviz.models.architectures import ModelConfig, build_module, num_parameters
from rnnviz.models.tokenizers import CharTokenizer
from rnnviz.training.loop import KeepBest, cosine_lr, seed_everything, train_loop
from rnnviz.training.recipes import Recipe


def lm_eval_loss(module: nn.Module, data: torch.Tensor, seq_len: int, streams: int = 16) -> float:
    """Mean next-char cross-entropy (nats) over ``data``, split into ``streams`` contiguous
    streams whose recurrent state is carried across chunks (only each stream's first
    character lacks context)."""
    was = module.training
    module.eval()
    n = (len(data) - 1) // streams
    x_all = data[: n * streams].view(streams, n)
    y_all = data[1 : n * streams + 1].view(streams, n)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, n, seq_len):
            x, y = x_all[:, i : i + seq_len], y_all[:, i : i + seq_len]
            logits, state = module.forward_with_state(x, state)
            total += nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
            ).item()
            count += y.numel()
    module.train(was)
    return total / count


def train_language_model(
    recipe: Recipe, text: str, *, progress: bool = True
) -> tuple[ModelConfig, CharTokenizer, nn.Module, dict[str, Any]]:
    """Train the char LM on the first 90 % of ``text``; early stopping on the last 10 %."""
    seed_everything(recipe.seed)
    tok = CharTokenizer.build(text)
    cfg = ModelConfig(
        name=recipe.name,
        description=recipe.description,
        task="language_model",
        cell=recipe.cell,  # type: ignore[arg-type]
        vocab_size=tok.vocab_size,
        embedding_dim=recipe.embedding_dim,
        hidden_size=recipe.hidden_size,
        num_layers=recipe.num_layers,
        dropout=recipe.dropout,
    )
    module = build_module(cfg)
    data = torch.tensor(tok.encode(text).ids, dtype=torch.int64)
    split = int(len(data) * (1 - recipe.val_fraction))
    train, val = data[:split], data[split:]
    if len(train) <= recipe.seq_len + 1 or len(val) <= recipe.seq_len + 1:
        raise DataError(f"text too short ({len(data)} characters) for seq_len {recipe.seq_len}")
    opt = torch.optim.Adam(module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    gen = torch.Generator().manual_seed(recipe.seed)
    best = KeepBest(recipe.patience, higher_is_better=False)
    history: list[dict[str, Any]] = []
    # exponential running mean so the bar shows the current loss, not the average since step 1
    running = {"loss": 0.0, "n": 0, "shown": 0.0}
    eval_streams = max(1, min(16, len(val) // (recipe.seq_len * 2)))
    bar = tqdm(
        total=recipe.max_steps,
        desc=recipe.name,
        disable=not progress,
        file=sys.stderr,
        mininterval=2.0,
    )
    offsets = torch.arange(recipe.seq_len + 1)

    def windows() -> Iterator[torch.Tensor]:
        """Random windows of seq_len + 1 characters of the training part, a batch at a time."""
        while True:
            starts = torch.randint(
                0, len(train) - recipe.seq_len - 1, (recipe.batch_size,), generator=gen
            )
            yield train[starts[:, None] + offsets]

    def loss_of(chunk: torch.Tensor) -> torch.Tensor:
        logits = module(chunk[:, :-1])
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1)
        )

    def on_step(step: int, loss: torch.Tensor) -> None:
        running["loss"] = 0.98 * running["loss"] + 0.02 * loss.item()
        running["n"] += 1
        running["shown"] = running["loss"] / (1 - 0.98 ** running["n"])
        bar.update(1)
        bar.set_postfix(loss=f"{running['shown']:.3f}", refresh=False)

    def checkpoint(step: int) -> bool:
        v = lm_eval_loss(module, val, recipe.seq_len, eval_streams)
        shown = running["shown"]
        history.append({"step": step, "train_loss": round(shown, 4), "val_loss": round(v, 4)})
        if progress:
            tqdm.write(f"step {step}: train_loss={shown:.4f} val_loss={v:.4f}", file=sys.stderr)
        if best.update(module, v, step):
            if progress:
                tqdm.write(
                    f"early stopping: no val improvement for {best.bad} evaluations",
                    file=sys.stderr,
                )
            return True
        return False

    train_loop(
        module,
        opt,
        windows(),
        loss_of,
        max_steps=recipe.max_steps,
        clip=recipe.clip,
        learning_rate=lambda step: cosine_lr(step, recipe.max_steps, recipe.lr, recipe.min_lr),
        checkpoint_after=lambda step: step % recipe.eval_every == 0,
        checkpoint=checkpoint,
        on_step=on_step,
    )
    bar.close()
    module.load_state_dict(best.weights)
    module.eval()
    metrics = {
        "val_loss_nats_per_char": round(lm_eval_loss(module, val, recipe.seq_len, eval_streams), 4),
        "best_step": best.at,
        "steps_run": history[-1]["step"] if history else 0,
        "train_chars": len(train),
        "val_chars": len(val),
        "parameters": num_parameters(module),
        "history": history,
    }
    metrics["val_bits_per_char"] = round(metrics["val_loss_nats_per_char"] / math.log(2), 4)
    return cfg, tok, module, metrics
