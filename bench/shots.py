"""Screenshots of chosen links at a projector's 1280×720, for looking at: one server, one browser.

    python bench/shots.py OUT_DIR 'model=agnews-lstm&view=heatmaps' 'view=lecture&direction=backward' ...

Each query becomes OUT_DIR/<n>-first-screen.png (what the room sees first) and OUT_DIR/<n>.png (the
whole page). Not a test: a person judges the pictures (bench/view_table.py sweeps every view).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.harness import IDLE, StreamlitServer, launch_chromium  # noqa: E402

SCREEN = {"width": 1280, "height": 720}
CONTENT_HEIGHT_JS = """() => (document.querySelector('[data-testid="stMain"]')
    || document.documentElement).scrollHeight"""


def open_link(page, url: str, query: str) -> None:
    page.set_viewport_size(SCREEN)
    page.goto(f"{url}/?{query}", wait_until="domcontentloaded")
    # the tabs (or, on a presenter screen without them, the screen's first chart) show the script ran
    page.wait_for_selector('[data-testid="stButtonGroup"], .js-plotly-plot', state="attached")
    page.wait_for_timeout(500)
    page.wait_for_selector(IDLE, state="attached")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(p => p._fullLayout)",
        polling=100,
    )
    page.wait_for_timeout(400)


def save(page, path: Path, whole: bool = True) -> None:
    page.screenshot(path=str(path.with_name(path.stem + "-first-screen.png")))
    if whole:
        height = min(max(page.evaluate(CONTENT_HEIGHT_JS), SCREEN["height"]), 8000)
        page.set_viewport_size({"width": SCREEN["width"], "height": height})
        page.wait_for_timeout(300)
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(SCREEN)


@contextmanager
def served_page() -> Iterator[tuple[StreamlitServer, object]]:
    """app.py on one server and one 1280×720 Chromium page, closed after the block."""
    server = StreamlitServer("app.py", env={"OMP_NUM_THREADS": "1"}).start()
    try:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_context(viewport=SCREEN).new_page()
            page.set_default_timeout(180_000)
            yield server, page
            browser.close()
    finally:
        server.stop()


def main(out: str, queries: list[str]) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with served_page() as (server, page):
        for n, query in enumerate(queries):
            open_link(page, server.url, query)
            save(page, folder / f"{n}.png")
            print(n, query, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
