"""Every view × every bundled model × each direction × a short and a long text, in the real page at a
projector's 1280×720, read as a person meets it: no exception and no failed view, no chart title over
its legend, magnitude heatmaps whose lightness runs one way, no written block cut or scrolled, token
labels whole and clear of their axis title, point labels of two curves apart, a classifier's classes
in a fixed order, the selected unit's row labelled, neighbouring token labels apart, a trajectory's
labels clear of each other, and a heatmap's cells on the first screen (short and long texts).

One server for the whole session (conftest.app_server) and one browser page for the module. Each case
collects every finding over its views and fails once, listing them all. A screenshot of every page
goes to $RNNVIZ_MATRIX_SCREENSHOTS (default artifacts/screenshots/view-matrix/). The lecture view's
own details are tests/e2e/test_lecture_matrix.py's; here it is in the sweep for exceptions only.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from colour import runs_one_way

import rnnviz
from rnnviz.app.views import VIEWS
from rnnviz.models.presets import NEWS, SHAKESPEARE, VANISHING_GRADIENT_TEXT

from .conftest import CONTENT_HEIGHT_JS, MAX_SCREENSHOT_HEIGHT, REPO_ROOT
from .harness import IDLE

pytestmark = pytest.mark.e2e

SCREEN = {"width": 1280, "height": 720}
SCREENSHOTS = Path(
    os.environ.get(
        "RNNVIZ_MATRIX_SCREENSHOTS", REPO_ROOT / "artifacts" / "screenshots" / "view-matrix"
    )
)
TEXTS = {  # model kind → (short, long)
    "sentiment": ("the movie was not good", VANISHING_GRADIENT_TEXT),
    "news": ("Google shares jump after strong quarterly profit", NEWS[0]),
    "shakespeare": ("First Citizen:", SHAKESPEARE[2]),
}
MODELS = {  # name → (kind, directions)
    "sst2-lstm": ("sentiment", ("forward",)),
    "sst2-gru": ("sentiment", ("forward",)),
    "sst2-rnn": ("sentiment", ("forward",)),
    "sst2-bilstm": ("sentiment", ("forward", "backward")),
    "agnews-rnn": ("news", ("forward",)),
    "agnews-lstm": ("news", ("forward",)),
    "shakespeare-char-lstm": ("shakespeare", ("forward",)),
}
CASES = [
    (model, direction, length)
    for model, (_, directions) in MODELS.items()
    for direction in directions
    for length in ("short", "long")
]
CHART_VIEWS = {"heatmaps", "inspector", "compare", "trajectory", "whatif", "memory", "gradients"}
VIEW_NAMES = [view.name for view in VIEWS]
# they do not read the sentence (the corpus reads its data set): once per model and direction
TEXT_FREE_VIEWS = {view.name for view in VIEWS if not view.reads_text} | {"corpus"}
PROJECTOR_VIEWS = {"inspector", "compare", "whatif"}  # their axis labels read from the back row
MIN_TICK_PX = 14
FIRST_SCREEN_CELLS_PX = 60  # a few rows of cells: enough to see that heatmaps follow
TRAJECTORY_TITLE = "hidden-state trajectory"
MAGNITUDE_TITLE = "‖∂"  # the gradient-flow and state-dependence heatmaps' titles

# Everything the checks read from the drawn page, in one pass. A written block counts as cut when it
# scrolls by more than 4 px (KaTeX's displays overhang their box by a pixel or two).
PAGE_FINDINGS_JS = r"""() => {
    const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const hit = (a, b) => a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5;
    const seen = b => b[2] - b[0] > 0 && b[3] - b[1] > 0;
    const found = {
        exceptions: document.querySelectorAll('[data-testid="stException"]').length,
        failed: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]'))
            .map(e => e.innerText).filter(t => t.includes('This view failed')),
        cut: Array.from(document.querySelectorAll('.katex-display, [data-testid="stMarkdownContainer"]'))
            .filter(e => e.scrollWidth > e.clientWidth + 4).map(e => e.innerText.slice(0, 60)),
        charts: [],
    };
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const layout = plot._fullLayout || {}, frame = box(plot);
        const title = plot.querySelector('.g-gtitle .gtitle'), legend = plot.querySelector('.legend');
        const ticks = Array.from(plot.querySelectorAll('.xtick text')).filter(t => seen(box(t)));
        const rowTicks = Array.from(plot.querySelectorAll('.ytick text')).filter(t => seen(box(t)));
        const axisTitle = plot.querySelector('.xtitle');
        const cells = Array.from(plot.querySelectorAll('.heatmaplayer image')).map(box).filter(seen);
        const selected = (plot.data || []).find(t => t.name === 'selected');
        found.charts.push({
            title: (layout.title && layout.title.text) || '',
            top: frame[1],
            cellsTop: cells.length ? Math.min(...cells.map(b => b[1])) : null,
            // flat or upright labels only: a slanted label's box takes in its neighbour's corner
            ticksOverlap: ticks.filter(t => {
                const turn = (t.getAttribute('transform') || '').match(/rotate\((-?[\d.]+)/);
                return !turn || Number(turn[1]) % 90 === 0;
            }).map(box).some((b, i, all) => i > 0 && hit(all[i - 1], b)),
            titleOverLegend: !!(title && legend && seen(box(title)) && seen(box(legend))
                                && hit(box(title), box(legend))),
            scales: (plot._fullData || []).filter(t => t.type === 'heatmap')
                .map(t => (t.coloraxis ? layout[t.coloraxis].colorscale : t.colorscale).map(s => s[1])),
            heatmaps: (plot._fullData || []).filter(t => t.type === 'heatmap').length,
            lines: (plot._fullData || []).filter(t => t.type === 'scatter' && t.showlegend !== false)
                .map(t => t.name),
            ticksOutside: ticks.filter(t => { const b = box(t);
                return b[0] < frame[0] - 1 || b[2] > frame[2] + 1 || b[3] > frame[3] + 1; })
                .map(t => t.textContent).concat(rowTicks.filter(t => box(t)[0] < frame[0] - 1)
                .map(t => t.textContent)),
            axisTitleOverTicks: !!(axisTitle && seen(box(axisTitle))
                                   && ticks.some(t => hit(box(axisTitle), box(t)))),
            pointTexts: Array.from(plot.querySelectorAll('.scatterlayer .trace'))
                .map(g => Array.from(g.querySelectorAll('.textpoint text')).map(box).filter(seen)),
            selectedUnit: selected ? Number(Array.from(selected.customdata[0])[1]) : null,
            smallestTickPx: Math.min(...ticks.concat(rowTicks)
                .map(t => parseFloat(getComputedStyle(t).fontSize))),
            unitTicks: Array.from(plot.querySelectorAll('.ytick text')).map(t => t.textContent),
        });
    }
    return found;
}"""


def boxes_meet(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def problems_on_page(found: dict, view: str, classes: list[str], length: str) -> list[str]:
    """What a person would see wrong on one drawn page, in words."""
    problems = [f"{found['exceptions']} exception(s)"] if found["exceptions"] else []
    problems += [f"view failed: {text[:120]}" for text in found["failed"]]
    if view != "lecture":  # the lecture's written updates are test_lecture_matrix's
        problems += [f"text cut or scrolled: {text!r}" for text in found["cut"]]
    for chart in found["charts"]:
        name = chart["title"][:50] or "untitled chart"
        if chart["titleOverLegend"]:
            problems.append(f"{name}: title over its legend")
        if MAGNITUDE_TITLE in chart["title"]:
            problems += [
                f"{name}: magnitude colours do not run one way"
                for scale in chart["scales"]
                if not runs_one_way(scale)
            ]
        if chart["ticksOutside"]:
            problems.append(f"{name}: token labels cut {chart['ticksOutside'][:3]}")
        if chart["axisTitleOverTicks"]:
            problems.append(f"{name}: axis title over the token labels")
        if chart["ticksOverlap"]:
            problems.append(f"{name}: neighbouring token labels on top of each other")
        texts = chart["pointTexts"]
        # along one curve over token positions; on a trajectory, any two of a path's labels
        pairs = (
            [(a, b) for curve in texts for k, a in enumerate(curve) for b in curve[k + 1 :]]
            if TRAJECTORY_TITLE in chart["title"]
            else [(a, b) for curve in texts for a, b in zip(curve, curve[1:])]
        )
        if any(boxes_meet(a, b) for a, b in pairs):
            problems.append(f"{name}: point labels on top of each other")
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                if any(boxes_meet(a, b) for a in texts[i] for b in texts[j]):
                    problems.append(f"{name}: two curves' point labels on top of each other")
                    break
        if chart["title"].startswith("prediction after each token") and chart["lines"] != classes:
            problems.append(f"{name}: classes {chart['lines']} not in the model's order {classes}")
        if (
            chart["selectedUnit"] is not None
            and str(chart["selectedUnit"]) not in chart["unitTicks"]
        ):
            problems.append(
                f"{name}: the selected unit {chart['selectedUnit']}'s row is unlabelled"
            )
    if view in PROJECTOR_VIEWS:
        problems += [
            f"{chart['title'][:50]}: axis labels {chart['smallestTickPx']:.0f} px"
            for chart in found["charts"]
            if chart["smallestTickPx"] < MIN_TICK_PX
        ]
    if view == "heatmaps":  # at least FIRST_SCREEN_CELLS_PX of a heatmap's cells without scrolling
        tops = [chart["cellsTop"] for chart in found["charts"] if chart["cellsTop"] is not None]
        if not tops or min(tops) > SCREEN["height"] - FIRST_SCREEN_CELLS_PX:
            problems.append(
                f"no heatmap on the first 1280×720 screen (cells from {min(tops, default=-1):.0f} px)"
            )
    return problems


@pytest.fixture(scope="module")
def matrix_page(browser):
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.set_default_timeout(180_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield page
    context.close()


def open_view(page, url: str, query: dict) -> dict:
    page.set_viewport_size(SCREEN)
    page.goto(f"{url}/?{urlencode(query)}", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stButtonGroup"]')  # the script has run as far as the tabs
    if query["view"] in CHART_VIEWS:  # on a cold server the run state reads idle before the run
        page.wait_for_selector(".js-plotly-plot", state="attached")
    page.wait_for_selector(IDLE, state="attached")
    # every chart drawn (plotly.js sets _fullLayout when it has laid the chart out)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(p => p._fullLayout)",
        polling=100,
    )
    page.wait_for_timeout(300)  # the last draw's text nodes settle
    return page.evaluate(PAGE_FINDINGS_JS)


def save_screenshot(page, name: str) -> None:
    """The first screen; with $RNNVIZ_MATRIX_SCREENSHOTS set, the whole page too (slower)."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}-first-screen.png"))
    if "RNNVIZ_MATRIX_SCREENSHOTS" not in os.environ:
        return
    height = min(max(page.evaluate(CONTENT_HEIGHT_JS), SCREEN["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": SCREEN["width"], "height": height})
    page.wait_for_timeout(200)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("model, direction, length", CASES)
def test_every_view_reads_right_at_1280x720(app_server, matrix_page, model, direction, length):
    kind, _ = MODELS[model]
    text = TEXTS[kind][0 if length == "short" else 1]
    classes = list(rnnviz.load(model).config.labels or [])
    problems, started = [], time.perf_counter()
    for view in VIEW_NAMES:
        if length == "long" and view in TEXT_FREE_VIEWS:
            continue
        query = {"model": model, "text": text, "view": view}
        if direction != "forward":
            query["direction"] = direction
        found = open_view(matrix_page, app_server.url, query)
        problems += [f"{view}: {p}" for p in problems_on_page(found, view, classes, length)]
        save_screenshot(
            matrix_page, re.sub(r"[^\w.-]+", "_", f"{model}-{direction}-{length}-{view}")
        )
    print(f"{model} {direction} {length}: {time.perf_counter() - started:.1f} s")
    assert not problems, "\n".join(problems)
