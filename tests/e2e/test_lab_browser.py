"""The training lab in a real browser, on a server of its own whose lab bound is one job
(RNNVIZ_LAB_JOBS=1): a second session waits and sees its place in line, then trains; Stop reads as
stopped with the partial progress; a closed tab's job frees the slot; the charts keep their titles
clear of their legends and print no scientific notation at 1280×720 and 1600×1000."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import CONTENT_HEIGHT_JS, SCREENSHOT_DIR, served_app
from .harness import EXCEPTION, wait_until_idle

pytestmark = pytest.mark.e2e

PROGRESS_TEXT_JS = """() => { const bar = document.querySelector('[data-testid="stProgress"]');
    return bar ? bar.innerText : null; }"""
PROGRESS_VALUE_JS = """() => { const bar = document.querySelector('[data-testid="stProgress"] [role="progressbar"]');
    return bar ? Number(bar.getAttribute('aria-valuenow')) : null; }"""
WARNING = '[data-testid="stAlertContentWarning"]'
SUCCESS = '[data-testid="stAlertContentSuccess"]'
# Per lab chart (the two live charts come first): its title's and legend's boxes, and the chart's own box.
CHART_BOXES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => {
    const box = element => { if (!element) return null; const r = element.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
    return {title: (plot.querySelector('.gtitle') || {}).textContent || '',
            titleBox: box(plot.querySelector('.gtitle')),
            legendBox: box(plot.querySelector('.legend')), chartBox: box(plot.querySelector('.main-svg'))};
})"""
SVG_TEXTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot text')).map(t => t.textContent)"""
SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][+\-−]?\d")


@pytest.fixture(scope="module")
def lab_server():
    """app.py with one lab job at a time, so that a second session waits."""
    yield from served_app(RNNVIZ_LAB_JOBS="1")


