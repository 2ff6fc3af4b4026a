"""What a person meets in the browser is right: every hover names its own quantity and value, and a
click on any panel selects that token and unit."""

from __future__ import annotations

import re

import pytest

import rnnviz
from rnnviz.figures import LABELS
from rnnviz.inspection import inspect_text

from .harness import EXCEPTION, wait_for_heatmaps, wait_until_idle
from .probes import SELECTED_CELLS_JS, cell_centre, hover_lines

pytestmark = pytest.mark.e2e

MODEL = "sst2-lstm"
SHORT = "the movie was not good"  # side by side: one row of panels
LONG = "a gripping , funny and quite unforgettable film that never once lets go of its audience for a moment"
GRID_CHART_JS = """q => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .findIndex(p => (p.data || []).some(t => t.type === 'heatmap' && t.name === q))"""


def open_heatmaps(page, url: str, text: str) -> int:
    page.goto(f"{url}/?model={MODEL}&text={text.replace(' ', '+')}&order=index", wait_until="domcontentloaded")
    wait_for_heatmaps(page)
    wait_until_idle(page)
    return page.evaluate(GRID_CHART_JS, "hidden")


@pytest.mark.parametrize("text", [SHORT, LONG], ids=["side-by-side", "stacked"])
def test_hovering_a_cell_of_every_panel_names_its_quantity_and_shows_its_value(app_server, page, text, screenshot):
    run = inspect_text(rnnviz.load(MODEL), text)
    chart = open_heatmaps(page, app_server.url, text)
    step, row = 3, 12
    for quantity in run.recorded.quantities:
        centre = cell_centre(page, chart, quantity, step, row)
        lines = hover_lines(page, centre["x"], centre["y"])
        assert lines[0] == LABELS[quantity], lines
        assert f"unit {row}" in lines and re.fullmatch(r"token (not|funny) ·3|token (not|funny)", lines[1]), lines
        shown = float(lines[-1].removeprefix("value "))
        assert shown == pytest.approx(run.states(0, "forward", quantity)[step, row], abs=6e-4), (quantity, lines)
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
            arg=[chart, [step, row]], timeout=20_000)
        wait_until_idle(page)
        page.wait_for_function("([s, u]) => { const p = new URL(location.href).searchParams;"
                               " return (p.get('unit') || '0') === u && (p.get('step') || '0') === s; }",
                               arg=[str(step), str(row)])
        chart = page.evaluate(GRID_CHART_JS, "hidden")


CURRENT_TOKEN_JS = """() => { const c = document.querySelector('.rnnviz-reading .current');
    return c ? c.textContent : null; }"""
STEP_IN_URL_JS = "() => Number(new URL(location.href).searchParams.get('step') || 0)"


def lecture_step(page) -> int:
    return page.evaluate(STEP_IN_URL_JS)


def test_play_walks_the_lecture_through_the_sentence_and_stops_at_the_end_and_pause_keeps_the_step(app_server, page):
    text = "i did not like this movie at all"
    tokens = text.split()
    page.goto(f"{app_server.url}/?view=lecture&text={text.replace(' ', '+')}", wait_until="domcontentloaded")
    page.wait_for_selector(".rnnviz-reading .current")
    wait_until_idle(page)
    page.get_by_role("button", name="play").click()
    seen = []
    for _ in range(150):  # at most ~15 s for 8 tokens at 1.2 s each
        token = page.evaluate(CURRENT_TOKEN_JS)
        if token and (not seen or seen[-1] != token):
            seen.append(token)
        if len(seen) >= 4:
            break
        page.wait_for_timeout(100)
    assert seen[:4] == tokens[:4], f"play should move token by token: {seen}"
    page.get_by_role("button", name="pause").click()
    wait_until_idle(page)
    paused_at = page.evaluate(CURRENT_TOKEN_JS)
    page.wait_for_timeout(3000)  # more than two play intervals
    assert page.evaluate(CURRENT_TOKEN_JS) == paused_at, "pause keeps the step"
    assert tokens[lecture_step(page)] == paused_at
    page.get_by_role("button", name="play").click()
    page.wait_for_function("last => { const c = document.querySelector('.rnnviz-reading .current');"
                           " return c && c.textContent === last; }", arg=tokens[-1], timeout=20_000)
    page.get_by_role("button", name="play").wait_for(timeout=10_000)  # it stopped by itself at the end
    page.wait_for_timeout(2500)
    assert page.evaluate(CURRENT_TOKEN_JS) == tokens[-1] and lecture_step(page) == len(tokens) - 1
    assert page.locator(EXCEPTION).count() == 0


def test_arrow_keys_step_the_lecture_and_the_backward_direction_reads_right_to_left(app_server, page):
    page.goto(f"{app_server.url}/?view=lecture&model=sst2-bilstm&direction=backward&layer=1&step=4",
              wait_until="domcontentloaded")
    page.wait_for_selector(".rnnviz-reading .current")
    wait_until_idle(page)
    assert page.evaluate(CURRENT_TOKEN_JS) == "good"
    page.keyboard.press("ArrowRight")  # on, in reading order: right to left
    page.wait_for_function(f"() => ({CURRENT_TOKEN_JS})() === 'not'")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({CURRENT_TOKEN_JS})() === 'was'")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => ({CURRENT_TOKEN_JS})() === 'not'")
    unread = page.evaluate("() => Array.from(document.querySelectorAll('.rnnviz-reading .unread')).length")
    assert unread == 3  # "the movie was" not yet read by the backward direction
