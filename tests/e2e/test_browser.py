"""The app in a real browser: what a user types is what the heatmaps show."""

from __future__ import annotations

import base64
import csv
import functools
import re

import numpy as np
import pytest
import torch

import rnnviz
from rnnviz.core.quantities import LABELS

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
# The traces of the first chart whose title holds `t`, as drawn in the browser (typed arrays as lists).
PLOT_DATA_JS = """t => { const plot = Array.from(document.querySelectorAll('.js-plotly-plot')).find(p =>
        ((p._fullLayout && p._fullLayout.title && p._fullLayout.title.text) || '').toLowerCase().includes(t));
    const list = v => v == null ? null : (v.bdata !== undefined ? v
        : Array.from(v, e => (e != null && typeof e === 'object') ? Array.from(e) : e));
    return plot.data.map(d => ({name: d.name || '', x: list(d.x), y: list(d.y), z: list(d.z),
        width: list(d.width), customdata: list(d.customdata)})); }"""


def plot_data(page, title: str) -> list[dict]:
    """PLOT_DATA_JS, with Plotly's binary arrays ({dtype, bdata, shape}) decoded."""

    def decoded(value):
        if not isinstance(value, dict):
            return value
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if shape is not None:
            shape = [int(n) for n in shape.split(",")] if isinstance(shape, str) else shape
            array = array.reshape(shape)
        return array.tolist()

    return [
        {k: decoded(v) for k, v in trace.items()} for trace in page.evaluate(PLOT_DATA_JS, title)
    ]


MAIN_TEXT_JS = (
    """() => (document.querySelector('[data-testid="stMain"]') || document.body).innerText"""
)


