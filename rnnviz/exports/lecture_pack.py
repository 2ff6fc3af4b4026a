"""An offline lecture pack: one self-contained HTML file with, per sentence, the prediction after
each token, one heatmap per quantity and a step-through of the cell — no server needed, so any
number of students can open it from a file or static hosting.

plotly.js is inlined once; each figure is a JSON block rendered by one small script. All text
from sentences, tokens and the model card is escaped: typed markup is shown, never interpreted.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io
import plotly.offline

import rnnviz
from rnnviz import figures
from rnnviz.analysis.inspection import TextRun, inspect_text
from rnnviz.analysis.ordering import shown_units, unit_order
from rnnviz.display import token_display
from rnnviz.errors import RnnvizError
from rnnviz.figures.lecture import cell_diagram
from rnnviz.models.architectures import LoadedModel

TOKENS_PER_LINE = 14  # the step-through's revealed text wraps so long sentences stay on the canvas

# Renders every figure block once plotly.js is there: newPlot, then the step-through's frames.
RENDER_SCRIPT = """
document.querySelectorAll('script.rnnviz-figure').forEach(function (block) {
  var figure = JSON.parse(block.textContent);
  var target = document.getElementById(block.dataset.target);
  Plotly.newPlot(target, figure.data, figure.layout, {displaylogo: false, responsive: true}).then(function () {
    if (figure.frames && figure.frames.length) return Plotly.addFrames(target, figure.frames);
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 1rem 2rem; color: #111; }
h1 { font-size: 1.8rem; } h2 { font-size: 1.5rem; border-top: 2px solid #ccc; padding-top: 1rem; }
.tokens span { font-family: monospace; background: #eee; border-radius: 3px; padding: 2px 4px; margin: 1px;
  white-space: pre; }
.tokens span.unknown { background: #fde2c8; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(600px, 1fr)); gap: 0.5rem; }
.meta { color: #444; }
"""


@dataclass(frozen=True)
class SentencePanel:
    """What the pack shows for one sentence: its run and its figures, in page order."""

    run: TextRun
    prediction: go.Figure
    step_through: go.Figure
    heatmaps: tuple[tuple[str, go.Figure], ...]  # (quantity, figure) in the cell's order
    unit: int  # the unit whose values the step-through shows beside the means


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line; blank lines are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RnnvizError(f"cannot read sentences from {path}: {error}") from error
    return [line for line in lines if line.strip()]


def sentence_panel(
    loaded: LoadedModel, text: str, layer: int, direction: str, units_shown: int, unit: int
) -> SentencePanel:
    """Run one sentence and build its prediction figure, heatmaps and step-through."""
    run = inspect_text(loaded, text)
    record = run.recurrent_call
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    if run.task == "classifier":
        prediction = figures.class_probability_figure(
            run.predictions, labels, list(run.prediction_labels)
        )
    else:
        prediction = figures.next_token_figure(run.predictions, labels, list(run.prediction_labels))
    order = shown_units(
        unit_order(run.states(layer, direction, "hidden"), "index", unit), units_shown, unit
    )
    heatmaps = tuple(
        (
            quantity,
            figures.quantity_heatmap(
                run.states(layer, direction, quantity), labels, quantity, record.cell_kind, order
            ),
        )
        for quantity in record.quantities
    )
    return SentencePanel(
        run, prediction, step_through_figure(run, layer, direction, unit), heatmaps, unit
    )


def step_through_figure(run: TextRun, layer: int, direction: str, unit: int) -> go.Figure:
    """The cell diagram at every timestep as animation frames, with a slider and play button.

    Each frame reveals the text up to that token and shows every gate's mean over units and
    `unit`'s value at that step (the app's Lecture view, without a server).
    """
    record = run.recurrent_call
    states = {q: run.states(layer, direction, q) for q in record.quantities}
    labels = figures.token_labels(run.tokens, run.encoding.unknown)
    diagrams = [
        cell_diagram(
            record.cell_kind,
            {q: (float(np.nanmean(v[t])), float(v[t, unit])) for q, v in states.items()},
            f"step {t} of {len(labels) - 1} — unit {unit}",
            font_size=16,
        )
        for t in range(len(labels))
    ]
    figure = go.Figure(diagrams[0])
    figure.frames = [
        go.Frame(
            name=str(t),
            layout=dict(
                title=dict(text=_revealed_text(run, t)),
                annotations=d.layout.annotations,
                shapes=d.layout.shapes,
            ),
        )
        for t, d in enumerate(diagrams)
    ]
    animate = {
        "mode": "immediate",
        "frame": {"duration": 0, "redraw": True},
        "transition": {"duration": 0},
    }
    lines = 1 + -(-len(labels) // TOKENS_PER_LINE)
    figure.update_layout(
        title=dict(
            text=_revealed_text(run, 0),
            x=0.01,
            xanchor="left",
            yref="container",
            y=1,
            yanchor="top",
            pad=dict(t=14),
            font=dict(size=20),
        ),
        height=600 + 26 * lines,
        margin=dict(l=10, r=10, t=30 + 28 * lines, b=100),
        sliders=[
            dict(
                active=0,
                x=0.12,
                len=0.88,
                y=0,
                yanchor="top",
                pad=dict(t=30),
                currentvalue=dict(prefix="token: "),
                steps=[
                    dict(method="animate", label=label, args=[[str(t)], animate])
                    for t, label in enumerate(labels)
                ],
            )
        ],
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.11,
                y=0,
                xanchor="right",
                yanchor="top",
                pad=dict(t=60, r=10),
                showactive=False,
                buttons=[
                    dict(
                        label="▶ play",
                        method="animate",
                        args=[
                            None,
                            {
                                **animate,
                                "frame": {"duration": 1200, "redraw": True},
                                "fromcurrent": True,
                            },
                        ],
                    ),
                    dict(label="❚❚", method="animate", args=[[None], animate]),
                ],
            )
        ],
    )
    return figure


def _revealed_text(run: TextRun, step: int) -> str:
    """Plotly title text: the text read so far (current token bold, tokens escaped), then the prediction after it."""
    shown = [html.escape(t) for t in run.tokens[: step + 1]]
    shown[step] = f"<b>[{shown[step]}]</b>"
    joiner = " " if run.task == "classifier" else ""
    lines = [
        joiner.join(shown[i : i + TOKENS_PER_LINE]) for i in range(0, len(shown), TOKENS_PER_LINE)
    ]
    outcome, probability = run.top_outcomes(step, 1)[0]
    after = "prediction" if run.task == "classifier" else "next character"
    shown_outcome = html.escape(token_display(outcome))
    more = " …" if step < len(run.tokens) - 1 else ""
    prediction = f"<span style='font-size:16px'>{after}: {shown_outcome} ({probability:.0%})</span>"
    return f"{'<br>'.join(lines)}{more}<br>{prediction}"


def figure_block(figure: go.Figure, target: str) -> str:
    """A <div> and the figure's JSON in a script block; '<', '>' and '&' are JSON-escaped, so no
    text inside the figure can close the script or start markup."""
    data = plotly.io.to_json(figure, validate=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        f'<div id="{target}" class="figure"></div>\n'
        f'<script type="application/json" class="rnnviz-figure" data-target="{target}">{data}</script>'
    )


def _sentence_html(index: int, panel: SentencePanel) -> str:
    run = panel.run
    tokens = "".join(
        f'<span class="{"unknown" if unknown else "known"}">{html.escape(token)}</span>'
        for token, unknown in zip(run.tokens, run.encoding.unknown)
    )
    outcome, probability = run.top_outcomes(len(run.tokens) - 1, 1)[0]
    what = "Prediction" if run.task == "classifier" else "Most likely next character"
    heatmaps = "\n".join(
        figure_block(figure, f"s{index}-{quantity}") for quantity, figure in panel.heatmaps
    )
    return f"""
<section class="sentence" id="sentence-{index}">
<h2>{index}. <q>{html.escape(run.text)}</q></h2>
<p class="tokens">{len(run.tokens)} tokens: {tokens}</p>
<p><b>{what}:</b> {html.escape(outcome)} ({probability:.1%})</p>
<h3>Prediction after each token</h3>
{figure_block(panel.prediction, f"s{index}-prediction")}
<h3>Step through</h3>
<p class="meta">Drag the slider or press play: the boxes show each gate's mean over units and
unit {panel.unit}'s value at that token.</p>
{figure_block(panel.step_through, f"s{index}-steps")}
<h3>Heatmaps</h3>
<div class="grid">
{heatmaps}
</div>
</section>"""


def build_lecture_pack(
    loaded: LoadedModel,
    sentences: list[str],
    layer: int = 0,
    direction: str = "forward",
    units_shown: int = 64,
    unit: int = 0,
) -> str:
    """One self-contained HTML page for `sentences`: per sentence the prediction after each token,
    a step-through of the cell and one heatmap per quantity of (`layer`, `direction`)."""
    config = loaded.config
    if not sentences:
        raise RnnvizError(
            "no sentences given: pass them as arguments or with --file (one per line)"
        )
    if not 0 <= layer < config.num_layers:
        raise RnnvizError(
            f"layer {layer} does not exist: {config.name} has layers 0 to {config.num_layers - 1}"
        )
    directions = ("forward", "backward") if config.bidirectional else ("forward",)
    if direction not in directions:
        raise RnnvizError(
            f"direction {direction!r} does not exist: {config.name} has {' and '.join(directions)}"
        )
    if units_shown < 1:
        raise RnnvizError("units shown must be at least 1")
    if not 0 <= unit < config.hidden_size:
        raise RnnvizError(
            f"unit {unit} does not exist: {config.name} has units 0 to {config.hidden_size - 1}"
        )
    panels = []
    for number, text in enumerate(sentences, 1):
        try:
            panels.append(sentence_panel(loaded, text, layer, direction, units_shown, unit))
        except RnnvizError as error:
            raise RnnvizError(f"sentence {number}: {error}") from error
    shown = min(units_shown, config.hidden_size)
    contents = "".join(
        f'<li><a href="#sentence-{k}">{html.escape(p.run.text)}</a></li>'
        for k, p in enumerate(panels, 1)
    )
    title = f"rnnviz lecture pack — {config.name}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(config.description)} — {html.escape(config.cell_kind)}, {config.num_layers} layer(s),
{config.hidden_size} units{" per direction, bidirectional" if config.bidirectional else ""}.
Shown: layer {layer}, {direction}, the first {shown} of {config.hidden_size} units.
Made with rnnviz {html.escape(_version())}; opens offline, no server needed.</p>
<ol>{contents}</ol>
{"".join(_sentence_html(k, p) for k, p in enumerate(panels, 1))}
<script type="text/javascript">{RENDER_SCRIPT}</script>
</body>
</html>
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnviz")
    except PackageNotFoundError:
        return "(source tree)"


def write_lecture_pack(model: str, out: str | Path, sentences: list[str], **options) -> Path:
    """Load `model` (a bundled name or a folder), build the pack and write it to `out`."""
    page = build_lecture_pack(rnnviz.load(model), sentences, **options)
    out = Path(out)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        raise RnnvizError(f"cannot write {out}: {error}") from error
    return out
