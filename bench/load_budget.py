"""Issue 21's hostile load against one server on loopback, while other students type sentences.

Replayed at once (each a websocket session speaking Streamlit's protocol, bench/load_test.py's client):
  1. --texts fresh sessions, each opening a link to a different 2,000-character text on
     shakespeare-char-lstm (in waves of --wave at a time);
  2. one session per text on a language model with a 200,000-entry vocabulary, 1 unit (offered with
     `--model` here rather than through the upload widget: the run takes the same path);
  3. three sessions at once on `?model=sst2-bilstm&text=a a a …` (1,000 words);
  4. a 47 M-parameter, 64-layer bidirectional LSTM (`--model` too) reading 400 words.
Meanwhile --bystanders sessions type sentences on sst2-lstm: their Enter → heatmaps is timed.
Reported: the server's RSS warm, at its peak during the load and every 5 s for 60 s after the hostile
sessions close, against RNNVIZ_MEMORY_BUDGET_MB; the bystanders' latency; what each hostile page said.

Run: python bench/load_budget.py [--texts 90] [--wave 10] [--bystanders 5] [--budget-mb 2048]
     python bench/load_budget.py --bystanders-only   # the same bystanders without the hostile load
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_test  # noqa: E402
from harness import REPO_ROOT  # noqa: E402
from load_test import (  # noqa: E402
    Expectation,
    SocketSession,
    StreamlitServer,
    Tally,
    load_note,
    quantiles,
    rss_mib,
    student,
)

SETTLE_S = 40  # past the idle and disconnected-session drops (rnnviz/app/budget.py)


class HostileSession(SocketSession):
    """Opens one link and keeps what the page said (notices, warnings)."""

    async def open_link(self, query: str) -> str:
        from websockets.asyncio.client import connect

        stream = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self.socket = await connect(stream, subprotocols=["streamlit"], max_size=2**28)
        return await self._run([], None, "hostile link", query=query)


class ServerWithModels(StreamlitServer):
    def __init__(self, models: list[Path], env: dict[str, str]):
        super().__init__(env=env)
        self.models = models

    def start(self) -> "ServerWithModels":
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            self.script,
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.fileWatcherType",
            "none",
            "--",
            *(arg for model in self.models for arg in ("--model", str(model))),
        ]
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self


def hostile_models(folder: Path) -> tuple[Path, Path]:
    """Item 2's wide language model and item 4's deep bidirectional LSTM, saved as bundled folders."""
    import torch

    from rnnviz.models.architectures import ModelConfig, build_module, save
    from rnnviz.models.tokenizers import CharTokenizer, WordTokenizer

    itos = ["<pad>", "<unk>", *(chr(0x10000 + i) for i in range(200_000 - 2))]
    wide = ModelConfig(
        name="wide-lm",
        description="200,000 entries, 1 unit",
        task="language_model",
        cell_kind="lstm",
        vocab_size=len(itos),
        embedding_dim=1,
        hidden_size=1,
    )
    torch.manual_seed(0)
    save(folder / "wide-lm", wide, CharTokenizer(itos), build_module(wide))
    deep_itos = ["<pad>", "<unk>", "word", "a"]
    deep = ModelConfig(
        name="deep-bilstm",
        description="64 layers, bidirectional, 47 M parameters",
        task="classifier",
        cell_kind="lstm",
        vocab_size=len(deep_itos),
        embedding_dim=64,
        hidden_size=175,
        num_layers=64,
        bidirectional=True,
        labels=["negative", "positive"],
    )
    save(folder / "deep-bilstm", deep, WordTokenizer(deep_itos), build_module(deep))
    return folder / "wide-lm", folder / "deep-bilstm"


async def hostile(url: str, query: str, said: dict[str, list[str]], label: str, gate) -> None:
    async with gate:
        session = HostileSession(url, None, Tally())
        start = time.perf_counter()
        try:
            texts = await session.open_link(query)
            lines = [
                line
                for line in texts.splitlines()
                if any(w in line for w in ("kept", "prefix", "try a text", "longer than"))
            ]
            queued = "queued, " if "ahead of yours" in texts else ""  # the admission gate's notice
            said.setdefault(label, []).append(
                f"{time.perf_counter() - start:5.1f} s, {queued}"
                + (lines[0][:150] if lines else "(no notice)")
            )
        except Exception as error:  # noqa: BLE001 — reported
            said.setdefault(label, []).append(f"failed: {type(error).__name__}: {error}"[:160])
        finally:
            await session.close()


async def main(args: argparse.Namespace) -> None:
    expect = Expectation(load_test.MODEL)
    folder = Path(tempfile.mkdtemp(prefix="rnnviz-hostile-"))
    wide, deep = hostile_models(folder)
    # As deployed (deploy/Dockerfile, `rnnviz app`): the system allocator, which the sweep trims.
    env = {"RNNVIZ_MEMORY_BUDGET_MB": str(args.budget_mb), "PYTHONMALLOC": args.python_malloc}
    server = ServerWithModels([wide, deep], env).start()
    pid = server.process.pid
    print(f"machine at start: {load_note()}")
    print(f"server RNNVIZ_MEMORY_BUDGET_MB={args.budget_mb} PYTHONMALLOC={args.python_malloc}")
    try:
        server.wait_healthy()
        # Warm means the server has drawn every view once (their first draw imports and builds what
        # the process then keeps, e.g. autograd's machinery: about 100 MiB), as a hall's server has.
        first = SocketSession(server.url, expect, Tally())
        await first.open()
        for title in [*load_test.VIEW_MARKERS, "Heatmaps"]:
            try:
                await first.view(title, load_test.DEFAULT_TEXT)
            except AssertionError as error:  # reported; the load goes on
                print(f"warm-up: {error}")
        await first.close()
        said: dict[str, list[str]] = {}
        for model in ("shakespeare-char-lstm", "sst2-bilstm", "wide-lm", "deep-bilstm"):
            await hostile(
                server.url, f"model={model}&text=a", said, "warm-up", asyncio.Semaphore(1)
            )
        await asyncio.sleep(SETTLE_S)  # the warm-up sessions and their runs are dropped
        warm = rss_mib([pid])
        print(
            f"RSS warm (every model loaded by a warm-up session, {SETTLE_S} s later): {warm:.0f} MiB"
        )
        peak = warm
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mib([pid]))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        rng = random.Random(0)
        letters = "abcdefghijklmnopqrstuvwxyz ,.;:!?ABCDEFGHIJ\n"
        said = {}
        gate = asyncio.Semaphore(args.wave)
        jobs = [
            hostile(
                server.url,
                f"model=shakespeare-char-lstm&text={quote(''.join(rng.choice(letters) for _ in range(2000)))}",
                said,
                "1. 2,000-character texts on shakespeare-char-lstm",
                gate,
            )
            for _ in range(args.texts)
        ]
        wide_text = "".join(chr(0x10000 + rng.randrange(199_000)) for _ in range(2000))
        jobs.append(
            hostile(
                server.url,
                f"model=wide-lm&text={quote(wide_text)}",
                said,
                "2. 200,000-entry vocabulary LM",
                gate,
            )
        )
        jobs += [
            hostile(
                server.url,
                f"model=sst2-bilstm&text={quote(' '.join(['a'] * 1000))}",
                said,
                "3. sst2-bilstm, 1,000 words",
                asyncio.Semaphore(3),
            )
            for _ in range(3)
        ]
        jobs.append(
            hostile(
                server.url,
                f"model=deep-bilstm&text={quote(' '.join(['word'] * 400))}",
                said,
                "4. 64-layer bidirectional LSTM, 400 words",
                gate,
            )
        )
        if args.bystanders_only:
            jobs = []
        tally = Tally()
        start = time.perf_counter()
        deadline = time.perf_counter() + args.duration
        bystanders = [
            student(lambda: SocketSession(server.url, expect, tally), seed, deadline, tally)
            for seed in range(args.bystanders)
        ]
        await asyncio.gather(*jobs, *bystanders)
        stop.set()
        await sampler
        closed = time.perf_counter()
        print(f"hostile load and bystanders done in {closed - start:.0f} s; {load_note()}")
        for label, lines in said.items():
            queued = sum("queued" in line for line in lines)
            slowest = max(
                (float(m[1]) for line in lines if (m := re.match(r"\s*([\d.]+) s", line))),
                default=0.0,
            )
            print(
                f"  {label}: {len(lines)} sessions, {queued} queued at the gate, slowest "
                f"{slowest:.1f} s; first says: {lines[0]}"
            )
        print(f"bystanders' Enter → heatmaps: {quantiles(tally.enter_to_heatmaps_s)}")
        print(f"bystanders' view and back:    {quantiles(tally.view_switch_s)}")
        print(f"  errors: {len(tally.errors)} {sorted(set(tally.errors))[:3]}")
        budget = args.budget_mb
        print(
            f"RSS peak during the load: {peak:.0f} MiB (budget {budget} MiB): "
            f"{'within' if peak <= budget else 'OVER'}"
        )
        returned = None
        for after in range(0, 61, 5):
            await asyncio.sleep(max(0.0, closed + after - time.perf_counter()))
            rss = rss_mib([pid])
            print(f"  {after:3d} s after the sessions closed: {rss:.0f} MiB")
            if returned is None and rss <= warm * 1.1:
                returned = after
        print(
            f"RSS back within 10 % of warm ({warm:.0f} MiB): "
            + (f"after {returned} s" if returned is not None else "NOT within 60 s")
        )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=90)
    parser.add_argument("--wave", type=int, default=10, help="hostile sessions open at once")
    parser.add_argument("--bystanders", type=int, default=5)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the bystanders type")
    parser.add_argument("--budget-mb", type=int, default=2048)
    parser.add_argument(
        "--python-malloc",
        default="malloc",
        help="the server's PYTHONMALLOC (pymalloc: Python's own small-object heap, its default)",
    )
    parser.add_argument(
        "--bystanders-only",
        action="store_true",
        help="no hostile sessions: the bystanders' latency on this machine as it is (the floor)",
    )
    asyncio.run(main(parser.parse_args()))
