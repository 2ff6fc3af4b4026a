"""Training speed of `rnnviz train` on the tiny data the tests use (tests/test_train.py): how long a
classifier recipe and the char LM recipe take end to end (read, train, evaluate, write the model
card), with one torch thread. The tests assert what a run produces, not how fast; the figure lives
here. The goal the tests once held it to: the classifier run well under 60 s.

    python bench/bench_train.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_train import _write_sst2  # noqa: E402  the tests' own tiny data

from rnnviz.training.recipes import RECIPES  # noqa: E402
from rnnviz.training.runs import run_recipe  # noqa: E402

CLASSIFIER = replace(
    RECIPES["sst2-bilstm"], embedding_dim=8, hidden_size=8, max_epochs=4, batch_size=16, lr=1e-2
)
LANGUAGE_MODEL = replace(
    RECIPES["shakespeare-char-lstm"],
    embedding_dim=8,
    hidden_size=16,
    seq_len=16,
    batch_size=8,
    max_steps=150,
    eval_every=50,
    lr=1e-2,
    min_lr=1e-3,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s), "
        f"{args.repeats} runs each"
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        data = _write_sst2(root / "data")
        (data / "tinyshakespeare").mkdir()
        (data / "tinyshakespeare" / "input.txt").write_text(
            "to be or not to be, that is the question.\n" * 40
        )
        for label, recipe in (
            ("classifier (sst2-bilstm, tiny)", CLASSIFIER),
            ("char LM (tiny)", LANGUAGE_MODEL),
        ):
            seconds = [
                run_recipe(recipe, data, root / f"out-{k}", progress=False).seconds
                for k in range(args.repeats)
            ]
            print(
                f"{label:<32} median {statistics.median(seconds):6.2f} s  "
                f"(min {min(seconds):.2f}, max {max(seconds):.2f})"
            )


if __name__ == "__main__":
    main()
