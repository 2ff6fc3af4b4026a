"""Corpus view: a unit across thousands of sentences — pattern search, unit card, gate saturation, units map.

`render(loaded, model_name, run, layer, direction)` draws the whole view. Widgets (all keyed `corpus_`):
corpus_source, corpus_upload, corpus_paste, corpus_section, corpus_span, corpus_threshold, corpus_match,
corpus_unit, corpus_clusters; charts corpus_chart_*. The figure builders at the top are pure (no Streamlit).
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from rnnviz.analysis.corpus import (
    MAX_CORPUS_CHARACTERS,
    PROVIDE_CORPUS_HELP,
    Corpus,
    CorpusIndex,
    available_reference_corpora,
    cache_key,
    corpus_from_text,
    corpus_index,
    default_data_dir,
    reference_corpus,
    select_units,
)
from rnnviz.analysis.corpus_stats import FEATURE_LABELS, FEATURES, unit_clusters
from rnnviz.analysis.inspection import TextRun
from rnnviz.app import budget
from rnnviz.app.state import ViewInputs
from rnnviz.core.quantities import LABELS
from rnnviz.display import token_labels
from rnnviz.errors import RnnvizError
from rnnviz.figures import colour_scale, coloured_tokens_html, quantity_heatmap
from rnnviz.figures.corpus import (
    feature_figure,
    histogram_figure,
    saturation_figure,
    span_html,
    units_map_figure,
)
from rnnviz.models.architectures import LoadedModel

SECTIONS = ("Pattern search", "Unit card", "Gate saturation", "Units map")
YOUR_TEXT = "your text (upload or paste)"


def _index(
    loaded: LoadedModel, corpus: Corpus, key: str, layer: int, direction: str
) -> CorpusIndex:
    """The corpus index, kept in the server's memory budget (app/budget.py) and on disk."""

    def compute() -> CorpusIndex:
        bar = st.progress(0.0, text=f"Tracing {corpus.name} …")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Tracing {corpus.name}: {done:,} / {total:,} tokens")

        index = corpus_index(loaded, corpus, layer, direction, progress=progress)
        bar.empty()
        return index

    return budget.kept(budget.SHARED, ("corpus index", key, layer, direction), compute)


