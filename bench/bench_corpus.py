"""Corpus trace + statistics throughput beside plain forward throughput, same model, same batches, one run, CPU.

    .venv/bin/python bench/bench_corpus.py [--threads 1] [--repeats 3]

Corpora: the Tiny Shakespeare validation split (last 10 %, ~111 k characters, 256-character chunks)
through shakespeare-char-lstm (2 × 256 LSTM; a randomly initialised model of the same shape when
it is not bundled yet: the work per token is the same) and SST-2 test through sst2-lstm.
Prints, per corpus: plain forward tokens/s, forward inside `capture` tokens/s and its ratio to plain
(capturing what the corpus index records, and every quantity),
the whole `compute_corpus_index` (encode, capture, streamed statistics) in seconds and tokens/s,
a cached second visit in seconds, and the stored bytes. Needs ../shared/data (or RNNVIZ_DATA_DIR).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time

import torch

from rnnviz.analysis.corpus import (
    BATCH_SIZE,
    compute_corpus_index,
    corpus_batches,
    corpus_index,
    encode_corpus,
    recorded_names,
    reference_corpus,
    run_batch,
)
from rnnviz.core.capture import capture
from rnnviz.errors import RnnvizError
from rnnviz.models.architectures import LoadedModel, ModelConfig, build_module, bundled_names, load
from rnnviz.models.tokenizers import CharTokenizer


def shakespeare_model(corpus_text: str) -> tuple[LoadedModel, str]:
    if "shakespeare-char-lstm" in bundled_names():
        return load("shakespeare-char-lstm"), "shakespeare-char-lstm"
    tokenizer = CharTokenizer.build(corpus_text)
    config = ModelConfig(
        name="shakespeare-shape",
        description="",
        task="language_model",
        cell_kind="lstm",
        vocab_size=tokenizer.vocab_size,
        embedding_dim=64,
        hidden_size=256,
        num_layers=2,
    )
    torch.manual_seed(0)
    return LoadedModel(
        config, tokenizer, build_module(config).eval()
    ), "random 2×256 LSTM (shakespeare-char-lstm not bundled)"


EVERYTHING = "every quantity"


def timed_passes(loaded: LoadedModel, batches: list, recorded: list[str] | str | None) -> float:
    """One pass over the batches: plain (None), inside `capture` of every quantity (EVERYTHING), or
    inside `capture(only=recorded)`."""
    began = time.perf_counter()
    with torch.no_grad():
        for _, ids, lengths in batches:
            if recorded is None:
                run_batch(loaded, ids, lengths)
            else:
                with capture(loaded.module, only=None if recorded == EVERYTHING else recorded):
                    run_batch(loaded, ids, lengths)
    return time.perf_counter() - began


def bench(label: str, loaded: LoadedModel, model_label: str, corpus, repeats: int) -> None:
    layer = loaded.config.num_layers - 1
    encodings = encode_corpus(loaded, corpus)
    tokens = sum(len(e.ids) for e in encodings)
    batches = list(corpus_batches(encodings, BATCH_SIZE))
    index_names = recorded_names(layer, "forward")
    timed_passes(loaded, batches[:2], recorded=EVERYTHING)  # warm-up
    plain, recorded, everything = [], [], []
    for _ in range(repeats):  # interleaved, so a busy moment hits all alike
        plain.append(timed_passes(loaded, batches, recorded=None))
        recorded.append(timed_passes(loaded, batches, recorded=index_names))
        everything.append(timed_passes(loaded, batches, recorded=EVERYTHING))
    full = []
    for _ in range(repeats):
        began = time.perf_counter()
        index = compute_corpus_index(loaded, corpus, layer)
        full.append(time.perf_counter() - began)
    with tempfile.TemporaryDirectory() as cache:
        corpus_index(loaded, corpus, layer, cache_dir=cache)
        began = time.perf_counter()
        cached = corpus_index(loaded, corpus, layer, cache_dir=cache)
        second_visit = time.perf_counter() - began
        assert cached.from_cache
    p, r, e, f = (statistics.median(x) for x in (plain, recorded, everything, full))
    print(
        f"\n{label}: {tokens:,} tokens in {len(encodings):,} segments, {len(batches)} batches of ≤ "
        f"{BATCH_SIZE}; model: {model_label}"
    )
    print(f"  plain forward             {p:6.2f} s  {tokens / p:10,.0f} tokens/s")
    print(
        f"  forward inside capture    {r:6.2f} s  {tokens / r:10,.0f} tokens/s   capture/plain throughput {p / r:.2f}×"
        f"   (what the index records: σ gates of every layer, h of layer {layer})"
    )
    print(
        f"    … of every quantity     {e:6.2f} s  {tokens / e:10,.0f} tokens/s   capture/plain throughput {p / e:.2f}×"
    )
    print(
        f"  corpus index (all stats)  {f:6.2f} s  {tokens / f:10,.0f} tokens/s   (min "
        f"{min(full):.2f} s, max {max(full):.2f} s)"
    )
    print(f"  second visit (cache)      {second_visit:6.2f} s")
    print(
        f"  stored hidden state       {index.hidden.nbytes / 2**20:6.1f} MiB (float16, layer "
        f"{layer}, {index.units} units)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), medians of {args.repeats} interleaved runs"
    )
    try:
        shakespeare = reference_corpus("shakespeare-validation")
        sst2 = reference_corpus("sst2-test")
    except RnnvizError as error:
        print(f"bench_corpus: {error}", file=sys.stderr)
        return 2
    model, model_label = shakespeare_model("".join(shakespeare.segments))
    bench("Shakespeare validation", model, model_label, shakespeare, args.repeats)
    bench("SST-2 test", load("sst2-lstm"), "sst2-lstm", sst2, args.repeats)
    print(
        f"\npeak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