def open_lab(browser, server, viewport=(1280, 720)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/?view=lab", wait_until="domcontentloaded")
    page.get_by_role("button", name="Train").wait_for()
    wait_until_idle(page)
    return page


def progress_text(page) -> str:
    return page.evaluate(PROGRESS_TEXT_JS) or ""


def step_of(text: str) -> int | None:
    found = re.search(r"step (\d+),", text)
    return int(found.group(1)) if found else None


def wait_for_progress(page, pattern: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = progress_text(page)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(100)
    raise AssertionError(f"progress never matched {pattern!r}; last: {progress_text(page)!r}")


def steps_moving(page, count: int = 3, timeout_s: float = 60.0) -> list[int]:
    """Distinct, increasing step numbers read off the progress bar while it trains."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < count and time.monotonic() < deadline:
        step = step_of(progress_text(page))
        if step is not None and (not seen or step != seen[-1]):
            seen.append(step)
        page.wait_for_timeout(100)
    assert len(seen) >= count and seen == sorted(seen), f"the progress should move: {seen}"
    return seen


def train_rnn(page) -> None:
    """A vanilla RNN at the defaults trains for its whole budget (it does not reach the target)."""
    page.get_by_text("RNN (tanh)", exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Train").click()


def save(page, name: str) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    height = min(max(page.evaluate(CONTENT_HEIGHT_JS), viewport["height"]), 8000)
    page.set_viewport_size({"width": viewport["width"], "height": height})
    try:
        page.screenshot(path=str(SCREENSHOT_DIR / f"lab-{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(viewport)


def test_with_a_bound_of_one_the_second_session_waits_in_line_then_trains_and_stop_reads_as_stopped(
    browser, lab_server
):
    first = open_lab(browser, lab_server)
    second = open_lab(browser, lab_server)
    try:
        train_rnn(first)
        wait_for_progress(first, r"training — step")
        second.get_by_role("button", name="Train").click()
        waiting = wait_for_progress(second, r"waiting: ")
        assert "waiting: 1st in line" in waiting
        assert second.get_by_text("This server's one training slot is busy").count() == 1
        save(second, "queue-waiting-1280x720")
        page_steps = steps_moving(first)
        assert "waiting: 1st in line" in progress_text(second), "the only slot is still taken"

        first.get_by_role("button", name="Stop").click()
        stopped = wait_for_progress(first, r"stopped — step")
        step = step_of(stopped)
        assert step >= page_steps[-1]
        warning = first.locator(WARNING)
        warning.wait_for()
        assert warning.inner_text().startswith(f"Stopped after {step} steps in ")
        assert warning.inner_text().count("steps") == 1 and first.locator(SUCCESS).count() == 0
        fraction = first.evaluate(PROGRESS_VALUE_JS)
        assert 0 < fraction < 100, f"a stopped run keeps its partial progress, not {fraction} %"
        shown = int(re.search(r"at (\d+)% of its budget", warning.inner_text()).group(1))
        assert abs(shown - fraction) <= 1  # the bar's value is a whole percent, the text rounds
        save(first, "stopped-1280x720")

        # The slot is free: the waiting session's LSTM trains now, and reaches its target.
        wait_for_progress(second, r"training — step|done — step", timeout_s=30)
        second.locator(SUCCESS).wait_for(timeout=60_000)
        assert second.locator(SUCCESS).inner_text().startswith("Done: reached")
        second.get_by_text("The trained model, inside").wait_for()
        for page in (first, second):
            assert page.locator(EXCEPTION).count() == 0
    finally:
        first.context.close()
        second.context.close()


def set_longest_run(page) -> None:
    """The longest run the page allows: a 60 s budget and 100,000 steps, so that it cannot end on its own
    within a minute of starting."""
    page.get_by_text("training settings").click()
    budget = page.locator('[data-testid="stSlider"]').filter(has_text="time budget (s)")
    budget.get_by_role("slider").press("End")
    wait_until_idle(page)
    steps = page.get_by_label("max steps")
    steps.fill("100000")
    steps.press("Enter")
    wait_until_idle(page)
    assert budget.locator('[data-testid="stSliderThumbValue"]').inner_text() == "60"
    assert steps.input_value() == "100000"


def test_a_closed_tab_frees_its_training_slot_for_the_next_in_line(browser, lab_server):
    first = open_lab(browser, lab_server)
    second = open_lab(browser, lab_server)
    try:
        set_longest_run(first)
        train_rnn(first)
        wait_for_progress(first, r"training — step")
        second.get_by_role("button", name="Train").click()
        wait_for_progress(second, r"waiting: 1st in line")
        first.context.close()  # the websocket closes: Streamlit no longer counts that session as active
        # The event: the waiting session trains. The first run cannot have ended on its own before
        # 60 s of training; the scheduler notices a closed tab after its 10 s grace, checked every
        # second, so a generous 45 s wait still tells the two apart.
        wait_for_progress(second, r"training — step|done — step", timeout_s=45)
        second.locator(SUCCESS).wait_for(timeout=60_000)
    finally:
        second.context.close()


def boxes_intersect(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


@pytest.mark.parametrize("viewport", [(1280, 720), (1600, 1000)], ids=["1280x720", "1600x1000"])
def test_lab_charts_keep_titles_whole_and_clear_of_legends_and_print_plain_decimals(
    browser, lab_server, viewport
):
    page = open_lab(browser, lab_server, viewport)
    try:
        page.get_by_role(
            "button", name="Train"
        ).click()  # the default LSTM reaches its target in seconds
        page.locator(SUCCESS).wait_for(timeout=90_000)
        page.get_by_text("The trained model, inside").wait_for()
        wait_until_idle(page)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot .gtitle').length >= 2"
        )
        charts = page.evaluate(CHART_BOXES_JS)
        live = [
            chart
            for chart in charts
            if chart["title"] in ("held-out loss and accuracy", "‖∂loss/∂h_t‖ per timestep")
        ]
        assert len(live) == 2, [chart["title"] for chart in charts]
        for chart in live:
            title, legend, whole = chart["titleBox"], chart["legendBox"], chart["chartBox"]
            assert not boxes_intersect(title, legend), (
                f"{chart['title']}: title {title} overlaps legend {legend}"
            )
            assert whole["left"] <= title["left"] and title["right"] <= whole["right"], (
                f"{chart['title']} is cut off"
            )
        texts = page.evaluate(SVG_TEXTS_JS)
        scientific = [text for text in texts if SCIENTIFIC.search(text)]
        assert not scientific, f"numbers in scientific notation on the lab page: {scientific[:5]}"
        assert page.locator(EXCEPTION).count() == 0
        save(page, f"trained-{viewport[0]}x{viewport[1]}")
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
        page.screenshot(
            path=str(SCREENSHOT_DIR / f"lab-first-screen-{viewport[0]}x{viewport[1]}.png")
        )
    finally:
        page.context.close()
