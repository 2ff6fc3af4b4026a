"""Where the time of one sentence goes: Enter → every heatmap redrawn, split into its parts.

Starts a page (the app by default, or --page bench/minimal_page.py), types a different 12-word
sentence per run (bench_app.sentence_variants) and prints, per run and as medians:
  - server: the rerun request leaving the browser → the rerun's last message arriving, as Chrome's
    DevTools report websocket frames (stamped in the page's renderer, so a busy page delays them
    too: an upper bound; the script itself took 25–90 ms of these 150–250 in the runs of 2026-12-05);
  - bytes: what the websocket brought for that rerun;
  - browser: the rest (protobuf, React, plotly.js drawing), total − server (a lower bound);
  - server CPU: the server process's CPU time over the run (what load from others does not inflate);
then the browser's CPU profile over all runs (Chrome DevTools Protocol), self time by function.

    .venv/bin/python bench/profile_sentence.py [--runs 8] [--page app.py] [--model sst2-lstm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from bench_app import ARM_JS, RUN_TIMEOUT_MS, sentence_variants  # noqa: E402
from harness import (  # noqa: E402
    SENTENCE_INPUT,
    StreamlitServer,
    expected_tokens,
    heatmap_columns,
    launch_chromium,
    wait_for_heatmaps,
    wait_until_idle,
)


def process_cpu_ms(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--page", default="app.py")
    parser.add_argument("--model", default="sst2-lstm")
    parser.add_argument("--top", type=int, default=25, help="functions listed by self time")
    parser.add_argument(
        "--trace", action="store_true", help="Chrome's timeline: self time by event over the runs"
    )
    parser.add_argument("--messages", action="store_true", help="print every message of each run")
    args = parser.parse_args()
    model = (
        None if "minimal" in Path(args.page).name else args.model
    )  # the bare pages: one column a character
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(args.page).start()
    rows = []
    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(RUN_TIMEOUT_MS)
            page.goto(server.url + (f"/?model={model}" if model else "/"))
            wait_for_heatmaps(page)
            wait_until_idle(page)
            traces = sum(len(chart) for chart in heatmap_columns(page))
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            # websocket frames as DevTools reports them (see the docstring: an upper bound)
            frames: list[tuple[float, str, int]] = []
            cdp.send("Network.enable")
            for event, way in (
                ("Network.webSocketFrameSent", "sent"),
                ("Network.webSocketFrameReceived", "received"),
            ):
                cdp.on(
                    event,
                    lambda e, way=way: frames.append(
                        (e["timestamp"] * 1000, way, len(e["response"]["payloadData"]) * 3 // 4)
                    ),
                )
            sentences = sentence_variants(args.runs + 2, seed=7)
            for i, text in enumerate(sentences):
                if i == 2:  # two warm-up runs
                    cdp.send("Profiler.start")
                    if args.trace:
                        browser.start_tracing(page=page, categories=["devtools.timeline"])
                sentence = page.locator(SENTENCE_INPUT)
                sentence.fill(text)
                page.evaluate(ARM_JS, [len(expected_tokens(text, model)), traces, RUN_TIMEOUT_MS])
                frames.clear()
                cpu_before = process_cpu_ms(server.process.pid)
                sentence.press("Enter")
                total = page.evaluate("() => window.__benchResult")
                wait_until_idle(page)
                cpu_ms = process_cpu_ms(server.process.pid) - cpu_before
                sent = next(t for t, way, _ in frames if way == "sent")  # the rerun request
                received = [(t - sent, size) for t, way, size in frames if way == "received"]
                if args.messages:
                    print("enter epoch", page.evaluate("() => window.__enterEpoch"))
                    print([(round(t), size) for t, size in received], round(total))
                if i >= 2:
                    server_ms = received[-1][0]  # the last message: the script has finished
                    rows.append(
                        (
                            total,
                            server_ms,
                            total - server_ms,
                            sum(size for _, size in received),
                            cpu_ms,
                        )
                    )
            profile = cdp.send("Profiler.stop")["profile"]
            trace = browser.stop_tracing() if args.trace else None
            browser.close()
    finally:
        server.stop()

    print(f"{args.page}: Enter → every heatmap redrawn, {len(rows)} runs")
    header = ("total ms", "server ms", "browser ms", "bytes", "server CPU ms")
    print(f"{'run':>4} " + " ".join(f"{name:>13}" for name in header))
    for i, row in enumerate(rows, 1):
        print(f"{i:>4} " + " ".join(f"{value:>13.0f}" for value in row))
    medians = [statistics.median(column) for column in zip(*rows)]
    print(f"{'med':>4} " + " ".join(f"{value:>13.0f}" for value in medians))
    # the CPU profile: self time per function (samples × interval), over the profiled runs
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile["timeDeltas"]
    self_us: Counter = Counter()
    by_script: Counter = Counter()
    for sample, delta in zip(profile["samples"], deltas):
        frame = nodes[sample]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1] or "(native)"
        self_us[f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber']}"] += delta
        by_script[where.split(".")[0] if frame["url"] else frame["functionName"]] += delta
    busy = sum(us for name, us in self_us.items() if not name.startswith("(idle)"))
    print(f"\nbrowser CPU, {len(rows)} runs: busy {busy / 1000 / len(rows):.0f} ms per run")
    for name, us in by_script.most_common(args.top):
        if name != "(idle)":
            print(f"{us / 1000 / len(rows):>8.1f} ms/run  {name} (all its functions)")
    for name, us in self_us.most_common(args.top):
        if not name.startswith("(idle)"):
            print(f"{us / 1000 / len(rows):>8.1f} ms/run  {name}")

    if trace:
        print(
            f"\nbrowser timeline, self time per run by event (renderer main thread), {len(rows)} runs"
        )
        for name, us in timeline_self_time(trace).most_common(args.top):
            print(f"{us / 1000 / len(rows):>8.1f} ms/run  {name}")


def timeline_self_time(trace: bytes) -> Counter:
    """Self time (µs) of Chrome's timeline events on the renderer's main thread, by event name."""
    import json

    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    main_threads = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    spans = sorted(
        (e["ts"], e["ts"] + e["dur"], e["name"])
        for e in events
        if e.get("ph") == "X" and (e["pid"], e["tid"]) in main_threads and e.get("dur")
    )
    self_us: Counter = Counter()
    stack: list[list] = []  # [end, name, child time]
    for start, end, name in spans:
        while stack and stack[-1][0] <= start:
            done = stack.pop()
            self_us[done[1]] += done[3] - done[2]
        if stack:
            stack[-1][2] += end - start
        stack.append([end, name, 0, end - start])
    for done in stack:
        self_us[done[1]] += done[3] - done[2]
    return self_us


if __name__ == "__main__":
    main()