@functools.cache
def dev_split_through_the_model() -> dict[str, np.ndarray]:
    """Every token of the SST-2 dev split through MODEL, one sentence at a time from a zero state:
    h from the fused nn.LSTM, and its sigmoid gates written out from PyTorch's LSTM equations
    (σ(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), gates in the order i, f, g, o); [tokens, units] each."""
    from rnnviz.settings import shared_data_dir

    model = rnnviz.load(MODEL)
    lstm = model.module.rnn
    with open(shared_data_dir() / "sst2" / "dev.tsv", newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        sentences = [row["sentence"].strip() for row in rows]
    found = {"hidden": [], "input_gate": [], "forget_gate": [], "output_gate": []}
    with torch.no_grad():
        for sentence in sentences:
            ids = model.tokenizer.encode(sentence).ids if sentence else []
            if not ids:
                continue
            x = model.module.embedding(torch.tensor([ids]))
            h = lstm(x)[0][0].double()
            x = x[0].double()
            previous = torch.cat([torch.zeros(1, h.shape[1], dtype=h.dtype), h[:-1]])
            pre = (
                x @ lstm.weight_ih_l0.double().T
                + lstm.bias_ih_l0.double()
                + previous @ lstm.weight_hh_l0.double().T
                + lstm.bias_hh_l0.double()
            )
            i, f, _, o = pre.chunk(4, dim=1)
            for name, value in (
                ("hidden", h),
                ("input_gate", i.sigmoid()),
                ("forget_gate", f.sigmoid()),
                ("output_gate", o.sigmoid()),
            ):
                found[name].append(value.numpy())
    return {name: np.concatenate(parts) for name, parts in found.items()}


def open_corpus_section(page, url: str, section: str, title: str, query: str = "") -> None:
    page.goto(f"{url}/?model={MODEL}&view=corpus{query}", wait_until="domcontentloaded")
    page.get_by_text(section, exact=True).click()
    page.wait_for_function(
        "t => (" + PLOT_TITLES_JS + ")().some(s => s.toLowerCase().includes(t))",
        arg=title,
        timeout=120_000,
    )
    wait_until_idle(page)
    assert page.locator(EXCEPTION).count() == 0


def same_up_to_sign(drawn: np.ndarray, expected: np.ndarray, atol: float) -> None:
    sign = np.sign(drawn @ expected) or 1.0
    np.testing.assert_allclose(drawn, sign * expected, atol=atol)


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
    """What each corpus view draws equals the dev split run through the model here, independently."""
    needs_reference_corpus()
    open_corpus_section(page, app_server.url, section, title)
    screenshot(section.replace(" ", "-").lower())
    corpus = dev_split_through_the_model()
    hidden = corpus["hidden"]
    if section == "Gate saturation":  # per gate unit: share of tokens < 0.1 (x) and > 0.9 (y)
        traces = {t["name"]: t for t in plot_data(page, title)}
        for gate in ("input_gate", "forget_gate", "output_gate"):
            drawn = traces[LABELS[gate]]
            np.testing.assert_allclose(drawn["x"], (corpus[gate] < 0.1).mean(axis=0), atol=1e-3)
            np.testing.assert_allclose(drawn["y"], (corpus[gate] > 0.9).mean(axis=0), atol=1e-3)
    elif section == "Unit card":  # unit 0: its mean, spread and histogram over every token
        text = page.evaluate(MAIN_TEXT_JS)
        mean, std = map(
            float, re.search(r"Unit 0: mean h ([+-][\d.]+), std ([\d.]+)\.", text).groups()
        )
        assert abs(mean - hidden[:, 0].mean()) <= 1.5e-3 and abs(std - hidden[:, 0].std()) <= 1.5e-3
        (bars,) = plot_data(page, title)
        centres, widths = np.array(bars["x"]), np.array(bars["width"])
        edges = np.append(centres - widths / 2, centres[-1] + widths[-1] / 2)
        counts, _ = np.histogram(np.clip(hidden[:, 0], edges[0], edges[-1]), bins=edges)
        assert sum(bars["y"]) == len(hidden)
        assert np.abs(np.array(bars["y"]) - counts).sum() <= 0.002 * len(
            hidden
        )  # float16 at bin edges
    else:  # classical MDS of the distance 1 − ρ between the units' h over the corpus
        correlation = np.nan_to_num(np.corrcoef(hidden.T))
        units = len(correlation)
        centring = np.eye(units) - 1.0 / units
        values, vectors = np.linalg.eigh(-0.5 * centring @ (1.0 - correlation) ** 2 @ centring)
        expected = vectors[:, ::-1][:, :2] * np.sqrt(values[::-1][:2])
        drawn = np.zeros((units, 2))
        clusters = [t for t in plot_data(page, title) if t["customdata"] is not None]
        for trace in clusters:
            drawn[np.array(trace["customdata"], dtype=int)] = np.stack([trace["x"], trace["y"]], 1)
        assert sorted(u for t in clusters for u in t["customdata"]) == list(range(units))
        scale = np.abs(expected).max()
        for axis in range(2):
            same_up_to_sign(drawn[:, axis], expected[:, axis], atol=2e-3 * scale)


def test_pattern_search_finds_units_of_a_span_and_their_matches_in_the_corpus(
    app_server, page, screenshot
):
    """The units said to be selected are those on (h ≥ 0.3) at the busiest token of the sentence and off
    at its neighbours; the first match's heatmap shows every one of them on over a span of that length."""
    needs_reference_corpus()
    text = "the movie was not good"
    open_corpus_section(
        page,
        app_server.url,
        "Pattern search",
        "selected units around match",
        "&text=the+movie+was+not+good",
    )
    screenshot("pattern-search")
    model = rnnviz.load(MODEL)
    with torch.no_grad():
        hidden = model.module.rnn(
            model.module.embedding(torch.tensor([model.tokenizer.encode(text).ids]))
        )[0][0].numpy()
    on = hidden >= 0.3
    outside = np.zeros((1, on.shape[1]), dtype=bool)  # before the first token, after the last: off
    before, after = np.vstack([outside, on[:-1]]), np.vstack([on[1:], outside])
    selected = [np.flatnonzero(on[t] & ~before[t] & ~after[t]) for t in range(len(on))]
    units = max(selected, key=len)
    assert units.size > 0
    shown = re.search(r"(\d+) units selected: ([\d, …]+)", page.evaluate(MAIN_TEXT_JS))
    assert int(shown.group(1)) == units.size
    assert shown.group(2).rstrip(" …").split(", ") == [str(u) for u in units[:40]]
    (match,) = [t for t in plot_data(page, "selected units around match #1") if t["z"]]
    z = np.array(match["z"], dtype=np.float64)  # [units in the selected order, tokens]
    assert z.shape[0] == units.size
    all_on = (z >= 0.3 - 1e-3).all(axis=0)  # the plot's rounding
    assert all_on.any(), "a match is a span where every selected unit is on"
