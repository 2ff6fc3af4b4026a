"""What a refused upload costs: peak memory and time of `load_upload` for crafted files, beside their sizes.

Each upload runs in a fresh Python process under an address-space cap (so that code without the
checks fails at the cap instead of taking the machine down). The process imports rnnviz, loads one
small valid upload to warm every lazy import, resets the kernel's resident-memory high-water mark
(/proc/self/clear_refs), then calls `load_upload` once and reports how far the high-water mark rose
above the resident size just before the call (peak RSS growth). A second call, under tracemalloc,
reports the peak of Python's own allocations (torch's tensor memory is not traced there).

The crafted uploads are those of issue 17, on the bundled sst2-gru model (vocabulary 14,814; a
4 MB model.safetensors), and hostile JSON at the size limits; a valid upload is shown for scale.

    python bench/bench_uploads.py [--cap-gb 6] [--only NAME ...]

To measure code without the checks, put another checkout first: PYTHONPATH=/tmp/old python bench/bench_uploads.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BUNDLED = Path(__file__).resolve().parents[1] / "pretrained" / "sst2-gru"


def safetensors_file(header_text: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header_text)) + header_text + body


def edited_config(config: bytes, **changes) -> bytes:
    payload = json.loads(config)
    payload["model"].update(changes)
    return json.dumps(payload).encode()


def with_vocabulary_json(config: bytes, vocab_json: bytes) -> bytes:
    """The config with its vocabulary replaced by raw JSON text (to craft hostile lists of a given size)."""
    payload = json.loads(config)
    payload["tokenizer"]["vocab"] = "VOCAB"
    return json.dumps(payload).encode().replace(b'"VOCAB"', vocab_json)


def uploads() -> dict[str, tuple[bytes, bytes]]:
    """Each crafted upload as (config.json, model.safetensors)."""
    config, weights = (
        (BUNDLED / "config.json").read_bytes(),
        (BUNDLED / "model.safetensors").read_bytes(),
    )
    header_limit_list = b"[" + b",".join([b"{}"] * (256 * 1024 // 3 - 1)) + b"]"
    (header_length,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8 : 8 + header_length])
    header["head.bias"]["data_offsets"][1] = header["head.bias"]["data_offsets"][
        0
    ]  # an empty byte range for 2 floats
    nan_weights = bytearray(weights)
    nan_weights[-4:] = struct.pack("<f", float("nan"))  # the last float of the last tensor
    config_room = 10 * 1024 * 1024 - len(config) - 16
    return {
        "valid sst2-gru (accepted, for scale)": (config, weights),
        "config: embedding 60,000, hidden 60,000, 50 layers": (
            edited_config(config, embedding_dim=60_000, hidden_size=60_000, num_layers=50),
            weights,
        ),
        "header: an entry is a number": (config, safetensors_file(b'{"head.bias": 5}')),
        "header: a JSON list": (config, safetensors_file(b"[1, 2]")),
        "header: data_offsets a number": (
            config,
            safetensors_file(
                b'{"head.bias": {"dtype": "F32", "shape": [2], "data_offsets": 8}}', bytes(8)
            ),
        ),
        "header: 256 kB of empty objects": (config, safetensors_file(header_limit_list)),
        "header: one key written 30,000 times": (
            config,
            safetensors_file(b"{" + b",".join([b'"a": 0'] * 30_000) + b"}"),
        ),
        "header: a tensor's byte range too short": (
            config,
            safetensors_file(json.dumps(header).encode(), weights[8 + header_length :]),
        ),
        "weights: one NaN": (config, bytes(nan_weights)),
        "config: 10 MB vocabulary of empty lists": (
            with_vocabulary_json(config, b"[" + b",".join([b"[]"] * (config_room // 3)) + b"]"),
            weights,
        ),
        "config: 10 MB vocabulary of 2-letter texts": (
            with_vocabulary_json(config, b"[" + b",".join([b'"ab"'] * (config_room // 5)) + b"]"),
            weights,
        ),
        "config: vocabulary of 125,000 empty lists (parsed)": (
            with_vocabulary_json(config, b"[" + b",".join([b"[]"] * 125_000) + b"]"),
            weights,
        ),
        "config: 10 MB vocabulary of 250,000 texts (parsed)": (
            with_vocabulary_json(
                config, b"[" + b",".join([b'"' + b"a" * 38 + b'"'] * 250_000) + b"]"
            ),
            weights,
        ),
    }


def resident_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(config_path: str, weights_path: str) -> dict:
    """In the child process: peak RSS growth and Python peak of one load_upload call."""
    import rnnviz
    from rnnviz.models.uploads import load_upload

    config, weights = Path(config_path).read_bytes(), Path(weights_path).read_bytes()
    load_upload(
        (BUNDLED / "config.json").read_bytes(), (BUNDLED / "model.safetensors").read_bytes()
    )  # warm imports
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = resident_kb("VmRSS")
    start = time.perf_counter()
    try:
        load_upload(config, weights)
        outcome = "loaded"
    except Exception as error:  # the point of the benchmark is which exceptions escape
        outcome = f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - start
    peak_growth = resident_kb("VmHWM") - before
    gc.collect()
    tracemalloc.start()
    try:
        load_upload(config, weights)
    except Exception:
        pass
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "outcome": outcome,
        "seconds": seconds,
        "peak_rss_growth_kb": peak_growth,
        "python_peak_bytes": python_peak,
        "rnnviz": str(Path(rnnviz.__file__).parent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cap-gb", type=float, default=6.0, help="address-space cap of each upload's process"
    )
    parser.add_argument(
        "--only", nargs="+", help="names (or the start of names) of the uploads to run"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        cap = int(args.cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        print(json.dumps(measure(*args.child)))
        return
    crafted = uploads()
    names = [n for n in crafted if not args.only or any(n.startswith(o) for o in args.only)]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, address-space cap {args.cap_gb:g} GB per upload"
    )
    print(
        f"{'upload':<52} {'config':>8} {'weights':>8} {'peak RSS':>9} {'Python':>8} {'ms':>7}  outcome"
    )
    print(f"{'':<52} {'MB':>8} {'MB':>8} {'+MB':>9} {'MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            config, weights = crafted[name]
            config_path, weights_path = (
                Path(folder) / "config.json",
                Path(folder) / "model.safetensors",
            )
            config_path.write_bytes(config)
            weights_path.write_bytes(weights)
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--cap-gb",
                    str(args.cap_gb),
                    "--child",
                    str(config_path),
                    str(weights_path),
                ],
                capture_output=True,
                text=True,
            )
            if child.returncode != 0:
                print(
                    f"{name:<52} child failed ({child.returncode}): {child.stderr.strip().splitlines()[-1:]}"
                )
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            outcome = (
                result["outcome"]
                if len(result["outcome"]) <= 90
                else result["outcome"][:87] + "..."
            )
            print(
                f"{name:<52} {len(config) / 1e6:>8.2f} {len(weights) / 1e6:>8.2f} "
                f"{result['peak_rss_growth_kb'] / 1024:>9.1f} {result['python_peak_bytes'] / 1e6:>8.1f} "
                f"{result['seconds'] * 1000:>7.0f}  {outcome}",
                flush=True,
            )
    print(f"rnnviz from {result['rnnviz']}")


if __name__ == "__main__":
    main()
