"""Per-timestep predictions: what the model would say after each token.

For a classifier this is the class distribution after every prefix of the
sentence — the curve that shows "not" flipping "good".  For the language model
it is the next-character distribution at every position.

For a unidirectional classifier the prediction after token t is simply
``softmax(head(h_t))`` of the last layer (or of the mean / max of h_1..h_t for a model
whose head reads the pooled outputs), read from one forward pass.  A
bidirectional classifier's final state depends on the whole input, so "the
prediction after token t" is defined as the model's output on the prefix
``x[:t+1]`` alone; all prefixes are run as one padded batch.  That definition
is exact for any classifier, so it is also used as the reference in tests.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import CharLanguageModel, LoadedModel, TextClassifier
from rnnviz.models.tokenizers import CharTokenizer


def _as_ids(loaded: LoadedModel, ids: Sequence[int] | str) -> list[int]:
    if isinstance(ids, str):
        ids = loaded.tokenizer.encode(ids).ids
    ids = [int(i) for i in ids]
    if not ids:
        raise RnnvizError("cannot predict on an empty input (no tokens)")
    vocab = loaded.config.vocab_size
    bad = [i for i in ids if not 0 <= i < vocab]
    if bad:
        raise RnnvizError(f"token ids {bad[:5]} outside the vocabulary (size {vocab})")
    return ids


@torch.no_grad()
def class_probabilities_per_step(
    loaded: LoadedModel,
    ids: Sequence[int] | str,
    prefixes: int | None = None,
    batch_tokens: int | None = None,
) -> np.ndarray:
    """Class probabilities after each prefix: array [T, C]; row t is p(class | x[:t+1]).

    A bidirectional model runs every prefix: with `prefixes`, only x[:1] … x[:prefixes] and the
    whole text (the rows between are NaN); with `batch_tokens`, in batches of about that many padded
    tokens, which bounds the memory a long text takes (one batch otherwise: edits reach one call)."""
    if loaded.config.task != "classifier":
        raise RnnvizError(f"{loaded.name} is a {loaded.config.task}, not a classifier")
    module: TextClassifier = loaded.module  # type: ignore[assignment]
    ids = _as_ids(loaded, ids)
    T = len(ids)
    x = torch.tensor([ids], dtype=torch.int64)
    if not loaded.config.bidirectional:
        out, _ = module.rnn(module.embedding(x))  # [1, T, H] last layer, every step
        logits = module.head(
            module.pooled_per_step(out[0])
        )  # what the head would read after each token
        return torch.softmax(logits, dim=-1).numpy().astype(np.float32)
    ends = list(range(min(prefixes or T, T)))  # prefix x[:t+1] for each t
    if ends[-1] != T - 1:
        ends.append(T - 1)
    rows = len(ends) if batch_tokens is None else max(batch_tokens // (ends[-1] + 1), 1)
    probabilities = np.full((T, len(loaded.config.labels)), np.nan, dtype=np.float32)
    for start in range(0, len(ends), rows):
        chosen = ends[start : start + rows]
        batch = torch.zeros((len(chosen), chosen[-1] + 1), dtype=torch.int64)
        for row, t in enumerate(chosen):
            batch[row, : t + 1] = x[0, : t + 1]
        logits = module(batch, torch.tensor(chosen) + 1)
        probabilities[chosen] = torch.softmax(logits, dim=-1).numpy()
    return probabilities


@torch.no_grad()
def next_token_probabilities(
    head: torch.nn.Module,
    outputs: torch.Tensor,
    keep_top: int | None = None,
    always: Sequence[int] = (),
    columns: np.ndarray | None = None,
    max_columns: int | None = None,
    block_bytes: int = 32 * 2**20,
) -> tuple[np.ndarray, np.ndarray | None]:
    """softmax(head(h_t)) for the last layer's outputs [T, H], a block of rows at a time: [T, V] and
    None; with `keep_top`, only the vocabulary entries among some row's `keep_top` likeliest or in
    `always`: ([T, kept] probabilities, the kept entries' ids in increasing order), refused when they
    are more than `max_columns`; with `columns`, only those entries."""
    steps = outputs.shape[0]
    vocabulary = head.out_features
    rows = max(block_bytes // (4 * vocabulary), 1)
    blocks = [slice(start, start + rows) for start in range(0, steps, rows)]
    kept = columns
    if keep_top is not None and columns is None:
        chosen = set(int(i) for i in always)
        for block in blocks:
            chosen.update(
                torch.topk(head(outputs[block]), keep_top, dim=-1).indices.flatten().tolist()
            )
        if max_columns is not None and len(chosen) > max_columns:
            raise RnnvizError(
                f"the {keep_top} likeliest next tokens after each of {steps} positions span "
                f"{len(chosen):,} vocabulary entries, more than the {max_columns:,} one run may keep "
                "here: try a shorter text"
            )
        kept = np.array(sorted(chosen), dtype=np.int64)
    probabilities = np.empty((steps, vocabulary if kept is None else len(kept)), dtype=np.float32)
    for block in blocks:
        block_probabilities = torch.softmax(head(outputs[block]), dim=-1)
        if kept is not None:
            block_probabilities = block_probabilities[:, torch.from_numpy(kept)]
        probabilities[block] = block_probabilities.numpy()
    return probabilities, kept


@torch.no_grad()
def next_token_distribution(loaded: LoadedModel, ids: Sequence[int] | str) -> np.ndarray:
    """Next-token distribution at each position: array [T, V]; row t is p(x[t+1] | x[:t+1])."""
    if loaded.config.task != "language_model":
        raise RnnvizError(f"{loaded.name} is a {loaded.config.task}, not a language model")
    ids = _as_ids(loaded, ids)
    logits = loaded.module(torch.tensor([ids], dtype=torch.int64))[0]
    return torch.softmax(logits, dim=-1).numpy().astype(np.float32)


@torch.no_grad()
def sample_continuation(
    loaded: LoadedModel, text: str, n_chars: int = 200, temperature: float = 1.0, seed: int = 0
) -> str:
    """Continue ``text`` by sampling ``n_chars`` characters; same seed → same text.

    ``temperature`` → 0 approaches greedy decoding; pad and unknown are never sampled.
    """
    if loaded.config.task != "language_model":
        raise RnnvizError(f"{loaded.name} is a {loaded.config.task}, not a language model")
    if temperature <= 0:
        raise RnnvizError(f"temperature must be positive, got {temperature}")
    module: CharLanguageModel = loaded.module  # type: ignore[assignment]
    tok: CharTokenizer = loaded.tokenizer  # type: ignore[assignment]
    ids = _as_ids(loaded, text)
    gen = torch.Generator().manual_seed(seed)
    logits, state = module.forward_with_state(torch.tensor([ids], dtype=torch.int64))
    last = logits[0, -1]
    out: list[int] = []
    for _ in range(n_chars):
        scaled = last / temperature
        scaled[:2] = -float("inf")  # never emit <pad> or <unk>
        nxt = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=gen))
        out.append(nxt)
        logits, state = module.forward_with_state(torch.tensor([[nxt]], dtype=torch.int64), state)
        last = logits[0, -1]
    return tok.decode_text(out)


def predict_label(loaded: LoadedModel, text: str) -> tuple[str, np.ndarray]:
    """Label name and class probabilities of the whole ``text`` (the last row of the per-step curve)."""
    probs = class_probabilities_per_step(loaded, text)[-1]
    return loaded.config.labels[int(probs.argmax())], probs
