"""The offline lecture pack in a real browser with the network cut off: every plot renders."""

from __future__ import annotations

import pytest

import rnnviz
from rnnviz.analysis.inspection import inspect_text
from rnnviz.exports.lecture_pack import build_lecture_pack

from .conftest import SCREENSHOT_DIR

SENTENCES = ["the movie was not good", 'a <script>alert("x")</script> & <b>bold</b> film']

pytestmark = pytest.mark.e2e


def test_pack_renders_every_plot_in_a_browser_with_the_network_cut_off(browser, tmp_path):
    path = tmp_path / "pack.html"
    path.write_text(
        build_lecture_pack(rnnviz.load("sst2-lstm"), SENTENCES, units_shown=40), encoding="utf-8"
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    try:
        requested = []
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("file:")
                else (requested.append(route.request.url), route.abort())
            ),
        )
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        expected_plots = len(SENTENCES) * (1 + 1 + 6)  # prediction, step-through, six LSTM heatmaps
        page.wait_for_function(
            f"""() => {{
            const plots = document.querySelectorAll('.js-plotly-plot');
            return plots.length === {expected_plots} && Array.from(plots).every(p => p._fullLayout && p.data);
        }}""",
            timeout=120_000,
        )
        heatmaps = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .flatMap(p => p.data.filter(t => t.type === 'heatmap').map(t => t.x.length))""")
        assert (
            heatmaps
            == [5] * 6 + [len(inspect_text(rnnviz.load("sst2-lstm"), SENTENCES[1]).tokens)] * 6
        )

        steps = page.locator("#s1-steps")
        steps.scroll_into_view_if_needed()
        rail = page.locator("#s1-steps .slider-rail-touch-rect").bounding_box()
        page.mouse.click(
            rail["x"] + rail["width"] * 0.75, rail["y"] + rail["height"] / 2
        )  # the 4th of 5 tokens
        page.wait_for_function(
            "document.getElementById('s1-steps').layout.title.text.includes('<b>[not]</b>')",
            timeout=30_000,
        )
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        steps.screenshot(path=str(SCREENSHOT_DIR / "lecture-pack-step-through.png"))
        page.screenshot(path=str(SCREENSHOT_DIR / "lecture-pack-top.png"))
    finally:
        context.close()
    assert errors == [] and requested == []
