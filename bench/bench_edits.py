"""Edited rerun vs unedited capture, measured side by side in one run.

2-layer LSTM (E=64, H=256), batch 1, 50 tokens: `capture(model)` (PyTorch's kernels + the parallel
rebuild) beside `capture(model, edits=[...])` with one edit in layer 0, so layer 0 runs step by step
and layer 1 feels the edit (and, for reference, edits in both layers). Plain forward is printed for
scale. Target: edited within 3× the capture.
Run: python bench/bench_edits.py [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import rnnviz

EDITS = [rnnviz.Edit("layer0.forward.forget_gate", units=[17], steps=slice(3, None), value=1.0)]
# Both layers step by step: the slowest case of this model.
EDITS_BOTH_LAYERS = EDITS + [rnnviz.Edit("layer1.forward.cell", units=[5, 6], steps=10, value=0.0)]


def _once(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(device: torch.device, repeats: int, batch: int = 1, steps: int = 50) -> None:
    torch.manual_seed(0)
    model = nn.LSTM(64, 256, num_layers=2, batch_first=True).to(device).eval()
    x = torch.randn(batch, steps, 64, device=device)

    def plain():
        with torch.no_grad():
            model(x)

    def captured():
        with torch.no_grad(), rnnviz.capture(model):
            model(x)

    def edited():
        with torch.no_grad(), rnnviz.capture(model, edits=EDITS):
            model(x)

    def edited_both():
        with torch.no_grad(), rnnviz.capture(model, edits=EDITS_BOTH_LAYERS):
            model(x)

    runs = {"plain": plain, "capture": captured, "edited": edited, "both": edited_both}
    for fn in runs.values():  # warm-up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):  # interleaved, so that drift on a shared machine hits all alike
        for name, fn in runs.items():
            times[name].append(_once(fn, device))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"{device.type:4s} batch={batch} time={steps}  plain {median['plain'] * 1e3:7.2f} ms   "
        f"capture {median['capture'] * 1e3:7.2f} ms   edited {median['edited'] * 1e3:7.2f} ms   "
        f"edited/capture {median['edited'] / median['capture']:5.2f}   (median of {repeats})"
    )
    print(
        f"{'':4s} both layers edited {median['both'] * 1e3:7.2f} ms   "
        f"both/capture {median['both'] / median['capture']:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    bench(torch.device("cpu"), args.repeats)
    if torch.cuda.is_available():
        bench(torch.device("cuda"), args.repeats)


if __name__ == "__main__":
    main()
