"""Capture overhead: plain forward vs forward inside rnnviz.core.capture, measured side by side.

2-layer LSTM (E=64, H=256) at (batch 1, time 50) — the interactive case — and
(batch 256, time 100) — the corpus case; on CPU, and on CUDA when present.
Then the bundled models on the app's texts: the default sentence on sst2-lstm and a 2,000-character
passage on shakespeare-char-lstm, captured with the long-sequence anchoring (capture.ANCHOR_STEPS,
the LSTM run in chunks whose final c the rebuilt recursion restarts from) and without it, interleaved
in one run, with the exactness badge's number for each.
Run: python bench/bench_capture.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.core import capture as capture_module
from rnnviz.core.exactness import run_exactness
from rnnviz.models.presets import VANISHING_GRADIENT_TEXT
from rnnviz.settings import shared_data_dir

SIZES = [(1, 50), (256, 100)]


def _timed(fn, device, repeats, clock=time.perf_counter):
    def once():
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return clock() - start

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


def _passage(loaded, characters: int = 2000) -> str:
    """The first 2,000 characters of Tiny Shakespeare (seeded vocabulary characters without it)."""
    path = shared_data_dir() / "tinyshakespeare" / "input.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8")[:characters]
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(2, len(loaded.tokenizer.itos), (characters,), generator=generator)
    return "".join(loaded.tokenizer.itos[i] for i in picks.tolist())


def bench_bundled(repeats: int) -> None:
    """Plain forward, capture without anchoring (before) and with it (after), interleaved."""
    anchor_steps = capture_module.ANCHOR_STEPS
    cases = [
        ("sst2-lstm", None),
        ("sst2-lstm", lambda _: VANISHING_GRADIENT_TEXT),
        ("shakespeare-char-lstm", _passage),
    ]
    for name, text_for in cases:
        loaded = rnnviz.load(name)
        text = "the movie was not good" if text_for is None else text_for(loaded)
        ids = torch.tensor([loaded.encode(text).ids])

        def plain():
            with torch.no_grad():
                loaded.module(ids)

        def captured(steps):
            def run():
                capture_module.ANCHOR_STEPS = steps
                with torch.no_grad(), rnnviz.capture(loaded.module):
                    loaded.module(ids)

            return run

        # CPU time of this process as well as wall time: on a shared machine other jobs stretch the
        # wall clock of whichever run they happen to overlap.
        times = {(k, c): [] for k in ("plain", "before", "after") for c in ("wall", "cpu")}
        runs = {"plain": plain, "before": captured(None), "after": captured(anchor_steps)}
        for _ in range(repeats):
            for label, run in runs.items():
                times[label, "wall"] += _timed(run, torch.device("cpu"), 1)
                times[label, "cpu"] += _timed(run, torch.device("cpu"), 1, time.process_time)
        errors = {}
        for label, steps in (("before", None), ("after", anchor_steps)):
            capture_module.ANCHOR_STEPS = steps
            errors[label] = run_exactness(loaded, inspect_text(loaded, text))
        capture_module.ANCHOR_STEPS = anchor_steps
        print(
            f"{name} ({ids.shape[1]} tokens), largest |difference| (absolute / relative where |value|"
            f" > 1): before {errors['before'].max_abs_error:.1e} / "
            f"{errors['before'].max_scaled_error:.1e}, after {errors['after'].max_abs_error:.1e} / "
            f"{errors['after'].max_scaled_error:.1e}; medians of {repeats}:"
        )
        for clock in ("wall", "cpu"):
            p, b, a = (statistics.median(times[k, clock]) for k in ("plain", "before", "after"))
            print(
                f"  {clock:4s}: plain {p * 1e3:7.2f} ms | capture before {b * 1e3:7.2f} ms "
                f"({b / p:4.2f}x plain) | after {a * 1e3:7.2f} ms ({a / p:4.2f}x plain) | "
                f"after/before {a / b:4.2f}"
            )


def pytorch_against_itself(text: str) -> None:
    """How far PyTorch's own LSTM kernel is from itself: each layer of shakespeare-char-lstm run
    once over the whole text and once a step at a time (state carried), c compared at every step."""
    loaded = rnnviz.load("shakespeare-char-lstm")
    rnn = loaded.module.rnn
    with torch.no_grad():
        x = loaded.module.embedding(torch.tensor([loaded.encode(text).ids]))
        for layer in range(rnn.num_layers):
            single = nn.LSTM(x.shape[-1], rnn.hidden_size, batch_first=True)
            own = {k: v for k, v in rnn.state_dict().items() if k.endswith(f"_l{layer}")}
            single.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in own.items()})
            whole, state, whole_cells = single(x)[0], None, []
            for start in range(0, x.shape[1], 2):  # two steps a call: the many-step kernel
                _, state = single(x[:, start : start + 2], state)
                whole_cells.append(state[1][0, 0])
            state, stepped_cells = None, []
            for t in range(x.shape[1]):
                _, state = single(x[:, t : t + 1], state)
                stepped_cells.append(state[1][0, 0])
            pairs = zip(whole_cells, stepped_cells[1::2])
            difference = max(float((a - b).abs().max()) for a, b in pairs)
            largest = max(float(c.abs().max()) for c in stepped_cells)
            print(
                f"  layer {layer}: PyTorch's many-step vs one-step kernel, c differs by up to "
                f"{difference:.1e} (|c| up to {largest:.0f})"
            )
            x = whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--bundled-only", action="store_true", help="only the bundled models")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if not args.bundled_only:
        bench(torch.device("cpu"), args.repeats)
    print(f"anchoring every {capture_module.ANCHOR_STEPS} steps (before: none), CPU:")
    bench_bundled(args.repeats)
    passage = shared_data_dir() / "tinyshakespeare" / "input.txt"
    if passage.is_file():
        print("the module against itself, 2,000 characters:")
        pytorch_against_itself(passage.read_text(encoding="utf-8")[:2000])
    if torch.cuda.is_available():
        bench(torch.device("cuda"), args.repeats)


if __name__ == "__main__":
    main()
