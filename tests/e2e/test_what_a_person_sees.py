"""What a person meets in the browser is right: every hover names its own quantity and value, and a
click on any panel selects that token and unit."""

from __future__ import annotations

import re

import numpy as np
import pytest
from arithmetic import check_written_update, previous_index

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.app.views import VIEWS as REGISTERED_VIEWS
from rnnviz.figures import LABELS

from .conftest import CONTENT_HEIGHT_JS, SCREENSHOT_DIR
from .harness import EXCEPTION, wait_for_heatmaps, wait_until_idle
from .probes import (
    SELECTED_CELLS_JS,
    TITLE_AND_LEGEND_BOXES_JS,
    boxes_intersect,
    cell_centre,
    hover_lines,
)

pytestmark = pytest.mark.e2e
SCREENSHOTS = SCREENSHOT_DIR
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

MODEL = "sst2-lstm"
SHORT = "the movie was not good"  # side by side: one row of panels
LONG = "a gripping , funny and quite unforgettable film that never once lets go of its audience for a moment"
GRID_CHART_JS = """q => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .findIndex(p => (p.data || []).some(t => t.type === 'heatmap' && t.name === q))"""


def open_heatmaps(page, url: str, text: str) -> int:
    page.goto(
        f"{url}/?model={MODEL}&text={text.replace(' ', '+')}&order=index",
        wait_until="domcontentloaded",
    )
    wait_for_heatmaps(page)
    wait_until_idle(page)
    return page.evaluate(GRID_CHART_JS, "hidden")


@pytest.mark.parametrize("text", [SHORT, LONG], ids=["side-by-side", "stacked"])
def test_hovering_a_cell_of_every_panel_names_its_quantity_and_shows_its_value(
    app_server, page, text, screenshot
):
    run = inspect_text(rnnviz.load(MODEL), text)
    chart = open_heatmaps(page, app_server.url, text)
    step, row = 3, 12
    for quantity in run.recurrent_call.quantities:
        centre = cell_centre(page, chart, quantity, step, row)
        lines = hover_lines(page, centre["x"], centre["y"])
        assert lines[0] == LABELS[quantity], lines
        assert f"unit {row}" in lines and re.fullmatch(
            r"token (not|funny) ·3|token (not|funny)", lines[1]
        ), lines
        shown = float(lines[-1].removeprefix("value "))
        assert shown == pytest.approx(run.states(0, "forward", quantity)[step, row], abs=6e-4), (
            quantity,
            lines,
        )
    screenshot("hovered")
    assert page.locator(EXCEPTION).count() == 0


@pytest.mark.parametrize("text", [SHORT, LONG], ids=["side-by-side", "stacked"])
def test_clicking_a_cell_in_any_panel_selects_that_token_and_unit(app_server, page, text):
    chart = open_heatmaps(page, app_server.url, text)
    for k, quantity in enumerate(["input_gate", "forget_gate", "cell_gate", "output_gate", "cell"]):
        step, row = k % 4, 5 + k
        centre = cell_centre(page, chart, quantity, step, row)
        page.mouse.click(centre["x"], centre["y"])
        page.wait_for_function(
            "([chart, cell]) => { const s = (" + SELECTED_CELLS_JS + ")(chart);"
            " return s.length > 0 && s.every(c => c[0] === cell[0] && c[1] === cell[1]); }",
            arg=[chart, [step, row]],
            timeout=20_000,
        )
        wait_until_idle(page)
        page.wait_for_function(
            "([s, u]) => { const p = new URL(location.href).searchParams;"
            " return (p.get('unit') || '0') === u && (p.get('step') || '0') === s; }",
            arg=[str(step), str(row)],
        )
        chart = page.evaluate(GRID_CHART_JS, "hidden")


CURRENT_TOKEN_JS = """() => { const c = document.querySelector('.rnnviz-reading .current');
    return c ? c.textContent : null; }"""
STEP_IN_URL_JS = "() => Number(new URL(location.href).searchParams.get('step') || 0)"
# Records every token the lecture marks as current, as the page changes (no polling that a busy
# machine could make miss a step): window.rnnvizTokens, consecutive repeats dropped.
RECORD_CURRENT_TOKENS_JS = """() => { window.rnnvizTokens = [];
    const note = () => { const c = document.querySelector('.rnnviz-reading .current');
        const seen = window.rnnvizTokens;
        if (c && seen[seen.length - 1] !== c.textContent) seen.push(c.textContent); };
    note(); new MutationObserver(note).observe(document.body,
        {subtree: true, childList: true, characterData: true}); }"""


def lecture_step(page) -> int:
    return page.evaluate(STEP_IN_URL_JS)


