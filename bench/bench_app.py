"""Latency of the app in a real browser, beside a minimal Streamlit page as the floor.

Starts `streamlit run app.py` and `streamlit run bench/minimal_page.py` (each on its own port),
and, as a second floor for the long passage, bench/minimal_same_cells.py (as many cells as the app draws),
drives headless Chromium (/usr/bin/chromium), and times, inside the page with performance.now(),
Enter in the sentence box → every heatmap redrawn for the new text (each heatmap's x has one
column per token) at the width Streamlit measured, then one more animation frame (Streamlit hands
a new chart to plotly.js twice: Plotly.newPlot, then Plotly.react with a copy). Scenarios run
interleaved, one run each in turn, so background load hits them
alike; every run types a text not seen before whose token count differs from the previous one (so
"redrawn" is unambiguous): for the sentence a different 12-word sentence each run (other words, so
neither the server's caches nor Streamlit's message cache answer for it), for the passage the same
characters with other letters' case flipped (a character model reads them as other tokens).
Cold start: server process start → first heatmap drawn in a fresh page.
Prints median and p90 per scenario and the ratio to the minimal page, for the heatmaps and for the
whole page (the script run over and every chart drawn).

    .venv/bin/python bench/bench_app.py [--runs 12] [--app-long "..."] [--sentence-only]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import (
    CHROMIUM,
    HEATMAP_COLUMNS_JS,
    IDLE,
    SENTENCE_BOX,
    StreamlitServer,  # noqa: E402
    expected_tokens,
    heatmap_columns,
    launch_chromium,
    wait_for_heatmaps,
    wait_until_idle,
)

# The short texts: 12-word sentences shaped like "the movie was not good but the actors were really
# quite charming", each run a different one (different words, so no cache on the server or on the
# wire answers for it), every other one ending in a full stop (13 tokens, so the redraw is unambiguous).
SENTENCE_WORDS = {
    "subject": "movie film story script plot ending score premise dialogue direction".split(),
    "degree": "not very rather so truly hardly".split(),
    "quality": (
        "good bad dull funny clever boring moving predictable charming awful brilliant slow warm "
        "silly tender bland gripping tedious"
    ).split(),
    "link": "but and yet".split(),
    "others": "actors characters jokes scenes songs visuals performances effects".split(),
    "often": "really often always sometimes mostly never".split(),
}
# The first 400 characters of Tiny Shakespeare (/work/shared/data/tinyshakespeare/input.txt), newlines
# as spaces: the minimal pages' text inputs hold one line (the browser drops typed line breaks).
APP_LONG = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\nAll:\n"
    "We know't, we know't.\n\nFirst Citizen:\nLet us kill him, and we'll have corn at our own price.\n"
    "Is't a verdict?\n\nAll:\nNo more talking on't; let it "
).replace("\n", " ")
RUN_TIMEOUT_MS = 60_000

# Installed before Enter is pressed: t0 at the Enter keydown, t1 at the first animation frame after
# every heatmap on the page has `columns` columns, there are at least `traces` of them (stale
# charts of the previous text keep the condition false until the rerun has replaced them) and each
# chart holding them has had its visible draw.
ARM_JS = f"""([columns, traces, timeoutMs]) => {{
    const heatmapColumns = {HEATMAP_COLUMNS_JS};
    let settle;
    // The whole page: the heatmaps redrawn, then the script run finished (its last message handled)
    // and every chart on the page (the prediction's too) drawn at its visible width.
    window.__benchSettled = new Promise(resolve => {{ settle = resolve; }});
    window.__benchResult = new Promise((resolve, reject) => {{
        let t0 = null, heatmapsDone = false, finished = false;
        const onKey = event => {{ if (event.key === 'Enter' && t0 === null) {{
            t0 = performance.now(); window.__enterEpoch = Date.now(); }} }};
        const stop = () => {{
            finished = true;
            observer.disconnect(); clearInterval(poll); clearTimeout(limit);
            document.removeEventListener('keydown', onKey, true);
        }};
        // Streamlit draws a new chart twice: hidden at Plotly's automatic width, then visible at the
        // width it measured (layout.width set). Done means the visible draw of every heatmap chart.
        const drawn = plot => plot.layout && plot.layout.width !== undefined && plot._fullLayout
                              && plot._fullLayout.width === plot.layout.width;
        const plots = () => Array.from(document.querySelectorAll('.js-plotly-plot'));
        const visible = () => plots()
            .filter(plot => (plot.data || []).some(trace => trace.type === 'heatmap')).every(drawn);
        const check = () => {{
            if (finished || t0 === null) return;
            if (!heatmapsDone) {{
                const found = heatmapColumns().flat();
                if (found.length >= traces && found.every(c => c === columns) && visible()) {{
                    heatmapsDone = true;
                    requestAnimationFrame(() => resolve(performance.now() - t0));
                }}
            }}
            if (heatmapsDone && document.querySelector('{IDLE}') && plots().every(drawn)) {{
                stop();
                requestAnimationFrame(() => settle(performance.now() - t0));
            }}
        }};
        const observer = new MutationObserver(check);
        const poll = setInterval(check, 10);
        const limit = setTimeout(() => {{ stop();
            reject(new Error('heatmaps not redrawn with ' + columns + ' columns within ' + timeoutMs + ' ms: '
                             + JSON.stringify(heatmapColumns()))); }}, timeoutMs);
        document.addEventListener('keydown', onKey, true);
        observer.observe(document.body, {{subtree: true, childList: true, attributes: true}});
    }});
}}"""


def sentence_variants(runs: int, seed: int = 0) -> list[str]:
    """`runs` different 12-word sentences (see SENTENCE_WORDS), every other one with a full stop."""
    rng = random.Random(seed)
    pick = {slot: (lambda words=words: rng.choice(words)) for slot, words in SENTENCE_WORDS.items()}
    sentences: list[str] = []
    while len(sentences) < runs:
        sentence = (
            f"the {pick['subject']()} was {pick['degree']()} {pick['quality']()} {pick['link']()} "
            f"the {pick['others']()} were {pick['often']()} {pick['degree']()} {pick['quality']()}"
        )
        if len(sentences) % 2:
            sentence += " ."
        # one column per character on the bare page: its count must change from run to run too
        if sentence not in sentences and (not sentences or len(sentence) != len(sentences[-1])):
            sentences.append(sentence)
    return sentences


def text_variants(text: str, runs: int) -> list[str]:
    """`runs` distinct texts from `text` for a character model: a different set of words with the
    first letter's case flipped each time (different tokens), the last word dropped on every other
    run (token counts alternate)."""
    words = [match.start() for match in re.finditer(r"[A-Za-z]+", text)]
    variants = []
    for i in range(runs):
        chars = list(text)
        mask = i // 2 + 1
        for bit, start in enumerate(words):
            if mask >> bit & 1:
                chars[start] = chars[start].swapcase()
        variant = "".join(chars)
        variants.append(variant.rsplit(maxsplit=1)[0] if i % 2 else variant)
    if len(set(variants)) < runs:
        raise SystemExit(
            f"cannot make {runs} distinct texts from {text!r}: use fewer --runs or a longer text"
        )
    return variants


@dataclass
class Scenario:
    name: str
    server: StreamlitServer
    texts: list[str]  # one per timed run, in order
    model: str | None  # named in the URL; None for the minimal page (one token per character)
    page: object = None
    traces: int = 0  # heatmap traces the page draws for one text
    timings_ms: list[float] = field(default_factory=list)
    settled_ms: list[float] = field(default_factory=list)  # Enter → the whole page finished

    @property
    def url(self) -> str:
        return self.server.url + (f"/?model={self.model}" if self.model else "/")

    def open(self, browser) -> float:
        """Open a fresh page and wait until its first heatmaps are drawn; seconds since the server started."""
        self.page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        self.page.set_default_timeout(RUN_TIMEOUT_MS)
        self.page.goto(self.url, wait_until="domcontentloaded")
        wait_for_heatmaps(self.page)
        drawn = time.perf_counter() - self.server.started_at
        wait_until_idle(self.page)
        self.traces = sum(len(chart) for chart in heatmap_columns(self.page))
        return drawn

    def run_once(self, text: str) -> None:
        columns = len(expected_tokens(text, self.model))
        shown = {c for chart in heatmap_columns(self.page) for c in chart}
        if shown == {columns}:
            raise RuntimeError(
                f"{self.name}: the page already shows {columns} columns; pick texts whose token counts differ"
            )
        sentence = self.page.locator(SENTENCE_BOX)
        sentence.fill(text)
        self.page.evaluate(ARM_JS, [columns, self.traces, RUN_TIMEOUT_MS])
        is_area = sentence.evaluate("box => box.tagName === 'TEXTAREA'")
        sentence.press("Control+Enter" if is_area else "Enter")
        self.timings_ms.append(self.page.evaluate("() => window.__benchResult"))
        self.settled_ms.append(self.page.evaluate("() => window.__benchSettled"))
        wait_until_idle(self.page)  # the next run starts from a finished one


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="timed runs per scenario (default 12)")
    parser.add_argument("--app-long", default=APP_LONG, help="the long text typed into the app")
    parser.add_argument(
        "--model", default="sst2-lstm", help="bundled model the app shows for the sentences"
    )
    parser.add_argument(
        "--long-model", default="shakespeare-char-lstm", help="bundled model for --app-long"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for the app's server (default: unset, as users run it)",
    )
    parser.add_argument(
        "--sentence-only",
        action="store_true",
        help="time only the 12-word sentences (no passage, no same-cells page)",
    )
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium (./dev.sh test does)")
    from playwright.sync_api import sync_playwright

    sentences = sentence_variants(args.runs)
    passages = text_variants(args.app_long, args.runs)
    app_env = {"OMP_NUM_THREADS": str(args.torch_threads)} if args.torch_threads else None
    servers = {
        "minimal page": StreamlitServer("bench/minimal_page.py"),
        "app": StreamlitServer("app.py", env=app_env),
        "same-cells page": StreamlitServer("bench/minimal_same_cells.py"),
    }
    cold_s = {}
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            scenarios = [
                Scenario("minimal page, text", servers["minimal page"], sentences, None),
                Scenario("minimal page, long", servers["minimal page"], passages, None),
                Scenario("app, text", servers["app"], sentences, args.model),
                Scenario("app, long", servers["app"], passages, args.long_model or args.model),
                # a second floor for the passage: a bare page drawing as many cells as the app does
                Scenario("same-cells page, long", servers["same-cells page"], passages, None),
            ]
            if args.sentence_only:
                scenarios = [s for s in scenarios if s.texts is sentences]
                servers.pop("same-cells page").stop()  # never started
            for kind, server in servers.items():  # one at a time, so cold starts do not compete
                server.start().wait_healthy()
                cold_s[kind] = next(s for s in scenarios if s.server is server).open(browser)
            for scenario in scenarios:
                if scenario.page is None:
                    scenario.open(browser)
            for i in range(args.runs):
                for scenario in scenarios:
                    scenario.run_once(scenario.texts[i])
                print(
                    f"run {i + 1}/{args.runs}: "
                    + ", ".join(f"{s.name} {s.timings_ms[-1]:.0f} ms" for s in scenarios),
                    file=sys.stderr,
                    flush=True,
                )
            browser.close()
    finally:
        for server in servers.values():
            server.stop()

    print(f"\nEnter → every heatmap redrawn, headless Chromium, {args.runs} runs each, interleaved")
    print(
        f"{'scenario':<24} {'tokens':>7} {'median ms':>10} {'p90 ms':>8} {'ratio to minimal':>17}"
    )
    floors = {
        s.texts[0]: statistics.median(s.timings_ms)
        for s in scenarios
        if s.server is servers["minimal page"]
    }
    for s in scenarios:
        median = statistics.median(s.timings_ms)
        counts = sorted({len(expected_tokens(text, s.model)) for text in s.texts})
        tokens = f"{counts[0]}–{counts[-1]}" if len(counts) > 1 else str(counts[0])
        print(
            f"{s.name:<24} {tokens:>7} {median:>10.0f} {percentile(s.timings_ms, 0.9):>8.0f} "
            f"{median / floors[s.texts[0]]:>16.2f}×"
        )
    print("\nEnter → the whole page finished (script run over, every chart drawn), same runs")
    settled_floors = {
        s.texts[0]: statistics.median(s.settled_ms)
        for s in scenarios
        if s.server is servers["minimal page"]
    }
    for s in scenarios:
        median = statistics.median(s.settled_ms)
        print(
            f"{s.name:<24} {'':>7} {median:>10.0f} {percentile(s.settled_ms, 0.9):>8.0f} "
            f"{median / settled_floors[s.texts[0]]:>16.2f}×"
        )
    medians = {s.name: statistics.median(s.timings_ms) for s in scenarios}
    if not args.sentence_only:
        cells = f"6 × 64 × {len(expected_tokens(args.app_long))} cells"
        print(
            f"\napp, long beside the same-cells page ({cells}, plain Plotly): "
            f"{medians['app, long'] / medians['same-cells page, long']:.2f}×"
        )
    print("\ncold start: server process start → first heatmap drawn in a fresh page")
    print(f"{'page':<24} {'seconds':>7} {'ratio to minimal':>17}")
    for kind, seconds in cold_s.items():
        print(f"{kind:<24} {seconds:>7.1f} {seconds / cold_s['minimal page']:>16.2f}×")


if __name__ == "__main__":
    main()