@st.cache_data(max_entries=8, show_spinner=False)
def _clusters(key: str, _correlation: np.ndarray, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    return unit_clusters(_correlation, clusters)


def _choose_corpus(loaded: LoadedModel) -> Corpus | None:
    task = loaded.config.task
    choices = [*available_reference_corpora(task), YOUR_TEXT]
    source = st.selectbox("corpus", choices, key="corpus_source")
    if source != YOUR_TEXT:
        return reference_corpus(source)
    if len(choices) == 1:
        st.info(PROVIDE_CORPUS_HELP.format(data_dir=default_data_dir()))
    shape = (
        "one sentence per line"
        if task == "classifier"
        else "any text; read in 256-character chunks"
    )
    upload = st.file_uploader(
        f"a UTF-8 text file ({shape}; at most {MAX_CORPUS_CHARACTERS:,} characters)",
        type=["txt", "tsv"],
        key="corpus_upload",
    )
    pasted = st.text_area("… or paste text", key="corpus_paste", height=120)
    if upload is not None:
        try:
            text, name = upload.getvalue().decode("utf-8"), upload.name
        except UnicodeDecodeError:
            st.error(f"{upload.name}: not UTF-8 text")
            return None
    elif pasted.strip():
        text, name = pasted, "pasted text"
    else:
        return None
    return corpus_from_text(text, task, name=name)


def render(inputs: ViewInputs) -> None:
    """Draw the corpus view for `loaded` (shown as `model_name`); `run` is the current sentence for pattern search."""
    loaded, model_name, run = inputs.model, inputs.state.model, inputs.recorded
    layer, direction = inputs.state.layer, inputs.state.direction
    _follow_map_click()
    try:
        corpus = _choose_corpus(loaded)
        if corpus is None:
            return
        key = cache_key(loaded, corpus, layer, direction)
        index = _index(loaded, corpus, key, layer, direction)
    except RnnvizError as error:
        st.error(str(error))
        return
    origin = "read from the cache" if index.from_cache else f"computed in {index.seconds:.1f} s"
    st.caption(
        f"{model_name} on {corpus.name}: {index.num_tokens:,} tokens in {len(index.offsets) - 1:,} segments, "
        f"layer {layer} {direction} h ({origin})."
    )
    section = st.radio("corpus view", SECTIONS, horizontal=True, key="corpus_section")
    if section == "Pattern search":
        _pattern_search(index, run, layer, direction)
    elif section == "Unit card":
        _unit_card(index)
    elif section == "Gate saturation":
        _saturation(index, direction)
    else:
        _units_map(index)


def _follow_map_click() -> None:
    """A click on the units map opens that unit's card (handled before the widgets are drawn)."""
    event = st.session_state.get("corpus_chart_map")
    points = (
        (event or {}).get("selection", {}).get("points", [])
        if isinstance(event, dict)
        else getattr(getattr(event, "selection", None), "points", []) or []
    )
    if not points or points[0].get("customdata") is None:
        return
    clicked = int(np.ravel(points[0]["customdata"])[0])
    if st.session_state.get("corpus_map_followed") != clicked:
        st.session_state["corpus_map_followed"] = clicked
        st.session_state["corpus_unit"] = clicked
        st.session_state["corpus_section"] = "Unit card"


def _pattern_search(index: CorpusIndex, run: TextRun, layer: int, direction: str) -> None:
    st.markdown(
        "Select a span of the current sentence and a threshold: the units **on** (h ≥ threshold) at every "
        "token of the span and **off** just before and after it are found, then the corpus spans where "
        "the same units are on together (LSTMVis's select and match)."
    )
    values = run.states(layer, direction, "hidden")
    labels = token_labels(run.tokens, run.encoding.unknown)
    steps = len(labels)
    if steps == 1:
        start = end = 0
    else:
        # Start on the token that switches on the most units of its own: a query with an answer.
        busiest = int(np.argmax([select_units(values, t, t, 0.3).size for t in range(steps)]))
        start, end = st.select_slider(
            "span of the current sentence",
            options=list(range(steps)),
            value=(busiest, busiest),
            format_func=lambda t: labels[t],
            key="corpus_span",
        )
    threshold = st.slider("threshold", 0.0, 1.0, 0.3, step=0.05, key="corpus_threshold")
    units = select_units(values, start, end, threshold)
    if units.size == 0:
        st.info(
            "No unit is on over the whole span and off around it: lower the threshold or change the span."
        )
        return
    st.markdown(
        f"**{units.size} units selected**: {', '.join(map(str, units[:40]))}{' …' if units.size > 40 else ''}"
    )
    st.plotly_chart(
        quantity_heatmap(
            values,
            labels,
            "hidden",
            unit_order=units,
            title="selected units in the current sentence",
        ),
        key="corpus_chart_query",
    )
    matches = index.find_pattern(units, threshold, end - start + 1)
    if not matches:
        st.info("No corpus span has all of these units on together.")
        return
    st.markdown(f"**{len(matches)} best matches** (same length first, then fewest other units on):")
    rows = []
    for rank, match in enumerate(matches):
        context = index.context(
            match.start, int(units[0]), before=15, after=match.end - match.start + 15
        )
        mean = index.hidden[
            context.position - context.focus : context.position
            - context.focus
            + len(context.tokens)
        ][:, units]
        span = match.end - match.start
        rows.append(
            f"<div><b>{rank + 1}.</b> "
            f"{span_html(context.tokens, mean.astype(np.float32).mean(axis=1), (context.focus, context.focus + span))}"
            f"<small>length {match.end - match.start}, purity {match.purity:.2f}</small></div>"
        )
    st.markdown("".join(rows), unsafe_allow_html=True)
    st.caption("Colour: the selected units' mean h per token.")
    chosen = st.selectbox(
        "heatmap of match",
        range(len(matches)),
        format_func=lambda r: f"#{r + 1}",
        key="corpus_match",
    )
    match = matches[chosen]
    context = index.context(match.start, 0, before=10, after=match.end - match.start + 10)
    begin = context.position - context.focus
    block = index.hidden[begin : begin + len(context.tokens)].astype(np.float32)
    st.plotly_chart(
        quantity_heatmap(
            block,
            token_labels(list(context.tokens)),
            "hidden",
            unit_order=units,
            title=f"selected units around match #{chosen + 1}",
        ),
        key="corpus_chart_match",
    )


def _unit_card(index: CorpusIndex) -> None:
    unit = int(st.number_input("unit", 0, index.units - 1, step=1, key="corpus_unit"))
    rho = index.feature_correlation[:, unit]
    best = int(np.argmax(np.abs(rho)))
    st.markdown(
        f"**Unit {unit}**: mean h {index.mean[unit]:+.3f}, std {index.std[unit]:.3f}. Strongest token feature: "
        f"**{FEATURE_LABELS[FEATURES[best]]}** (ρ = {rho[best]:+.2f})."
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            histogram_figure(index.histogram[unit], index.histogram_edges, unit),
            key="corpus_chart_histogram",
        )
    with right:
        st.plotly_chart(feature_figure(rho, unit), key="corpus_chart_features")
    st.markdown(
        f"**Top {min(10, index.top_positions.shape[1])} contexts** (one per segment; the strongest token framed):"
    )
    scale = colour_scale("hidden", index.top_values[unit], index.cell)
    rows = []
    for context in index.top_contexts(unit, 10):
        rows.append(
            f"<div><small>h = {context.value:+.3f}</small>"
            f"{coloured_tokens_html(list(context.tokens), context.values, scale, font_size=14)}</div>"
        )
    st.markdown("".join(rows), unsafe_allow_html=True)


def _saturation(index: CorpusIndex, direction: str) -> None:
    layers = sorted({s.layer for s in index.saturation})
    if not layers:
        st.info("This cell has no sigmoid gates (a plain RNN): nothing saturates.")
        return
    st.markdown(
        "Karpathy et al. 2015: each point is one gate unit; how often it is left-saturated (< 0.1) against "
        "right-saturated (> 0.9) over every token of the corpus. Points near (0, 1) are always open "
        "(forget gates there remember), near (1, 0) always shut; points near the origin act by degree."
    )
    for layer in layers:
        saturations = index.saturation_of(layer, direction)
        st.plotly_chart(
            saturation_figure(saturations, f"layer {layer} {direction}"),
            key=f"corpus_chart_saturation_{layer}",
        )
        st.caption(
            " · ".join(
                f"{LABELS.get(s.gate, s.gate)}: mean {s.left.mean():.1%} left, {s.right.mean():.1%} right"
                for s in saturations
            )
        )


def _units_map(index: CorpusIndex) -> None:
    clusters = st.slider(
        "clusters",
        2,
        min(12, max(2, index.units)),
        min(6, max(2, index.units)),
        key="corpus_clusters",
    )
    coordinates, labels = _clusters(index.key, index.unit_correlation, clusters)
    selected = st.session_state.get("corpus_unit")
    selected = int(selected) if selected is not None and 0 <= int(selected) < index.units else None
    st.plotly_chart(
        units_map_figure(coordinates, labels, selected),
        key="corpus_chart_map",
        on_select="rerun",
        selection_mode="points",
    )
    st.caption(
        "Each point is a unit; distance is 1 − ρ of the units' h over the corpus (classical MDS), colour a "
        "k-means cluster. Click a unit to open its card."
    )
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    st.markdown(
        "  \n".join(
            f"cluster {c}: "
            + html.escape(", ".join(map(str, g[:30])))
            + (" …" if len(g) > 30 else "")
            for c, g in enumerate(groups)
        )
    )
