"""The app in a real browser: what a user types is what the heatmaps show."""

from __future__ import annotations

import pytest
from .harness import (ERROR_ALERT, EXCEPTION, FIRST_HEATMAP_LABELS_JS, SENTENCE_INPUT, decoded_labels,
                     expected_tokens, heatmap_columns, wait_for_heatmaps, wait_until_idle)

pytestmark = pytest.mark.e2e

MODEL = "sst2-lstm"  # named in the URL, so the expected tokens come from the model the page shows
SENTENCE = "a gripping, funny and quite unforgettable film"


def settled_heatmaps(page, columns: int | None = None) -> list[list[int]]:
    """Heatmap columns once the run that draws them has finished (stale charts gone)."""
    wait_for_heatmaps(page, columns)
    wait_until_idle(page)
    return heatmap_columns(page)


def test_typed_sentence_redraws_every_heatmap_with_one_column_per_token(app_server, page, screenshot):
    page.goto(f"{app_server.url}/?model={MODEL}", wait_until="domcontentloaded")
    before = settled_heatmaps(page)
    screenshot("loaded")
    tokens = expected_tokens(SENTENCE, MODEL)
    assert all(columns != len(tokens) for chart in before for columns in chart), (
        f"pick a sentence whose token count differs from the default's {before}, so the wait below means a redraw")

    sentence = page.locator(SENTENCE_INPUT)
    sentence.fill(SENTENCE)
    sentence.press("Enter")
    after = settled_heatmaps(page, columns=len(tokens))
    screenshot("typed")

    assert len(after) == len(before), "as many heatmaps as before: one per quantity of the same model"
    assert all(columns == len(tokens) for chart in after for columns in chart)
    assert decoded_labels(page.evaluate(FIRST_HEATMAP_LABELS_JS)) == tokens
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert page.locator(ERROR_ALERT).count() == 0, page.locator(ERROR_ALERT).first.inner_text()