def test_play_walks_the_lecture_through_the_sentence_and_stops_at_the_end_and_pause_keeps_the_step(
    app_server, page
):
    text = "i did not like this movie at all"
    tokens = text.split()
    page.goto(
        f"{app_server.url}/?view=lecture&text={text.replace(' ', '+')}",
        wait_until="domcontentloaded",
    )
    page.wait_for_selector(".rnnviz-reading .current")
    wait_until_idle(page)
    page.evaluate(RECORD_CURRENT_TOKENS_JS)
    page.get_by_role("button", name="play").click()
    page.wait_for_function("() => window.rnnvizTokens.length >= 4", timeout=60_000)
    seen = page.evaluate("() => window.rnnvizTokens")
    assert seen[:4] == tokens[:4], f"play should move token by token: {seen}"
    page.get_by_role("button", name="pause").click()
    wait_until_idle(page)
    paused_at = page.evaluate(CURRENT_TOKEN_JS)
    page.evaluate("t => { window.rnnvizTokens = [t]; }", paused_at)
    # more than two play intervals: any step taken meanwhile is recorded
    page.wait_for_timeout(3000)
    assert page.evaluate("() => window.rnnvizTokens") == [paused_at], "pause keeps the step"
    assert page.evaluate(CURRENT_TOKEN_JS) == paused_at and tokens[lecture_step(page)] == paused_at
    page.get_by_role("button", name="play").click()
    page.wait_for_function(
        "last => { const c = document.querySelector('.rnnviz-reading .current');"
        " return c && c.textContent === last; }",
        arg=tokens[-1],
        timeout=60_000,
    )
    page.get_by_role("button", name="play").wait_for(
        timeout=30_000
    )  # it stopped by itself at the end
    wait_until_idle(page)
    page.evaluate("t => { window.rnnvizTokens = [t]; }", tokens[-1])
    page.wait_for_timeout(2500)
    assert page.evaluate("() => window.rnnvizTokens") == [tokens[-1]], "nothing moves after the end"
    assert page.evaluate(CURRENT_TOKEN_JS) == tokens[-1] and lecture_step(page) == len(tokens) - 1
    assert page.locator(EXCEPTION).count() == 0


def test_arrow_keys_step_the_lecture_and_the_backward_direction_reads_right_to_left(
    app_server, page
):
    page.goto(
        f"{app_server.url}/?view=lecture&model=sst2-bilstm&direction=backward&layer=1&step=4",
        wait_until="domcontentloaded",
    )
    page.wait_for_selector(".rnnviz-reading .current")
    wait_until_idle(page)
    assert page.evaluate(CURRENT_TOKEN_JS) == "good"
    page.locator(
        ".rnnviz-reading"
    ).click()  # the page has the keyboard, as after a person's first click
    page.wait_for_timeout(300)
    for key, token in (("ArrowRight", "not"), ("ArrowRight", "was"), ("ArrowLeft", "not")):
        page.keyboard.press(key)  # → on, in reading order: right to left; ← back
        page.wait_for_function(f"() => ({CURRENT_TOKEN_JS})() === '{token}'", timeout=20_000)
        wait_until_idle(page)  # the step's run has finished, as a person sees before pressing again
        page.wait_for_timeout(300)
    unread = page.evaluate(
        "() => Array.from(document.querySelectorAll('.rnnviz-reading .unread')).length"
    )
    assert unread == 3  # "the movie was" not yet read by the backward direction


PROJECTOR = {"width": 1280, "height": 720}
LAPTOP = {"width": 1600, "height": 1000}
# Page boxes of the presenter screen's parts, and the smallest font size of any text in its two charts.
PRESENTER_PARTS_JS = """() => {
    const box = sel => { const e = document.querySelector(sel); if (!e) return null;
                         const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const smallest = sel => Math.min(...Array.from(document.querySelectorAll(sel + ' svg text'))
        .filter(t => t.textContent.trim()).map(t => parseFloat(getComputedStyle(t).fontSize)));
    return {reading: box('.rnnviz-reading'), back: box('.st-key-step_back button'),
            forward: box('.st-key-step_forward button'), play: box('.st-key-play button'),
            diagram: box('.st-key-cell-diagram .js-plotly-plot'), update: box('.st-key-lecture .katex-display'),
            prediction: box('.st-key-step-prediction .js-plotly-plot'),
            diagram_font: smallest('.st-key-cell-diagram'), prediction_font: smallest('.st-key-step-prediction')};
}"""


