"""The Lecture view as a lecturer meets it at a projector's 1280×720: every bundled model, each
direction it has, a short and a long text, beside the sidebar and on the presenter screen.

Each case opens the lecture, checks what is on the screen with the page's own geometry, steps one
token on in reading order and checks again. Screenshots of every case go to screens/ (not committed).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

import rnnviz

from .harness import ERROR_ALERT, EXCEPTION, REPO_ROOT, wait_until_idle

pytestmark = pytest.mark.e2e

PROJECTOR = {"width": 1280, "height": 720}
SCREENS = REPO_ROOT / "screens"
SENTIMENT = {
    "short": "the movie was not good",
    "long": "a gripping , funny and quite unforgettable film that never once lets go of its audience "
    "for a moment , although the second half is not as good as the first and the ending is far "
    "too long for its own good",
}
NEWS = {
    "short": "stocks fall as oil prices rise",
    "long": "the central bank raised interest rates again on tuesday as inflation stayed high , and "
    "shares of banks and oil companies fell sharply while investors waited for the quarterly "
    "earnings of the largest technology firms , which report next week",
}
SHAKESPEARE = {
    "short": "First Citizen:\nBefore we proceed",
    "long": "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.",
}
TEXTS = {
    "sst2-lstm": SENTIMENT,
    "sst2-gru": SENTIMENT,
    "sst2-rnn": SENTIMENT,
    "sst2-bilstm": SENTIMENT,
    "agnews-rnn": NEWS,
    "agnews-lstm": NEWS,
    "shakespeare-char-lstm": SHAKESPEARE,
}
READINGS = [(model, "forward") for model in TEXTS] + [("sst2-bilstm", "backward")]
CASES = [
    pytest.param(model, direction, mode, length, id=f"{model}-{direction}-{mode}-{length}")
    for model, direction in READINGS
    for mode in ("normal", "presenter")
    for length in ("short", "long")
]

# Every written equation: its box, whether it scrolls, and the box of its typeset content.
EQUATIONS_JS = """() => Array.from(document.querySelectorAll('.st-key-lecture .katex-display')).map(d => {
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const holder = d.closest('[data-testid="stElementContainer"]');
    const runs = Array.from(d.querySelectorAll('.katex-html .base')).map(box);
    return {source: (d.querySelector('annotation') || {}).textContent, display: box(d),
            content: [Math.min(...runs.map(r => r[0])), Math.min(...runs.map(r => r[1])),
                      Math.max(...runs.map(r => r[2])), Math.max(...runs.map(r => r[3]))],
            holder: box(holder),
            scroll_width: d.scrollWidth, client_width: d.clientWidth};
})"""
# The lecture's parts on the screen, the page's scroll height, and the smallest chart text.
PARTS_JS = """() => {
    const box = sel => { const e = document.querySelector(sel); if (!e) return null;
                         const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const smallest = sel => Math.min(...Array.from(document.querySelectorAll(sel + ' svg text'))
        .filter(t => t.textContent.trim()).map(t => parseFloat(getComputedStyle(t).fontSize)));
    const charts = ['.st-key-cell-diagram', '.st-key-step-prediction', '.st-key-reading-prediction',
                    '.st-key-concatenated-reading'];
    return {lecture: box('.st-key-lecture'), reading: box('.rnnviz-reading'),
            controls: box('.st-key-step_forward button'), diagram: box('.st-key-cell-diagram .js-plotly-plot'),
            bars: box('.st-key-step-prediction .js-plotly-plot'),
            both: box('.st-key-concatenated-reading .js-plotly-plot'),
            curve: box('.st-key-reading-prediction .js-plotly-plot'),
            fonts: charts.filter(c => document.querySelector(c)).map(c => [c, smallest(c)]),
            main_height: document.querySelector('[data-testid="stMain"]').scrollHeight};
}"""
# Each text of the cell diagram and the box it sits in (the shape holding its centre).
DIAGRAM_JS = """() => {
    const plot = document.querySelector('.st-key-cell-diagram .js-plotly-plot');
    if (!plot) return [];
    const rects = Array.from(plot.querySelectorAll('.shapelayer path')).map(p => p.getBoundingClientRect());
    return Array.from(plot.querySelectorAll('.annotation')).filter(a => a.textContent.trim()).map(a => {
        const r = a.querySelector('text').getBoundingClientRect();
        const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
        const inside = rects.find(b => b.left <= x && x <= b.right && b.top <= y && y <= b.bottom);
        return {text: a.textContent, margin: inside ? Math.min(r.left - inside.left, inside.right - r.right,
                r.top - inside.top, inside.bottom - r.bottom) : null};
    });
}"""
BARS_JS = """() => { const p = document.querySelector('.st-key-step-prediction .js-plotly-plot');
    return p ? Array.from(p.data[0].y) : null; }"""
CURRENT_JS = """() => { const c = document.querySelector('.rnnviz-reading .current');
    return c ? c.textContent : null; }"""
STEP_JS = "() => Number(new URL(location.href).searchParams.get('step') || 0)"
# Where the slider's thumb sits along its track, 0 (left) to 1 (right).
THUMB_JS = """() => { const value = document.querySelector('.st-key-lecture_step [data-testid="stSliderThumbValue"]');
    if (!value) return null; const thumb = value.parentElement.getBoundingClientRect();
    const track = value.parentElement.parentElement.getBoundingClientRect();
    return ((thumb.left + thumb.right) / 2 - track.left) / track.width; }"""


def shown_token(token: str) -> str:
    return token.replace(" ", "\u2423").replace("\n", "↵")


def url(server, model: str, direction: str, mode: str, text: str, step: int | None) -> str:
    query = {"model": model, "view": "lecture", "text": text}
    if direction != "forward":
        query["direction"] = direction
    if mode == "presenter":
        query["present"] = "1"
    if step is not None:
        query["step"] = str(step)
    return f"{server.url}/?{urlencode(query)}"


def settle(page, chart: str = ".st-key-cell-diagram") -> None:
    page.wait_for_selector(f"{chart} .js-plotly-plot")
    page.wait_for_selector(".st-key-lecture .katex-display")
    wait_until_idle(page)
    page.wait_for_timeout(400)  # plotly and KaTeX lay out after the run ends
    wait_until_idle(page)
    page.wait_for_function(  # a rerun's stale copy of the stage has been replaced
        "() => document.querySelectorAll('.st-key-lecture').length === 1", timeout=20_000
    )


LECTURE_PARTS = ("lecture", "reading", "controls", "diagram", "bars", "curve")


def check_screen(
    page, model: str, mode: str, classes: list[str] | None, parts_shown=LECTURE_PARTS
) -> list[str] | None:
    """What must hold on every screen of the lecture; returns the prediction bars' rows."""
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR_ALERT).count() == 0
    for equation in page.evaluate(EQUATIONS_JS):  # written in full, nothing scrolled or cut
        left, _, right, _ = equation["display"]
        content_left, _, content_right, _ = equation["content"]
        holder_left, _, holder_right, _ = equation["holder"]
        assert equation["scroll_width"] <= equation["client_width"] + 1, equation
        assert 0 <= left and right <= PROJECTOR["width"], equation
        assert holder_left - 1 <= content_left and content_right <= holder_right + 1, equation
        assert content_right <= PROJECTOR["width"], equation
    for text in page.evaluate(DIAGRAM_JS):  # numbers clear of the box edges, never "−0.00"
        assert not re.search(r"[-−]0\.00(?!\d)", text["text"]), text
        assert text["margin"] is None or text["margin"] >= 3, text
    parts = page.evaluate(PARTS_JS)
    if mode == "presenter":  # one screen: everything inside the viewport, chart text 20 px or more
        for name in parts_shown:
            if parts[name] is None:
                assert name == "curve" and classes is None, parts
                continue
            left, top, right, bottom = parts[name]
            assert 0 <= left and right <= PROJECTOR["width"] and 0 <= top, (name, parts)
            assert bottom <= PROJECTOR["height"], (name, parts)
        assert parts["main_height"] <= PROJECTOR["height"] + 2, parts
        for chart, size in parts["fonts"]:
            assert size >= 20, (chart, parts["fonts"])
    bars = page.evaluate(BARS_JS)
    if classes is not None:  # every class, in the model's own order
        assert bars == classes, bars
    return bars


