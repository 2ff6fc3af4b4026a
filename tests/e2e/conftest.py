"""End-to-end fixtures: the real Streamlit server for app.py, headless Chromium, a fresh page per test,
and screenshots saved under artifacts/screenshots/ for every test that asks for them.

`./dev.sh test` installs /usr/bin/chromium; without it (or without playwright) these tests skip.
"""

from __future__ import annotations

import re
import tempfile

import pytest

from .harness import CHROMIUM, REPO_ROOT, ServerFailed, StreamlitServer, launch_chromium

SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 8000
# Streamlit scrolls its main area, not the document, so full_page alone stops at the viewport.
CONTENT_HEIGHT_JS = """() => (document.querySelector('[data-testid="stMain"]')
    || document.documentElement).scrollHeight"""


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: `./dev.sh test` installs it (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def served_app(**env: str):
    """app.py served by `python -m streamlit run` from the repo root until the generator is closed
    (a fixture's body); a server that does not come up fails the test with its output."""
    # One torch thread: the machines running the suite are small and often busy.
    # A data folder of its own: the Class view's rooms never land in the user's home.
    data = {"RNNVIZ_DATA_HOME": tempfile.mkdtemp(prefix="rnnviz-data-")}
    server = StreamlitServer("app.py", env={"OMP_NUM_THREADS": "1", **data, **env}).start()
    try:
        server.wait_healthy()
    except ServerFailed as failure:
        server.stop()
        pytest.fail(str(failure), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server():
    """app.py for the whole session."""
    yield from served_app()


@pytest.fixture
def page(browser, app_server):
    """A fresh browser context and a blank page, per test; the test opens app_server.url with its query."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(request, page):
    """screenshot(label) saves the whole page as artifacts/screenshots/<test name>-<label>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    def save(label: str):
        path = SCREENSHOT_DIR / f"{test_name}-{label}.png"
        height = min(
            max(page.evaluate(CONTENT_HEIGHT_JS), VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT
        )
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        try:
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(VIEWPORT)
        return path

    return save
