"""Reading a drawn Plotly chart the way a person meets it: where a cell is on the screen, what its
hover label says, which cell is marked selected, where titles and legends lie."""

from __future__ import annotations

# The centre, in page pixels, of cell (token `step`, row `row`) of the heatmap named `name` (its
# quantity) in the `chart`-th Plotly chart, from Plotly's own mapping of that panel's axes.
CELL_CENTRE_JS = """([chart, name, step, row]) => {
    const plot = document.querySelectorAll('.js-plotly-plot')[chart];
    const trace = (plot.data || []).find(t => t.type === 'heatmap' && t.name === name);
    if (!trace) return null;
    const layout = plot._fullLayout, box = plot.getBoundingClientRect();
    const xaxis = layout['xaxis' + (trace.xaxis || 'x').slice(1)];
    const yaxis = layout['yaxis' + (trace.yaxis || 'y').slice(1)];
    const x = Array.from(trace.x)[step], y = Array.from(trace.y)[row];
    return {x: box.left + xaxis._offset + xaxis.l2p(xaxis.d2l(x)),
            y: box.top + yaxis._offset + yaxis.l2p(yaxis.d2l(y)), unit: Number(y)};
}"""

# Scroll Streamlit's scrolling container (a div, not the window) so page y comes to the viewport's middle.
SCROLL_TO_MIDDLE_JS = """y => {
    const plot = document.querySelector('.js-plotly-plot');
    let box = plot.parentElement;
    while (box && !(box.scrollHeight > box.clientHeight && /auto|scroll/.test(getComputedStyle(box).overflowY)))
        box = box.parentElement;
    (box || document.scrollingElement).scrollBy(0, y - innerHeight / 2);
}"""

# The lines of the hover label now shown (empty when none).
HOVER_LINES_JS = """() => Array.from(document.querySelectorAll('.hoverlayer .hovertext text.nums tspan.line'))
    .map(t => t.textContent)"""

# [token index, unit] carried by every selected-cell mark of the `chart`-th chart (none while it redraws).
SELECTED_CELLS_JS = """chart => ((document.querySelectorAll('.js-plotly-plot')[chart] || {}).data || [])
    .filter(t => t.name === 'selected').map(t => Array.from(t.customdata[0]).map(Number))"""

# Boxes (page pixels) of every chart's title (layout title or panel annotations) and legend.
TITLE_AND_LEGEND_BOXES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => {
    const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                        return r.width && r.height ? [r.left, r.top, r.right, r.bottom] : null; };
    return {title: box(plot.querySelector('.g-gtitle .gtitle')), legend: box(plot.querySelector('.legend')),
            text: (plot._fullLayout.title && plot._fullLayout.title.text) || ''};
})"""


def cell_centre(page, chart: int, quantity: str, step: int, row: int) -> dict:
    """Scroll the cell into view and return its centre on the screen (and its unit id)."""
    centre = page.evaluate(CELL_CENTRE_JS, [chart, quantity, step, row])
    assert centre is not None, f"no heatmap named {quantity} in chart {chart}"
    page.evaluate(SCROLL_TO_MIDDLE_JS, centre["y"])
    return page.evaluate(CELL_CENTRE_JS, [chart, quantity, step, row])


def hover_lines(page, x: float, y: float) -> list[str]:
    """Move the mouse to (x, y) and read the hover label's lines."""
    page.mouse.move(2, 2)  # off every chart: the previous label goes
    page.wait_for_function(f"() => ({HOVER_LINES_JS})().length === 0", timeout=5_000)
    page.mouse.move(x - 2, y - 2)
    page.mouse.move(x, y)
    page.wait_for_function(f"() => ({HOVER_LINES_JS})().length > 0", timeout=5_000)
    page.wait_for_timeout(50)  # plotly.js redraws the label once per animation frame
    return page.evaluate(HOVER_LINES_JS)


def boxes_intersect(a: list[float] | None, b: list[float] | None) -> bool:
    if a is None or b is None:
        return False
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
