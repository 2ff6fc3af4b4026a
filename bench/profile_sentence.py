"""Where the time of one sentence goes: Enter → every heatmap redrawn, split into its parts.

Starts a page (the app by default, or --page bench/minimal_page.py), types a different 12-word
sentence per run (bench_app.sentence_variants) and prints, per run and as medians:
  - server: Enter → the last websocket message of the rerun (the script's run, its messages sent);
  - bytes: what the websocket brought for that rerun;
  - browser: the last message → every heatmap redrawn (protobuf, React, plotly.js drawing);
then the browser's CPU profile over all runs (Chrome DevTools Protocol), self time by function.

    .venv/bin/python bench/profile_sentence.py [--runs 8] [--page app.py] [--model sst2-lstm]
"""

from __future__ import annotations

import argparse
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

# Every websocket message the page receives: its arrival time (performance.now()) and size.
RECORD_WEBSOCKET_JS = """(() => {
    window.__messages = [];
    const Original = window.WebSocket;
    window.WebSocket = function (...args) {
        const socket = new Original(...args);
        socket.addEventListener('message', event => {
            const size = event.data.byteLength ?? event.data.size ?? event.data.length;
            window.__messages.push([performance.now(), size]);
        });
        return socket;
    };
    window.WebSocket.prototype = Original.prototype;
    Object.assign(window.WebSocket, Original);
})();"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--page", default="app.py")
    parser.add_argument("--model", default="sst2-lstm")
    parser.add_argument("--top", type=int, default=25, help="functions listed by self time")
    parser.add_argument("--messages", action="store_true", help="print every message of each run")
    args = parser.parse_args()
    model = None if "minimal" in Path(args.page).name else args.model  # the bare pages: one column a character
    from playwright.sync_api import sync_playwright

    server = StreamlitServer(args.page).start()
    rows = []
    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.add_init_script(RECORD_WEBSOCKET_JS)
            page.set_default_timeout(RUN_TIMEOUT_MS)
            page.goto(server.url + (f"/?model={model}" if model else "/"))
            wait_for_heatmaps(page)
            wait_until_idle(page)
            traces = sum(len(chart) for chart in heatmap_columns(page))
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            sentences = sentence_variants(args.runs + 2, seed=7)
            for i, text in enumerate(sentences):
                if i == 2:  # two warm-up runs
                    cdp.send("Profiler.start")
                sentence = page.locator(SENTENCE_INPUT)
                sentence.fill(text)
                page.evaluate("() => { window.__messages = []; }")
                page.evaluate(
                    ARM_JS, [len(expected_tokens(text, model)), traces, RUN_TIMEOUT_MS]
                )
                enter = page.evaluate("() => performance.now()")
                enter_epoch = page.evaluate("() => Date.now()")
                sentence.press("Enter")
                total = page.evaluate("() => window.__benchResult")
                wait_until_idle(page)
                messages = page.evaluate("() => window.__messages")
                done = enter + total
                before = [(t, size) for t, size in messages if t <= done]
                if args.messages:
                    print(enter_epoch, [(round(t - enter), size) for t, size in messages], round(total))
                if i >= 2 and before:
                    rows.append(
                        (
                            total,
                            before[-1][0] - enter,
                            done - before[-1][0],
                            sum(size for _, size in before),
                        )
                    )
            profile = cdp.send("Profiler.stop")["profile"]
            browser.close()
    finally:
        server.stop()

    print(f"{args.page}: Enter → every heatmap redrawn, {len(rows)} runs")
    print(f"{'run':>4} {'total ms':>9} {'server ms':>10} {'browser ms':>11} {'bytes':>9}")
    for i, (total, server_ms, browser_ms, size) in enumerate(rows, 1):
        print(f"{i:>4} {total:>9.0f} {server_ms:>10.0f} {browser_ms:>11.0f} {size:>9}")
    medians = [statistics.median(column) for column in zip(*rows)]
    print(
        f"{'med':>4} {medians[0]:>9.0f} {medians[1]:>10.0f} {medians[2]:>11.0f} {medians[3]:>9.0f}"
    )
    # the CPU profile: self time per function (samples × interval), over the profiled runs
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile["timeDeltas"]
    self_us: Counter = Counter()
    for sample, delta in zip(profile["samples"], deltas):
        frame = nodes[sample]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1] or "(native)"
        self_us[f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber']}"] += delta
    busy = sum(us for name, us in self_us.items() if not name.startswith("(idle)"))
    print(f"\nbrowser CPU, {len(rows)} runs: busy {busy / 1000 / len(rows):.0f} ms per run")
    for name, us in self_us.most_common(args.top):
        if not name.startswith("(idle)"):
            print(f"{us / 1000 / len(rows):>8.1f} ms/run  {name}")


if __name__ == "__main__":
    main()