@pytest.fixture
def projector_page(browser, app_server):
    context = browser.new_context(viewport=PROJECTOR)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.mark.parametrize("model, direction, mode, length", CASES)
def test_the_lecture_fits_reads_in_order_and_keeps_the_class_order(
    app_server, projector_page, model, direction, mode, length
):
    page = projector_page
    SCREENS.mkdir(exist_ok=True)
    text = TEXTS[model][length]
    loaded = rnnviz.load(model)
    tokens = list(loaded.encode(text).tokens)
    classifier = loaded.config.task == "classifier"
    classes = list(loaded.config.labels) if classifier else None
    # forward: opened on a token of the link; backward: opened without one, at its own first token
    first = 2 if direction == "forward" else None
    page.goto(url(app_server, model, direction, mode, text, first), wait_until="domcontentloaded")
    settle(page)
    opened = 2 if direction == "forward" else len(tokens) - 1
    assert page.evaluate(CURRENT_JS) == shown_token(tokens[opened])
    if (
        direction == "backward"
    ):  # the first token in reading order: nothing before it, the slider at its start
        assert page.evaluate(STEP_JS) == len(tokens) - 1
        assert page.locator(".st-key-step_back button").first.is_disabled()
        assert page.locator(".st-key-step_forward button").first.is_enabled()
        assert page.evaluate(THUMB_JS) < 0.05
    before = check_screen(page, model, mode, classes)
    name = f"{model}-{direction}-{mode}-{length}"
    page.screenshot(path=str(SCREENS / f"{name}-1.png"))

    page.locator(".st-key-step_forward button").first.click()  # one token on, in reading order
    after_step = opened + (1 if direction == "forward" else -1)
    page.wait_for_function(f"() => ({STEP_JS})() === {after_step}")
    page.wait_for_function(
        f"t => ({CURRENT_JS})() === t", arg=shown_token(tokens[after_step]), timeout=30_000
    )
    settle(page)
    after = check_screen(page, model, mode, classes)
    if classifier:
        assert after == before  # the class order does not follow the probabilities
    if direction == "backward":
        assert 0 < page.evaluate(THUMB_JS) < 0.5  # the slider fills in reading order, from the left
    page.mouse.move(0, PROJECTOR["height"] - 1)  # no tooltip over the screenshot
    page.wait_for_timeout(400)
    page.screenshot(path=str(SCREENS / f"{name}-2.png"))


