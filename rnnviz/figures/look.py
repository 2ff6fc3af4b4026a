"""What every chart shares: the plain look, fixed colour scales by meaning, title and legend
placement, and figures written so plotly.js redraws them cheaply."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from rnnviz.core.quantities import SIGMOID_GATES, TANH_QUANTITIES

# The app draws its busiest charts (the heatmap grid, the prediction chart) with theme=None, Streamlit's
# theming being a cost on every redraw. They carry their own plain look instead: white, Streamlit's
# text colour and font, light grid lines, distinct class colours.
PLAIN_LOOK = dict(
    paper_bgcolor="white",
    plot_bgcolor="white",
    font=dict(color="#31333F", family="Source Sans Pro, sans-serif"),
    colorway=[
        "#1f77b4",
        "#d62728",
        "#2ca02c",
        "#ff7f0e",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
    ],
)
PLAIN_AXIS = dict(gridcolor="#E6EAF1", zeroline=False)

# Where a chart's width is not known to the figure: the main column beside the sidebar at 1280 px.
ASSUMED_PLOT_PX = 720
ASSUMED_FIGURE_PX = 820  # the whole figure there: the plot and its margins
NARROW_CHARACTERS = frozenset("iljtfr.,:;'!|()[]")
# of the font size: the room an upright label takes across its axis (Chromium draws 1.33), with room
# for a plot a little narrower than assumed
LABEL_PITCH = 1.5
SMALLEST_TICK_FONT = 11  # labels shrink to this before the axis labels only every n-th token


@dataclass(frozen=True)
class TokenTicks:
    """How a token axis labels its columns: which columns (`shown`), their text, angle and font size,
    and the room the labels take under the axis (`label_px`)."""

    shown: list[int]
    text: list[str]
    angle: int
    font_size: int
    label_px: int

    def axis(self, labels: list[str]) -> dict:
        """The plotly axis settings that draw these ticks over columns named `labels`."""
        return dict(
            tickmode="array",
            tickvals=[labels[k] for k in self.shown],
            ticktext=self.text,
            tickangle=self.angle,
            tickfont=dict(size=self.font_size),
        )


def text_px(text: str, font_size: int) -> float:
    """About how wide `text` is drawn in the sans-serif font (Source Sans Pro): measured widths are
    ~0.3 of the font size for narrow characters, ~0.5 for other lower case, ~0.65 for capitals and
    wide letters; a little over, so that room made for it is never short."""
    widths = (
        0.32 if ch in NARROW_CHARACTERS else 0.68 if ch.isupper() or ch in "mwMW@%" else 0.54
        for ch in text
    )
    return sum(widths) * font_size


def token_ticks(
    texts: list[str],
    plot_px: float,
    font_size: int,
    smallest: int = SMALLEST_TICK_FONT,
    label_pitch: float = LABEL_PITCH,
) -> TokenTicks:
    """Every token's label, whole: flat while each fits its column, else upright (-90°, so that no
    label reaches under a neighbour or past the axis's start), a smaller font (down to `smallest`)
    where columns are narrow, and every n-th token only past that (hover names each)."""
    pitch = plot_px / max(len(texts), 1)
    if max((text_px(text, font_size) for text in texts), default=0) + 8 <= pitch:
        return TokenTicks(list(range(len(texts))), list(texts), 0, font_size, int(font_size * 2))
    size = max(min(smallest, font_size), min(font_size, int(pitch / label_pitch)))
    every = max(1, int(np.ceil(size * label_pitch / pitch - 1e-9)))
    shown = list(range(0, len(texts), every))
    longest_px = max((text_px(texts[k], size) for k in shown), default=0)
    return TokenTicks(shown, [texts[k] for k in shown], -90, size, int(longest_px + size + 4))


PLOT_DECIMALS = 3  # what every hover shows (%{z:.3f}); the exports keep full precision


def title_and_legend(title: str, height: int, font_size: int = 14, legend: bool = True) -> dict:
    """Layout entries that put a chart's title on the first line at the top left and its legend on the
    line below, both above the plot, so that neither covers the other or the data."""
    title_px = int(font_size * 1.5) + 8
    legend_px = int(font_size * 1.7) + 4 if legend else 0
    entries = dict(
        title=dict(
            text=title,
            x=0.01,
            xanchor="left",
            yref="container",
            y=1 - 6 / height,
            yanchor="top",
            font=dict(size=font_size + 2),
        ),
        margin_top=title_px + legend_px + 12,
    )
    if legend:
        entries["legend"] = dict(
            orientation="h",
            x=0,
            xanchor="left",
            yref="container",
            y=1 - (title_px + 8) / height,
            yanchor="top",
        )
    return entries


def with_title_and_legend(layout: dict, title: str, legend: bool = True) -> dict:
    """`layout` with `title_and_legend` applied (its height and font size read from it)."""
    font_size = layout.get("font", {}).get("size", 12)
    entries = title_and_legend(title, layout["height"], font_size, legend)
    margin = {**layout.get("margin", {}), "t": entries.pop("margin_top")}
    return {**layout, **entries, "margin": margin}


# Magnitudes (gradient norms): a sequential scale whose lightness falls one way, white for the smallest,
# so small reads faint (ColorBrewer's Purples; the top-k table uses Blues).
MAGNITUDE_SCALE = "Purples"


@dataclass(frozen=True)
class ColourScale:
    """A colour range fixed by what a quantity means, so colours compare across sentences."""

    colorscale: str
    zmin: float
    zmax: float


def colour_scale(quantity: str, values: np.ndarray, cell_kind: str = "lstm") -> ColourScale:
    """[0, 1] sequential for sigmoid gates, [−1, 1] diverging for tanh, symmetric for c."""
    if quantity in SIGMOID_GATES:
        return ColourScale("Viridis", 0.0, 1.0)
    if quantity in TANH_QUANTITIES or (quantity == "hidden" and cell_kind != "rnn_relu"):
        return ColourScale("RdBu_r", -1.0, 1.0)
    finite = np.abs(np.asarray(values)[np.isfinite(values)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if quantity == "hidden":  # ReLU: non-negative, unbounded
        return ColourScale("Viridis", 0.0, bound)
    return ColourScale("RdBu_r", -bound, bound)


@functools.lru_cache(maxsize=None)
def _named_colour_steps(name: str) -> tuple[tuple[float, str], ...]:
    return tuple(map(tuple, get_colorscale(name)))  # the lookup scans every named scale


def _colour_steps(name: str) -> list[list]:
    """A named colour scale ("RdBu_r" included) as the explicit [position, colour] steps plotly.js reads."""
    return [list(step) for step in _named_colour_steps(name)]


class PlainFigure(go.Figure):
    """A Figure that plotly.js redraws cheaply: written without a template and with numbers as plain
    lists, with a fixed `layout.datarevision`.

    Streamlit hands every new spec to plotly.js twice: `Plotly.newPlot`, then `Plotly.react` with a
    deep copy. plotly.js redraws everything on that react when the layout has a template (even `{}`)
    or when arrays are typed (as plotly.py writes numpy arrays); without both, and with `datarevision`
    unchanged, the copy is read as the same data (bench/bench_app.py measures the page). Numbers are
    rounded to the 3 decimals every hover shows.

    plotly.py's own objects are built only when something reads or changes the figure (`data`,
    `layout`, `update_layout`, ...): the page only serialises it (`to_dict`, which Streamlit calls),
    and building them deep-copies every trace, the most of a heatmap grid's Python time.
    """

    def __init__(self, spec: dict):
        self.__dict__["_unbuilt"] = spec

    def __getattr__(self, name: str):
        # reached only for what is not set yet: plotly.py's state, until the figure is built
        spec = self.__dict__.pop("_unbuilt", None)
        if spec is None:
            raise AttributeError(name)
        go.Figure.__init__(self, spec, _validate=False)
        return getattr(self, name)

    def to_dict(self) -> dict:
        spec = self.__dict__.get("_unbuilt")
        traces, layout = (
            (spec["data"], spec["layout"]) if spec is not None else (self._data, self._layout)
        )
        return {
            "data": [_plain(trace) for trace in traces],
            "layout": {
                key: copy.deepcopy(value) for key, value in layout.items() if key != "template"
            },
        }


def _plain(value):
    """A deep copy in which numpy arrays are lists (floats rounded to PLOT_DECIMALS)."""
    # immutable values as they are (the click layer has thousands of labels)
    if isinstance(value, (str, int, float, type(None))):
        return value
    if isinstance(value, np.ndarray):
        return (
            np.round(value.astype(np.float64), PLOT_DECIMALS) if value.dtype.kind == "f" else value
        ).tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def _unvalidated_figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from specs without plotly.py's per-property validation (a cost on every page of
    heatmaps); tests check these specs against the validating constructor instead."""
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _plain_figure(data: list[dict], layout: dict) -> PlainFigure:
    """`_unvalidated_figure` for a chart the app draws with theme=None: the plain look in the layout
    itself (see PlainFigure), on every axis."""
    layout = {
        **PLAIN_LOOK,
        **layout,
        "font": {**PLAIN_LOOK["font"], **layout.get("font", {})},
        "datarevision": 1,
    }
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            layout[name] = {**PLAIN_AXIS, **axis}
    return PlainFigure(dict(data=data, layout=layout))
