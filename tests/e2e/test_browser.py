"""The app in a real browser: what a user types is what the heatmaps show."""

from __future__ import annotations

import pytest

from .harness import (
    ERROR_ALERT,
    EXCEPTION,
    FIRST_HEATMAP_LABELS_JS,
    SENTENCE_INPUT,
    decoded_labels,
    expected_tokens,
    heatmap_columns,
    wait_for_heatmaps,
    wait_until_idle,
)
from .probes import SELECTED_CELLS_JS, cell_centre

pytestmark = pytest.mark.e2e

MODEL = "sst2-lstm"  # named in the URL, so the expected tokens come from the model the page shows
SENTENCE = "a gripping, funny and quite unforgettable film"


GRID_CHART_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .findIndex(p => (p.data || []).some(t => t.type === 'heatmap' && t.name === 'hidden'))"""


def settled_heatmaps(page, columns: int | None = None) -> list[list[int]]:
    """Heatmap columns once the run that draws them has finished (stale charts gone)."""
    wait_for_heatmaps(page, columns)
    wait_until_idle(page)
    return heatmap_columns(page)


def test_typed_sentence_redraws_every_heatmap_with_one_column_per_token(
    app_server, page, screenshot
):
    page.goto(f"{app_server.url}/?model={MODEL}", wait_until="domcontentloaded")
    before = settled_heatmaps(page)
    screenshot("loaded")
    tokens = expected_tokens(SENTENCE, MODEL)
    assert all(columns != len(tokens) for chart in before for columns in chart), (
        f"pick a sentence whose token count differs from the default's {before}, so the wait below means a redraw"
    )

    sentence = page.locator(SENTENCE_INPUT)
    sentence.fill(SENTENCE)
    sentence.press("Enter")
    after = settled_heatmaps(page, columns=len(tokens))
    screenshot("typed")

    assert sum(map(len, after)) == sum(map(len, before)) == 6, (
        "as before, one heatmap per LSTM quantity"
    )
    assert all(columns == len(tokens) for chart in after for columns in chart)
    assert decoded_labels(page.evaluate(FIRST_HEATMAP_LABELS_JS)) == tokens
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert page.locator(ERROR_ALERT).count() == 0, page.locator(ERROR_ALERT).first.inner_text()


def test_clicking_a_cell_inspects_it_and_the_link_reopens_the_same_view(
    app_server, page, browser, screenshot
):
    page.goto(
        f"{app_server.url}/?model={MODEL}&text=the+movie+was+not+good",
        wait_until="domcontentloaded",
    )
    settled_heatmaps(page, columns=5)
    chart = page.evaluate(GRID_CHART_JS)
    cell = cell_centre(page, chart, "hidden", 3, 7)  # hidden-state panel, token "not", eighth row
    page.mouse.click(cell["x"], cell["y"])
    selected = [3, cell["unit"]]
    page.wait_for_function(
        "([chart, cell]) => { const s = (" + SELECTED_CELLS_JS + ")(chart);"
        " return s.length > 0 && s.every(c => c[0] === cell[0] && c[1] === cell[1]); }",
        arg=[chart, selected],
    )
    wait_until_idle(page)
    screenshot("clicked")
    page.wait_for_function(
        "unit => new URL(location.href).searchParams.get('unit') === unit", arg=str(cell["unit"])
    )

    # one step from the clicked cell to the inspector
    page.get_by_role("button", name=f"Inspect unit {cell['unit']} at 'not' (token 3)").click()
    page.wait_for_function("() => location.href.includes('view=inspector')")
    wait_until_idle(page)
    heading = page.locator("h3").filter(has_text="Unit").first
    assert f"Unit {cell['unit']}" in heading.inner_text() and "not ·3" in heading.inner_text()
    link = page.url
    screenshot("inspector")

    # The link, opened in a fresh browser context, shows the same view.
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.goto(link, wait_until="domcontentloaded")
        wait_for_heatmaps(other, columns=5)
        wait_until_idle(other)
        reopened = other.locator("h3").filter(has_text="Unit").first
        assert reopened.inner_text() == heading.inner_text()
        inspector_chart = other.evaluate(GRID_CHART_JS)
        assert other.evaluate(SELECTED_CELLS_JS, inspector_chart) == [selected]
        assert other.locator(EXCEPTION).count() == 0
        other.screenshot(path=str(screenshot("inspector").with_name("shared-link-reopened.png")))
    finally:
        other.context.close()


PROGRESS_TEXT_JS = """() => { const bar = document.querySelector('[data-testid="stProgress"]');
    return bar ? bar.innerText : null; }"""


def test_training_lab_run_shows_its_progress_moving_then_the_trained_model(
    app_server, page, screenshot
):
    """A vanilla RNN at N = 30 cannot finish in a blink: the progress is seen running, then done."""
    page.goto(f"{app_server.url}/?view=lab", wait_until="domcontentloaded")
    page.get_by_text("RNN (tanh)", exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Train").click()
    steps_seen: list[int] = []
    for _ in range(600):  # polls the page for at most ~60 s (the run's own budget is shorter)
        text = page.evaluate(PROGRESS_TEXT_JS) or ""
        if "step " in text:
            step = int(text.split("step ", 1)[1].split(",", 1)[0])
            if not steps_seen or step != steps_seen[-1]:
                steps_seen.append(step)
        if "done" in text or "stopped" in text:
            break
        page.wait_for_timeout(100)
    screenshot("lab-progress")
    assert len(steps_seen) >= 3 and steps_seen == sorted(steps_seen), (
        f"progress should move: {steps_seen}"
    )
    page.get_by_text("The trained model, inside").wait_for()
    assert page.locator(EXCEPTION).count() == 0
    screenshot("lab-trained")


def needs_reference_corpus():
    from rnnviz.analysis.corpus import available_reference_corpora

    if not available_reference_corpora("classifier"):
        pytest.skip(
            "no SST-2 reference corpus (../shared/data or $RNNVIZ_DATA_DIR) for the corpus views"
        )


PLOT_TITLES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(p => (p._fullLayout && p._fullLayout.title && p._fullLayout.title.text) || '')"""


@pytest.mark.parametrize(
    "section, title",
    [
        ("Gate saturation", "layer 0 forward"),
        ("Unit card", "histogram"),
        ("Units map", "units map"),
    ],
)
def test_each_corpus_view_draws_over_the_reference_corpus(
    app_server, page, screenshot, section, title
):
    needs_reference_corpus()
    page.goto(f"{app_server.url}/?model={MODEL}&view=corpus", wait_until="domcontentloaded")
    page.get_by_text(section, exact=True).click()
    page.wait_for_function(
        "t => (" + PLOT_TITLES_JS + ")().some(s => s.toLowerCase().includes(t))",
        arg=title,
        timeout=120_000,
    )
    wait_until_idle(page)
    assert page.locator(EXCEPTION).count() == 0
    screenshot(section.replace(" ", "-").lower())


def test_pattern_search_finds_units_of_a_span_and_their_matches_in_the_corpus(
    app_server, page, screenshot
):
    needs_reference_corpus()
    page.goto(
        f"{app_server.url}/?model={MODEL}&view=corpus&text=the+movie+was+not+good",
        wait_until="domcontentloaded",
    )
    page.get_by_text("Pattern search", exact=True).click()
    page.wait_for_function(
        "() => (" + PLOT_TITLES_JS + ")().some(s => s.includes('selected units around match'))",
        timeout=120_000,
    )
    wait_until_idle(page)
    assert page.locator(EXCEPTION).count() == 0
    screenshot("pattern-search")
