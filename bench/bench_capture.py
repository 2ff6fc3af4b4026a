"""Capture overhead: plain forward vs forward inside rnnviz.core.capture, measured side by side.

2-layer LSTM (E=64, H=256) at (batch 1, time 50) — the interactive case — and
(batch 256, time 100) — the corpus case; on CPU, and on CUDA when present.
Run: python bench/bench_capture.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import rnnviz

SIZES = [(1, 50), (256, 100)]


def _timed(fn, device, repeats):
    def once():
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(3):
        once()
    return [once() for _ in range(repeats)]


def bench(device: torch.device, repeats: int) -> None:
    torch.manual_seed(0)
    model = nn.LSTM(64, 256, num_layers=2, batch_first=True).to(device).eval()
    for batch, steps in SIZES:
        x = torch.randn(batch, steps, 64, device=device)

        def plain():
            with torch.no_grad():
                model(x)

        def captured():
            with torch.no_grad(), rnnviz.capture(model):
                model(x)

        # Interleave the two so that drift on a shared machine hits both alike.
        plain_times, capture_times = [], []
        for _ in range(repeats):
            plain_times += _timed(plain, device, 1)
            capture_times += _timed(captured, device, 1)
        p, c = statistics.median(plain_times), statistics.median(capture_times)
        print(
            f"{device.type:4s} batch={batch:<4d} time={steps:<4d} plain {p * 1e3:8.2f} ms   "
            f"capture {c * 1e3:8.2f} ms   ratio {c / p:5.2f}   (median of {repeats})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    bench(torch.device("cpu"), args.repeats)
    if torch.cuda.is_available():
        bench(torch.device("cuda"), args.repeats)


if __name__ == "__main__":
    main()