def test_the_presenter_screen_holds_controls_diagram_update_and_prediction_on_one_projector_screen(
    browser, app_server
):
    page = browser.new_context(viewport=PROJECTOR).new_page()
    try:
        page.goto(
            f"{app_server.url}/?view=lecture&present=1&text=i+did+not+like+this+movie+at+all&step=3",
            wait_until="domcontentloaded",
        )
        page.wait_for_selector(".st-key-step-prediction .js-plotly-plot")
        wait_until_idle(page)
        page.wait_for_timeout(500)
        parts = page.evaluate(PRESENTER_PARTS_JS)
        page.screenshot(path=str(SCREENSHOTS / "presenter-1280x720.png"))
        for name in ("reading", "back", "forward", "play", "diagram", "update", "prediction"):
            left, top, right, bottom = parts[name]
            assert (
                0 <= left
                and right <= PROJECTOR["width"]
                and 0 <= top
                and bottom <= PROJECTOR["height"]
            ), (name, parts)
        assert parts["diagram_font"] >= 20 and parts["prediction_font"] >= 20, parts
        assert page.locator("h1").first.is_hidden()  # no page title on the presenter screen
        assert page.locator(EXCEPTION).count() == 0
    finally:
        page.context.close()


def test_the_written_update_on_the_page_adds_up_for_the_backward_direction(page, app_server):
    """sst2-bilstm, layer 1, backward, unit 17, token 3: the page's own KaTeX source, read back and evaluated."""
    page.goto(
        f"{app_server.url}/?view=lecture&model=sst2-bilstm&layer=1&direction=backward&unit=17&step=3",
        wait_until="domcontentloaded",
    )
    page.wait_for_selector(".st-key-lecture .katex-display")
    wait_until_idle(page)
    sources = page.evaluate(
        "() => Array.from(document.querySelectorAll('.st-key-lecture annotation'))"
        ".map(a => a.textContent)"
    )
    update = [s for s in sources if "c_{3}" in s and "f \\cdot" in s]
    assert update, sources
    assert previous_index(update[0]) == 4  # the backward direction starts from c at t + 1
    check_written_update("lstm", [update[0], next(s for s in sources if "h_{3} &= o" in s)])
    run = inspect_text(rnnviz.load("sst2-bilstm"), "the movie was not good")
    c_next = run.states(1, "backward", "cell")[4, 17]
    assert f"({c_next:.3f})" in update[0]


VIEWS = [view.name for view in REGISTERED_VIEWS]  # every view the page offers


@pytest.mark.parametrize("size", [PROJECTOR, LAPTOP], ids=["projector", "laptop"])
def test_no_chart_title_covers_its_legend_in_any_view_and_every_view_is_screenshotted(
    browser, app_server, size
):
    page = browser.new_context(viewport=size).new_page()
    try:
        for view in VIEWS:
            page.goto(f"{app_server.url}/?view={view}", wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMainBlockContainer"]')
            wait_until_idle(page)
            page.wait_for_timeout(1500 if view in ("gradients", "corpus") else 600)
            wait_until_idle(page)
            for chart in page.evaluate(TITLE_AND_LEGEND_BOXES_JS):
                assert not boxes_intersect(chart["title"], chart["legend"]), (view, chart)
            height = min(page.evaluate(CONTENT_HEIGHT_JS), 9000)
            page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
            page.screenshot(
                path=str(SCREENSHOTS / f"view-{view}-{size['width']}x{size['height']}.png"),
                full_page=True,
            )
            page.set_viewport_size(size)
            assert page.locator(EXCEPTION).count() == 0, view
    finally:
        page.context.close()


WHATIF_CURVES_JS = """() => { const plot = document.querySelector('.st-key-whatif-curves .js-plotly-plot');
    return plot ? plot._fullData.map(t => ({name: t.name, y: Array.from(t.y)})) : null; }"""


def test_editing_units_inside_the_recurrence_changes_the_prediction_curve_on_a_negation_pair(
    page, app_server
):
    page.goto(f"{app_server.url}/?view=whatif&unit=0", wait_until="domcontentloaded")
    page.get_by_role("button", name="Lesson example", exact=False).click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '3'")
    page.wait_for_selector(".st-key-whatif-curves .js-plotly-plot")
    wait_until_idle(page)
    curves = {c["name"]: np.array(c["y"]) for c in page.evaluate(WHATIF_CURVES_JS)}
    trained, edited = curves["as trained"], curves["edited"]
    # before 'not' (tokens 0-2) the edit has not happened yet; from 'not' on the curve moves
    np.testing.assert_allclose(edited[:3], trained[:3], atol=1e-3)
    assert abs(edited[-1] - trained[-1]) > 0.2, (trained, edited)
    # the page says so, with the labels it computed
    model = rnnviz.load(MODEL)
    run = inspect_text(model, "the movie was not good")
    assert trained[-1] == pytest.approx(float(run.predictions[-1].max()), abs=1e-3)
    text = (
        page.locator('[data-testid="stMarkdown"]')
        .filter(has_text="After the last token")
        .inner_text()
    )
    assert "the prediction changes" in text, text
    assert page.locator(EXCEPTION).count() == 0
