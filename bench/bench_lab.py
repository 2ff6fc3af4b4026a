"""Training-lab benchmark: RNN vs GRU vs LSTM on "remember the first symbol" at N = 10, 30, 60.

Each run uses the lab's default settings (LabConfig(): hidden 32, batch 64, Adam 1e-2, chrono
gate init, stop at 99 % held-out accuracy or after the 55 s budget) and fixed seeds, and prints
its final held-out accuracy (512 examples, chance 25 %) and wall time. A last run repeats the
LSTM at the longest N with PyTorch's default initialisation, to show what the gate init buys.

    python bench/bench_lab.py [--lengths 10 30 60] [--cells rnn gru lstm] [--threads 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from rnnviz.lab import LabConfig, train


def run(config: LabConfig) -> None:
    start = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - start
    progress = result.progress
    init = config.gate_init if config.cell != "rnn" else "-"  # a plain RNN has no gate to initialise
    print(f"{config.cell:<5} {config.n:>4} {init:<8} {progress.step:>6} {progress.accuracy:>9.1%} "
          f"{wall:>7.1f}  {progress.reason}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 30, 60])
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (tiny models gain nothing from more)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} thread(s), {platform.processor() or platform.machine()}")
    print(f"task first_symbol, defaults {LabConfig()}")
    print(f"{'cell':<5} {'N':>4} {'init':<8} {'steps':>6} {'accuracy':>9} {'wall s':>7}  ended")
    for cell in args.cells:
        for n in args.lengths:
            run(LabConfig(cell=cell, task="first_symbol", n=n, seed=args.seed))
    if "lstm" in args.cells:
        run(LabConfig(cell="lstm", task="first_symbol", n=max(args.lengths), seed=args.seed, gate_init="pytorch"))


if __name__ == "__main__":
    main()
