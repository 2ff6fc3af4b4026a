"""Links and the lecture's readings as a person meets them at 1280×720: a text's newlines survive its
link, a backward lecture's `step=0` link opens at the start of its reading, and the bidirectional
lecture's strip keeps readable rows and every token's label on a long text."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import rnnviz
from rnnviz.display import token_labels, token_text
from rnnviz.models.presets import VANISHING_GRADIENT_TEXT

from .harness import FIRST_HEATMAP_LABELS_JS, IDLE, decoded_labels, wait_for_heatmaps

pytestmark = pytest.mark.e2e
SCREEN = {"width": 1280, "height": 720}

STRIP_JS = """() => {
    const plot = document.querySelector('.st-key-concatenated-reading .js-plotly-plot')
        || Array.from(document.querySelectorAll('.js-plotly-plot')).pop();
    const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const frame = box(plot), rows = plot._fullLayout.yaxis._length / 3;
    const ticks = Array.from(plot.querySelectorAll('.xtick text')).map(box);
    return {rows, frame, ticks, texts: Array.from(plot.querySelectorAll('.xtick text')).map(t => t.textContent)};
}"""
CURRENT_TOKEN_JS = """() => Array.from(document.querySelectorAll('.rnnviz-reading .current'))
    .map(c => c.textContent)"""


def settle(page) -> None:
    page.wait_for_selector('[data-testid="stButtonGroup"]')
    page.wait_for_selector(IDLE, state="attached")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(p => p._fullLayout)",
        polling=100,
    )
    page.wait_for_timeout(300)


def test_a_texts_newlines_survive_its_link(app_server, page):
    page.set_viewport_size(SCREEN)
    text = "First Citizen:\nBefore we proceed"
    query = {"model": "shakespeare-char-lstm", "text": text}
    page.goto(f"{app_server.url}/?{urlencode(query)}", wait_until="domcontentloaded")
    wait_for_heatmaps(page)
    settle(page)
    written = parse_qs(urlsplit(page.url).query)["text"]
    assert written == [text]  # the address bar holds the newline (%0A)
    page.goto(page.url, wait_until="domcontentloaded")  # the link reopened
    wait_for_heatmaps(page)
    settle(page)
    assert "".join(decoded_labels(page.evaluate(FIRST_HEATMAP_LABELS_JS))) == text


def test_a_newline_typed_for_the_character_model_is_read(app_server, page):
    """The character model reads "\n" as a token: its box keeps a typed newline (Enter adds a line,
    Ctrl+Enter reads the passage), and the link carries it."""
    page.set_viewport_size(SCREEN)
    page.goto(f"{app_server.url}/?model=shakespeare-char-lstm", wait_until="domcontentloaded")
    wait_for_heatmaps(page)
    settle(page)
    box = page.locator('[data-testid="stTextArea"] textarea[aria-label="sentence"]')
    box.fill("")
    box.type("To be")
    box.press("Enter")
    box.type("or not")
    box.press("Control+Enter")
    page.wait_for_function(
        "() => (new URLSearchParams(location.search)).get('text') === 'To be\\nor not'", polling=100
    )
    wait_for_heatmaps(page)
    settle(page)
    assert "".join(decoded_labels(page.evaluate(FIRST_HEATMAP_LABELS_JS))) == "To be\nor not"


def test_a_backward_lecture_link_opens_where_it_was_written(app_server, page):
    """Without a step, a backward lecture opens at the start of its reading (the last token); the
    link written at the end of that reading (token 0) says step=0 and reopens there."""
    page.set_viewport_size(SCREEN)
    query = {"model": "sst2-bilstm", "view": "lecture", "direction": "backward"}
    page.goto(f"{app_server.url}/?{urlencode(query)}", wait_until="domcontentloaded")
    settle(page)
    assert page.evaluate(CURRENT_TOKEN_JS) == ["good"]  # the last token: a backward reading's first
    assert page.locator(".st-key-step_back button").first.is_disabled()
    assert parse_qs(urlsplit(page.url).query)["step"] == ["4"]
    for _ in range(4):  # "good" → "not" → "was" → "movie" → "the"
        page.locator(".st-key-step_forward button").first.click()
        settle(page)
    assert page.evaluate(CURRENT_TOKEN_JS) == ["the"]
    assert parse_qs(urlsplit(page.url).query)["step"] == ["0"]
    page.goto(page.url, wait_until="domcontentloaded")  # the link reopened
    settle(page)
    assert page.evaluate(CURRENT_TOKEN_JS) == ["the"]
    assert page.locator(".st-key-step_forward button").first.is_disabled()


def test_the_both_directions_strip_reads_on_a_long_text(app_server, page, screenshot):
    page.set_viewport_size(SCREEN)
    encoding = rnnviz.load("sst2-bilstm").encode(VANISHING_GRADIENT_TEXT)
    tokens = [token_text(label) for label in token_labels(encoding.tokens, encoding.unknown)]
    query = {
        "model": "sst2-bilstm",
        "view": "lecture",
        "both": "1",
        "text": VANISHING_GRADIENT_TEXT,
    }
    page.goto(f"{app_server.url}/?{urlencode(query)}", wait_until="domcontentloaded")
    settle(page)
    strip = page.evaluate(STRIP_JS)
    screenshot("both-directions-long")
    assert strip["rows"] >= 30  # a row as tall as a line of text, not a hairline
    assert strip["texts"] == tokens  # every token labelled, in order
    left, top, right, bottom = strip["frame"]
    for a, b in zip(strip["ticks"], strip["ticks"][1:]):
        assert a[2] <= b[0] + 0.5, "neighbouring token labels on top of each other"
    assert all(
        left - 1 <= t[0] and t[2] <= right + 1 and t[3] <= bottom + 1 for t in strip["ticks"]
    )