CURRENT_TOKENS_JS = """() => Array.from(document.querySelectorAll('.rnnviz-reading .current'))
    .map(c => c.textContent)"""


@pytest.mark.parametrize("mode", ["normal", "presenter"])
@pytest.mark.parametrize("length", ["short", "long"])
def test_a_bidirectional_lecture_reads_both_ways_each_from_its_own_first_token(
    app_server, projector_page, mode, length
):
    page, model = projector_page, "sst2-bilstm"
    SCREENS.mkdir(exist_ok=True)
    text = TEXTS[model][length]
    tokens = list(rnnviz.load(model).encode(text).tokens)
    address = url(app_server, model, "forward", mode, text, None) + "&both=1"
    page.goto(address, wait_until="domcontentloaded")
    settle(page, ".st-key-concatenated-reading")
    # forward at its first token (the first word), backward at its own (the last word)
    assert page.evaluate(CURRENT_TOKENS_JS) == [tokens[0], tokens[-1]]
    both_parts = ("lecture", "reading", "controls", "both")
    check_screen(page, model, mode, None, both_parts)
    if mode == "presenter":
        assert page.evaluate(PARTS_JS)["main_height"] <= PROJECTOR["height"] + 2
    name = f"{model}-both-{mode}-{length}"
    page.screenshot(path=str(SCREENS / f"{name}-1.png"))
    page.locator(".st-key-step_forward button").first.click()
    page.wait_for_function(
        f"t => JSON.stringify(({CURRENT_TOKENS_JS})()) === t",
        arg=json.dumps([tokens[1], tokens[-2]], ensure_ascii=False).replace(", ", ","),
        timeout=30_000,
    )
    settle(page, ".st-key-concatenated-reading")
    check_screen(page, model, mode, None, both_parts)
    page.mouse.move(0, PROJECTOR["height"] - 1)
    page.screenshot(path=str(SCREENS / f"{name}-2.png"))


# Every chart of a presenter screen: its box and its smallest text.
CHARTS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map(chart => {
    const r = chart.getBoundingClientRect();
    const sizes = Array.from(chart.querySelectorAll('svg text')).filter(t => t.textContent.trim())
        .map(t => parseFloat(getComputedStyle(t).fontSize));
    return {box: [r.left, r.top, r.right, r.bottom], smallest: Math.min(...sizes)};
})"""


@pytest.mark.parametrize("view", ["heatmaps", "compare", "gradients"])
@pytest.mark.parametrize("model", list(TEXTS))
def test_the_presenter_screens_of_heatmaps_compare_and_gradients_fit_one_projector_screen(
    app_server, projector_page, model, view
):
    page = projector_page
    SCREENS.mkdir(exist_ok=True)
    query = {"model": model, "view": view, "present": "1", "text": TEXTS[model]["short"]}
    page.goto(f"{app_server.url}/?{urlencode(query)}", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot')
    wait_until_idle(page)
    page.wait_for_timeout(600)
    wait_until_idle(page)
    assert page.locator(EXCEPTION).count() == 0 and page.locator(ERROR_ALERT).count() == 0
    page.screenshot(path=str(SCREENS / f"{view}-{model}-presenter.png"))
    charts = page.evaluate(CHARTS_JS)
    assert charts
    for chart in charts:
        left, top, right, bottom = chart["box"]
        assert 0 <= left and right <= PROJECTOR["width"] and 0 <= top, (view, chart)
        assert bottom <= PROJECTOR["height"], (view, chart)
        assert chart["smallest"] >= 20, (view, chart)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    assert height <= PROJECTOR["height"] + 2
    assert page.locator("h1").first.is_hidden()  # no page title, sentence box or tabs
