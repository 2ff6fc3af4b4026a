"""Pages side by side on the same 12-word sentences, interleaved: what a part of the page costs.

Each page (a script path) is served by its own Streamlit server and timed as bench/bench_app.py times
the sentence (Enter → every heatmap redrawn, and → the whole page finished). bench/variants/ holds the
app with one part left out, so that the difference to app.py in the same run is that part's cost.

    .venv/bin/python bench/ab_pages.py [--runs 12] bench/minimal_page.py app.py bench/variants/app_without_sidebar.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from bench_app import Scenario, percentile, sentence_variants  # noqa: E402
from harness import StreamlitServer, launch_chromium  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", help="Streamlit scripts; the first is the floor")
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--model", default="sst2-lstm", help="the bundled model the app pages show")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    sentences = sentence_variants(args.runs, seed=3)
    servers = [StreamlitServer(page) for page in args.pages]
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            scenarios = []
            for page, server in zip(args.pages, servers):
                server.start().wait_healthy()
                model = None if "minimal" in Path(page).name else args.model
                scenario = Scenario(page, server, sentences, model)
                scenario.open(browser)
                scenarios.append(scenario)
            for i in range(args.runs):
                for scenario in scenarios:
                    scenario.run_once(sentences[i])
            browser.close()
    finally:
        for server in servers:
            server.stop()
    floor = statistics.median(scenarios[0].timings_ms)
    print(f"12-word sentences, {args.runs} runs each, interleaved; ratio to {args.pages[0]}")
    print(f"{'page':<44} {'heatmaps ms':>11} {'p90':>5} {'ratio':>6} {'whole page ms':>13}")
    for s in scenarios:
        median = statistics.median(s.timings_ms)
        print(
            f"{s.name:<44} {median:>11.0f} {percentile(s.timings_ms, 0.9):>5.0f} "
            f"{median / floor:>5.2f}× {statistics.median(s.settled_ms):>13.0f}"
        )


if __name__ == "__main__":
    main()
