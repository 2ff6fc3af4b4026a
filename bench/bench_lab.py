"""Training-lab benchmark: does the lab's default setting show what the lab promises — a vanilla
RNN failing to carry the first symbol across N distractors where a GRU and an LSTM succeed?

Trains each cell at the lab's defaults (LabConfig(): first_symbol, N = 60, hidden 32, batch 64,
Adam 1e-2, chrono gate init, stop at 99 % held-out accuracy, after 2,000 steps or the 30 s
budget) for each seed, and prints its final held-out accuracy (512 examples, chance 25 %), steps
and wall time, then the mean per cell. `--lengths` adds a sweep over N at the same settings; a last
run repeats the LSTM at the longest N with PyTorch's default initialisation, to show what the gate
init buys.

    python bench/bench_lab.py [--seeds 0 1 2] [--lengths 10 30 60 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import torch

from rnnviz.training.lab_model import LabConfig
from rnnviz.training.lab_run import train

CELLS = ("rnn", "gru", "lstm")


def run(config: LabConfig) -> float:
    start = time.perf_counter()
    progress = train(config).progress
    wall = time.perf_counter() - start
    init = (
        config.gate_init if config.cell != "rnn" else "-"
    )  # a plain RNN has no gate to initialise
    print(
        f"{config.cell:<5} {config.n:>4} {config.seed:>4} {init:<8} {progress.step:>6} {progress.accuracy:>9.1%} "
        f"{wall:>7.1f}  {progress.reason}",
        flush=True,
    )
    return progress.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="*",
        default=[],
        help="also sweep N (seed: the first of --seeds)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (tiny models gain nothing from more)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    defaults = LabConfig()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} thread(s), "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"lab defaults: {defaults}")
    header = f"{'cell':<5} {'N':>4} {'seed':>4} {'init':<8} {'steps':>6} {'accuracy':>9} {'wall s':>7}  ended"
    print(header)
    accuracy = {
        cell: [run(replace(defaults, cell=cell, seed=seed)) for seed in args.seeds]
        for cell in CELLS
    }
    print(
        "held-out accuracy at the lab's defaults, mean over seeds "
        + ", ".join(map(str, args.seeds))
        + ": "
        + ", ".join(
            f"{cell} {statistics.mean(values):.1%} (min {min(values):.1%}, max {max(values):.1%})"
            for cell, values in accuracy.items()
        )
    )
    if args.lengths:
        print(f"\nsweep over N, seed {args.seeds[0]}\n{header}")
        for cell in CELLS:
            for n in args.lengths:
                run(replace(defaults, cell=cell, n=n, seed=args.seeds[0]))
        run(
            replace(
                defaults, cell="lstm", n=max(args.lengths), seed=args.seeds[0], gate_init="pytorch"
            )
        )


if __name__ == "__main__":
    main()
