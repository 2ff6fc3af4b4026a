"""Pure figure builders: recorded arrays in, plotly Figures (or escaped HTML) out. No Streamlit here."""

from __future__ import annotations

import copy
import functools
import html
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale, sample_colorscale

SIGMOID_GATES = {"input_gate", "forget_gate", "output_gate", "reset_gate", "update_gate"}
TANH_QUANTITIES = {"cell_gate", "new_gate", "unprojected_hidden"}

LABELS = {
    "input_gate": "input gate i",
    "forget_gate": "forget gate f",
    "cell_gate": "cell candidate g",
    "output_gate": "output gate o",
    "cell": "cell state c",
    "hidden": "hidden state h",
    "unprojected_hidden": "o ⊙ tanh(c) before projection",
    "reset_gate": "reset gate r",
    "update_gate": "update gate z",
    "new_gate": "candidate n",
}
SYMBOLS = {
    "input_gate": "i",
    "forget_gate": "f",
    "cell_gate": "g",
    "output_gate": "o",
    "cell": "c",
    "hidden": "h",
    "reset_gate": "r",
    "update_gate": "z",
    "new_gate": "n",
    "unprojected_hidden": "o·tanh(c)",
}
UNKNOWN_MARK = "⟨unk⟩"

# The app draws its busiest charts (the heatmap grid, the prediction chart) with theme=None: Streamlit's
# theming cost ~50 ms per redraw of the grid. They carry their own plain look instead: white, Streamlit's
# text colour and font, light grid lines, distinct class colours.
PLAIN_LOOK = dict(
    paper_bgcolor="white", plot_bgcolor="white",
    font=dict(color="#31333F", family="Source Sans Pro, sans-serif"),
    colorway=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"],
)
PLAIN_AXIS = dict(gridcolor="#E6EAF1", zeroline=False)
PLOT_DECIMALS = 3  # what every hover shows (%{z:.3f}); the exports keep full precision


def title_and_legend(title: str, height: int, font_size: int = 14, legend: bool = True) -> dict:
    """Layout entries that put a chart's title on the first line at the top left and its legend on the
    line below, both above the plot, so that neither covers the other or the data."""
    title_px = int(font_size * 1.5) + 8
    legend_px = int(font_size * 1.7) + 4 if legend else 0
    entries = dict(
        title=dict(text=title, x=0.01, xanchor="left", yref="container", y=1 - 6 / height, yanchor="top",
                   font=dict(size=font_size + 2)),
        margin_top=title_px + legend_px + 12,
    )
    if legend:
        entries["legend"] = dict(orientation="h", x=0, xanchor="left", yref="container",
                                 y=1 - (title_px + 8) / height, yanchor="top")
    return entries


def with_title_and_legend(layout: dict, title: str, legend: bool = True) -> dict:
    """`layout` with `title_and_legend` applied (its height and font size read from it)."""
    font_size = layout.get("font", {}).get("size", 12)
    entries = title_and_legend(title, layout["height"], font_size, legend)
    margin = {**layout.get("margin", {}), "t": entries.pop("margin_top")}
    return {**layout, **entries, "margin": margin}


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def readable_number(value: float, digits: int = 3) -> str:
    """A number as a person reads it: plain decimals (0.928) in everyday ranges, else 1.2 × 10⁻⁸."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(digits - 1, 0)}f}"
    mantissa, exponent = f"{value:.{max(digits - 2, 0)}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"


@dataclass(frozen=True)
class ColourScale:
    """A colour range fixed by what a quantity means, so colours compare across sentences."""

    colorscale: str
    zmin: float
    zmax: float


def colour_scale(quantity: str, values: np.ndarray, cell: str = "lstm") -> ColourScale:
    """[0, 1] sequential for sigmoid gates, [−1, 1] diverging for tanh, symmetric for c."""
    if quantity in SIGMOID_GATES:
        return ColourScale("Viridis", 0.0, 1.0)
    if quantity in TANH_QUANTITIES or (quantity == "hidden" and cell != "rnn_relu"):
        return ColourScale("RdBu_r", -1.0, 1.0)
    finite = np.abs(np.asarray(values)[np.isfinite(values)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if quantity == "hidden":  # ReLU: non-negative, unbounded
        return ColourScale("Viridis", 0.0, bound)
    return ColourScale("RdBu_r", -bound, bound)


def token_labels(tokens: list[str], unknown: list[bool] | None = None) -> list[str]:
    """Readable, unique axis labels: spaces and newlines visible, unknown marked, position appended."""
    unknown = unknown or [False] * len(tokens)
    labels = []
    for i, (token, is_unknown) in enumerate(zip(tokens, unknown)):
        visible = token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
        visible = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in visible) or "∅"
        labels.append(f"{visible}{UNKNOWN_MARK if is_unknown else ''} ·{i}")
    return labels


def _heatmap_traces(
    values: np.ndarray,
    labels: list[str],
    quantity: str,
    cell: str,
    unit_order: np.ndarray | None,
    selected: tuple[int, int] | None,
    clickable: bool,
    axes: tuple[str, str] = ("x", "y"),
    columns: list | None = None,
    marker_px: int | None = None,
) -> list[dict]:
    """One quantity's heatmap traces as plain specs on the given axes: the heatmap, the click layer, the mark.

    `columns` are the x positions the panel draws at (default: the token labels as categories; the
    side-by-side grid gives each panel numbers of its own). Every point of the click layer carries
    (token index, unit id, value) as `customdata`, which `clicked_cell` reads back; the hover names the
    panel's own quantity and value. All of a panel's traces carry `legendgroup` = the quantity.
    """
    values = np.asarray(values, dtype=np.float32)
    order = np.arange(values.shape[1]) if unit_order is None else np.asarray(unit_order)
    z = values[:, order].T  # [shown units, time]
    scale = colour_scale(quantity, values, cell)
    rows = [str(u) for u in order]
    numeric_columns = columns is not None
    columns = list(labels) if columns is None else list(columns)
    panel = dict(xaxis=axes[0], yaxis=axes[1], legendgroup=quantity)
    token = "%{text}" if numeric_columns else "%{x}"

    def hover(value: str) -> str:
        return f"{_hover_name(quantity)}<br>token {token}<br>unit %{{y}}<br>value %{{{value}:.3f}}<extra></extra>"

    heatmap = dict(
        type="heatmap", z=z, x=columns, y=rows, name=quantity, **panel,
        colorscale=_colour_steps(scale.colorscale), zmin=scale.zmin, zmax=scale.zmax,
        hovertemplate=hover("z"), colorbar=dict(thickness=12),
    )
    if numeric_columns:
        heatmap["text"] = [list(labels)] * len(rows)
    traces = [heatmap]
    if clickable:
        steps = np.tile(np.arange(len(columns)), len(rows))
        units = np.repeat(order, len(columns))
        traces.append(dict(  # on top, so it answers hovers too, with the heatmap's own label
            type="scatter", name="cells", **panel,
            x=np.tile(np.array(columns, dtype=object), len(rows)),
            y=np.repeat(np.array(rows, dtype=object), len(columns)),
            customdata=np.stack([steps, units, z.reshape(-1)], axis=1),
            mode="markers",
            # maxdisplayed=1: one (invisible) marker drawn instead of one SVG node per cell, while hover and
            # click still search every point. A marker about as large as a cell wins the hover over the
            # heatmap anywhere in the cell, so a click anywhere in it selects it.
            marker=dict(symbol="square", size=marker_px or max(6, min(18, 600 // max(len(labels), 1))),
                        opacity=0, maxdisplayed=1),
            hovertemplate=hover("customdata[2]"),
            showlegend=False,
        ))
        if numeric_columns:
            traces[-1]["text"] = list(labels) * len(rows)
    if selected is not None:
        step, unit = selected
        if 0 <= step < len(labels) and str(unit) in rows:
            traces.append(dict(
                type="scatter", name="selected", **panel, x=[columns[step]], y=[rows[rows.index(str(unit))]],
                customdata=[[step, int(unit)]],
                mode="markers", marker=dict(symbol="square-open", size=16, color="black", line=dict(width=3)),
                hoverinfo="skip", showlegend=False, cliponaxis=False,  # whole at a panel's edge too
            ))
    return traces


def _hover_name(quantity: str) -> str:
    return html.escape(LABELS.get(quantity, quantity))


def clicked_cell(point: dict) -> tuple[int, int] | None:
    """(token index, unit id) carried by a clicked point of a heatmap's click layer, or None."""
    data = point.get("customdata")
    if not isinstance(data, (list, tuple)) or len(data) < 2:
        return None
    try:
        return int(data[0]), int(data[1])
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _named_colour_steps(name: str) -> tuple[tuple[float, str], ...]:
    return tuple(map(tuple, get_colorscale(name)))  # the lookup scans every named scale: ~4 ms


def _colour_steps(name: str) -> list[list]:
    """A named colour scale ("RdBu_r" included) as the explicit [position, colour] steps plotly.js reads."""
    return [list(step) for step in _named_colour_steps(name)]


class PlainFigure(go.Figure):
    """A Figure that plotly.js redraws cheaply: written without a template and with numbers as plain
    lists, with a fixed `layout.datarevision`.

    Streamlit mounts a new chart for every new spec and hands it to plotly.js twice: `Plotly.newPlot`,
    then, after its theme pass, `Plotly.react` with a deep copy. plotly.js redraws everything on that
    react when the layout has a template (any, even `{}`) or when arrays are typed (plotly.py writes
    numpy arrays as base64 typed arrays, and plotly.js caches each decoded array on the spec, which
    the copy then writes out as an object with a key per number: 1.1 MB became 4.7 MB for a
    400-character passage). Without both, and with `datarevision` unchanged, the copy is read as the
    same data. Measured in headless Chromium (plotly.js 4.1, outside Streamlit): that react took
    35–48 ms for the 12-token grid and 78–88 ms for the 400-character one, now 10–13 and 15–17 ms.
    Numbers are rounded to the 3 decimals every hover shows.
    """

    def to_dict(self) -> dict:
        layout = {key: copy.deepcopy(value) for key, value in self._layout.items() if key != "template"}
        return {"data": [_plain(trace) for trace in self._data], "layout": layout}


def _plain(value):
    """A deep copy in which numpy arrays are lists (floats rounded to PLOT_DECIMALS)."""
    if isinstance(value, np.ndarray):
        return (np.round(value.astype(np.float64), PLOT_DECIMALS) if value.dtype.kind == "f" else value).tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def _unvalidated_figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from specs without plotly.py's per-property validation, which cost ~200 ms per page of
    heatmaps here; tests check these specs against the validating constructor instead."""
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _plain_figure(data: list[dict], layout: dict) -> PlainFigure:
    """`_unvalidated_figure` for a chart the app draws with theme=None: the plain look in the layout
    itself (see PlainFigure), on every axis."""
    layout = {**PLAIN_LOOK, **layout, "font": {**PLAIN_LOOK["font"], **layout.get("font", {})}, "datarevision": 1}
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            layout[name] = {**PLAIN_AXIS, **axis}
    return PlainFigure(dict(data=data, layout=layout), _validate=False)


def quantity_heatmap(
    values: np.ndarray,
    labels: list[str],
    quantity: str,
    cell: str = "lstm",
    unit_order: np.ndarray | None = None,
    selected: tuple[int, int] | None = None,
    clickable: bool = False,
    title: str | None = None,
    font_size: int = 14,
) -> go.Figure:
    """Heatmap of one quantity: x = tokens (time), y = units in `unit_order`; `values` is [time, units].

    `clickable` lays a transparent marker on every cell: Streamlit returns no selection for
    heatmaps themselves, but does for these markers (x = token label, y = unit id).
    """
    traces = _heatmap_traces(values, labels, quantity, cell, unit_order, selected, clickable)
    units = len(traces[0]["y"])
    return _unvalidated_figure(traces, dict(
        title=dict(text=title or LABELS.get(quantity, quantity)),
        xaxis=dict(title=dict(text="token"), type="category", tickangle=-45 if len(labels) > 5 else 0),
        yaxis=dict(title=dict(text="unit"), type="category", autorange="reversed"),
        margin=dict(l=50, r=20, t=40, b=60),
        height=max(260, min(900, 12 * units + 140)),
        font=dict(size=font_size),
        clickmode="event+select",
        dragmode=False,
    ))


CELL_TEXT_MAX_COLUMNS = 80  # beyond this many tokens a cell is too narrow to write in, and labels thin out
LONG_TEXT_TICKS = 40
# Panels stand side by side while all their columns together stay readable (~15 px or more each);
# beyond that they stack, each on its own axes.
SIDE_BY_SIDE_MAX_COLUMNS = 80
GRID_GAP_COLUMNS = 2  # blank columns between side-by-side panels
EVERY_PANEL_LABELS_MAX_TOKENS = 200  # past this, a stacked grid writes its tokens under the last panel only
TWO_COLUMN_MAX_TOKENS = 40  # stacked panels stand two to a row up to this many tokens, one to a row past it
NEXT_TOKEN_ROW_PX = 22  # height of a row of the top-k table inside a grid
GRID_PANEL_GAP_PX = 130  # room under a panel for its rotated token labels and the next panel's title
GRID_COLUMN_GAP = 0.13  # of the width: room for a panel's colour bar and the next panel's unit labels


def _panel_grid(values_by_quantity: dict[str, np.ndarray], labels: list[str], cell: str, unit_order: np.ndarray | None,
                selected: tuple[int, int] | None, clickable: bool, columns: int, font_size: int,
                next_tokens: NextTokens | None = None) -> go.Figure:
    """Stacked arrangement of `quantity_grid`: a subplot per quantity, `columns` to a row.

    Each panel has `quantity_heatmap`'s traces (same colours, hover, click layer and selected-cell
    mark); panels with the same colour range share one colour bar. One figure rather than one per quantity because the
    browser pays a fixed cost per Plotly chart: six separate heatmaps took ~210 ms to draw in headless
    Chromium here, the same six as one grid ~50 ms. `next_tokens` (one column only) adds the top-k
    table as the first row, on the same token axis.
    """
    quantities = list(values_by_quantity)
    columns = max(1, min(columns, len(quantities)))
    order_length = len(unit_order) if unit_order is not None else np.shape(values_by_quantity[quantities[0]])[1]
    panel_px = max(150, min(420, 6 * order_length))
    # One column: every panel on one token axis (a position reads down through every quantity). Up to
    # EVERY_PANEL_LABELS_MAX_TOKENS each panel (and the top-k table) writes the tokens under itself on
    # an axis matching the first; past it only the last panel does, as each axis costs a draw (bench/).
    shared_x = columns == 1  # `quantity_grid` passes `next_tokens` only then
    one_token_axis = shared_x and len(labels) > EVERY_PANEL_LABELS_MAX_TOKENS
    bottom_y = f"y{len(quantities)}" if len(quantities) > 1 else "y"  # the last panel's unit axis
    gap_px = 40 if one_token_axis else GRID_PANEL_GAP_PX
    # Rows top down, in pixels: the table (if any), then the panels `columns` to a row.
    row_px = ([NEXT_TOKEN_ROW_PX * next_tokens.k] if next_tokens else []) + [panel_px] * -(-len(quantities) // columns)
    plot_px = sum(row_px) + (len(row_px) - 1) * gap_px
    row_tops = [1 - (sum(row_px[:r]) + r * gap_px) / plot_px for r in range(len(row_px))]
    panel_width = (1 - (columns - 1) * GRID_COLUMN_GAP) / columns
    tick_angle = -45 if len(labels) > 5 else 0
    # A long passage labels every few tokens (hover names each): fewer label nodes to lay out per redraw.
    long_text_ticks = {"nticks": LONG_TEXT_TICKS} if len(labels) > CELL_TEXT_MAX_COLUMNS else {}
    data, layout = [], dict(
        height=plot_px + 40 + 70, margin=dict(l=50, r=40, t=40, b=70), font=dict(size=font_size),
        showlegend=False, annotations=[],
        # what Streamlit sets on a chart with point selection; set here, its effect finds nothing to
        # change and skips one more render of the chart
        clickmode="event+select", dragmode="pan", hovermode="closest",
    )

    def domains(row: int, column: int) -> tuple[list[float], list[float]]:
        left, top = column * (panel_width + GRID_COLUMN_GAP), row_tops[row]
        bottom = top - row_px[row] / plot_px
        # rounded into [0, 1]: float error at the edges (e.g. -8e-17) is an invalid domain to Plotly
        return ([max(0.0, round(left, 6)), min(1.0, round(left + panel_width, 6))],
                [max(0.0, round(bottom, 6)), min(1.0, round(top, 6))])

    def title(text: str, x_domain: list[float], top: float) -> None:
        layout["annotations"].append(dict(
            text=text, showarrow=False, xref="paper", yref="paper", x=sum(x_domain) / 2, y=top,
            xanchor="center", yanchor="bottom", font=dict(size=font_size + 2)))

    def colour_bar(axis: dict, x_domain: list[float], y_domain: list[float]) -> None:
        # The bar stands beside the last panel that uses its colour axis.
        axis["colorbar"] = dict(thickness=12, x=x_domain[1] + 0.005, xanchor="left", y=sum(y_domain) / 2,
                                yanchor="middle", len=y_domain[1] - y_domain[0])

    colour_axes: dict[tuple, dict] = {}
    first_row = 0
    if next_tokens is not None:
        x_domain, y_domain = domains(0, 0)
        table_x = "x" if one_token_axis else f"x{len(quantities) + 1}"
        y_name = f"y{len(quantities) + 1}"
        layout[f"yaxis{len(quantities) + 1}"] = dict(domain=y_domain, anchor=table_x, type="category",
                                                     range=[next_tokens.k - 0.5, -0.5], autorange=False, showgrid=False)
        if not one_token_axis:  # the characters each column follows, written under the table
            layout[f"xaxis{len(quantities) + 1}"] = dict(
                domain=x_domain, anchor=y_name, type="category", matches="x", range=[-0.5, len(labels) - 0.5],
                autorange=False, tickangle=tick_angle, showgrid=False, **long_text_ticks)
        title(_next_token_title(next_tokens, labels), x_domain, row_tops[0])
        table = _next_token_table(next_tokens, labels, axes=(table_x, y_name))
        colour_bar(_share_colour_axis(colour_axes, table, "p"), x_domain, y_domain)
        data.append(table)
        first_row = 1
    for i, quantity in enumerate(quantities):
        row, column = divmod(i, columns)
        x_domain, y_domain = domains(first_row + row, column)
        suffix = "" if i == 0 else str(i + 1)
        x_name, y_name = ("x" if one_token_axis else f"x{suffix}"), f"y{suffix}"
        # no grid lines: the heatmap covers them, and each is one more SVG node to lay out per redraw
        # Fixed ranges, one category per cell: no autorange pass, and no padding for the selected-cell
        # mark (it left a blank band above each panel).
        if not one_token_axis or i == 0:
            layout[f"xaxis{suffix}"] = dict(domain=x_domain, anchor=bottom_y if one_token_axis else y_name,
                                            type="category", range=[-0.5, len(labels) - 0.5], autorange=False,
                                            tickangle=tick_angle, showgrid=False, **long_text_ticks,
                                            **({"matches": "x"} if shared_x and i > 0 else {}))
        # unit labels on the first column only: every panel has the same unit order, and each tick
        # label is an SVG text node the browser lays out on every redraw (half of them: ~100 ms here)
        layout[f"yaxis{suffix}"] = dict(domain=y_domain, anchor=x_name, type="category",
                                        range=[order_length - 0.5, -0.5], autorange=False, showgrid=False,
                                        **({"title": dict(text="unit")} if column == 0 else {"showticklabels": False}))
        title(LABELS.get(quantity, quantity), x_domain, y_domain[1])
        traces = _heatmap_traces(values_by_quantity[quantity], labels, quantity, cell, unit_order, selected,
                                 clickable, axes=(x_name, y_name))
        colour_bar(_share_colour_axis(colour_axes, traces[0], quantity), x_domain, y_domain)
        data += traces
    for axis in colour_axes.values():
        layout[axis["name"]] = dict(colorscale=axis["colorscale"], cmin=axis["cmin"], cmax=axis["cmax"],
                                    colorbar=dict(axis["colorbar"], title=dict(text=", ".join(axis["symbols"]))))
    return _plain_figure(data, layout)


def _share_colour_axis(colour_axes: dict[tuple, dict], heatmap: dict, quantity: str) -> dict:
    """Move `heatmap`'s colours onto the grid's colour axis for its scale and range (made on first use).

    Panels whose colours mean the same (the σ gates on [0, 1]; g and h on [−1, 1]) share one colour
    axis and bar: each bar costs about as much to draw as a panel. `symbols` lists the quantities a
    bar colours, for its title.
    """
    scale = (heatmap.pop("zmin"), heatmap.pop("zmax"))
    axis = colour_axes.setdefault((str(heatmap["colorscale"]), scale), {
        "name": "coloraxis" if not colour_axes else f"coloraxis{len(colour_axes) + 1}",
        "colorscale": heatmap["colorscale"], "cmin": scale[0], "cmax": scale[1], "symbols": []})
    del heatmap["colorscale"], heatmap["colorbar"]
    heatmap["coloraxis"] = axis["name"]
    axis["symbols"].append(SYMBOLS.get(quantity, quantity))
    return axis


def shares_token_axis(tokens: int, quantities: int, arrangement: str | None = None) -> bool:
    """Whether `quantity_grid` stacks every panel on one token axis (then a top-k table can join it)."""
    return (arrangement or grid_arrangement(tokens, quantities)) == "stacked" and tokens > TWO_COLUMN_MAX_TOKENS


def grid_arrangement(tokens: int, quantities: int) -> str:
    """"side by side" (one row of panels sharing the unit axis) or "stacked" (a subplot per panel)."""
    return "side by side" if tokens * quantities <= SIDE_BY_SIDE_MAX_COLUMNS else "stacked"


def quantity_grid(
    values_by_quantity: dict[str, np.ndarray],
    labels: list[str],
    cell: str = "lstm",
    unit_order: np.ndarray | None = None,
    selected: tuple[int, int] | None = None,
    clickable: bool = False,
    font_size: int = 14,
    arrangement: str | None = None,
    next_tokens: NextTokens | None = None,
) -> go.Figure:
    """Every quantity's heatmap as one figure, a panel per quantity, all in one unit order.

    Each panel has `quantity_heatmap`'s traces (same colours, hover, click layer and selected-cell
    mark, told apart by `legendgroup`); panels with the same colour range share one colour bar;
    `clicked_cell` maps a clicked point back to (token, unit).

    Short texts put the panels side by side on ONE pair of axes, sharing the unit axis (a unit's row
    runs on through every quantity). The browser pays per axis, not per heatmap: measured in Streamlit
    here, one Plotly draw of six 12-token panels took 76–95 ms on six subplots and 26–40 ms on one.
    Longer texts stack the panels on subplots of their own (two to a row up to 40 tokens), because
    on a shared category axis Plotly expands every heatmap to all of the axis's categories: six
    400-column panels sharing one unit axis drew slower than six subplots. Past TWO_COLUMN_MAX_TOKENS
    every panel stands on one token axis, and a language model's top-k table (`next_tokens`) can join
    it as the first row (see `shares_token_axis`): a position then reads straight down from the
    prediction through every quantity, and the page draws one chart instead of two.
    """
    arrangement = arrangement or grid_arrangement(len(labels), len(values_by_quantity))
    shared = shares_token_axis(len(labels), len(values_by_quantity), arrangement)
    if next_tokens is not None and not shared:
        raise ValueError("the next-token table joins the grid only where every panel shares the token axis")
    if arrangement == "side by side":
        return _side_by_side_grid(values_by_quantity, labels, cell, unit_order, selected, clickable, font_size)
    return _panel_grid(values_by_quantity, labels, cell, unit_order, selected, clickable,
                       1 if shared else 2, font_size, next_tokens)


def _side_by_side_grid(values_by_quantity: dict[str, np.ndarray], labels: list[str], cell: str,
                       unit_order: np.ndarray | None, selected: tuple[int, int] | None, clickable: bool,
                       font_size: int) -> go.Figure:
    """The panels in one row on one pair of axes: panel k draws at x = its first column + token index
    (numbers, so no panel's heatmap reaches into another's), with blank columns between panels; the
    ticks name each column's token."""
    quantities = list(values_by_quantity)
    order = (np.arange(np.shape(values_by_quantity[quantities[0]])[1]) if unit_order is None
             else np.asarray(unit_order))
    units = [str(u) for u in order]
    panel_columns = [[k * (len(labels) + GRID_GAP_COLUMNS) + t for t in range(len(labels))]
                     for k in range(len(quantities))]
    total_columns = len(quantities) * len(labels) + (len(quantities) - 1) * GRID_GAP_COLUMNS
    tick_text = [token_text(label) for label in labels]
    # Tall enough for the stacked colour bars to keep their tick labels apart, and for rows to be hit.
    plot_px = max(SIDE_BY_SIDE_MIN_PX, min(600, 9 * len(units)))
    # Token labels lie flat while a panel's columns are wide enough, else slanted: never cut off.
    longest = max((len(text) for text in tick_text), default=1)
    tick_angle = 0 if longest * len(quantities) * len(labels) <= 90 else -60
    margin = dict(l=50, r=90, t=40, b=30)
    layout = dict(
        height=plot_px + margin["t"] + margin["b"] + _tick_label_px(longest, tick_angle, font_size),
        margin=margin, font=dict(size=font_size), showlegend=False, annotations=[],
        # what Streamlit sets on a chart with point selection; set here, its effect finds nothing to
        # change and skips one more render of the chart
        clickmode="event+select", dragmode="pan", hovermode="closest",
        # Fixed ranges, one column per token: no autorange pass, no padding for the click layer's markers.
        xaxis=dict(showgrid=False, zeroline=False, range=[-0.5, total_columns - 0.5], autorange=False,
                   tickmode="array", tickvals=[c for columns in panel_columns for c in columns],
                   ticktext=tick_text * len(quantities), automargin=True, ticks="", tickangle=tick_angle),
        yaxis=dict(type="category", categoryorder="array", categoryarray=units, showgrid=False,
                   range=[len(units) - 0.5, -0.5], autorange=False,  # unit rows top down
                   title=dict(text="unit"), automargin=True),
    )
    marker_px = int(max(6, min(40, plot_px / max(len(units), 1))))
    colour_axes: dict[tuple, dict] = {}
    data = []
    for quantity, columns in zip(quantities, panel_columns):
        traces = _heatmap_traces(values_by_quantity[quantity], labels, quantity, cell, order, selected, clickable,
                                 columns=columns, marker_px=marker_px)
        layout["annotations"].append(dict(  # the title above the panel
            text=LABELS.get(quantity, quantity), showarrow=False, xref="x", x=(columns[0] + columns[-1]) / 2,
            yref="paper", y=1, yanchor="bottom", xanchor="center", font=dict(size=font_size + 2)))
        _share_colour_axis(colour_axes, traces[0], quantity)
        data += traces
    for j, axis in enumerate(colour_axes.values()):  # the bars share the right edge, one above another
        layout[axis["name"]] = dict(colorscale=axis["colorscale"], cmin=axis["cmin"], cmax=axis["cmax"], colorbar=dict(
            thickness=12, x=1.01, xanchor="left", y=1 - (j + 0.5) / len(colour_axes), yanchor="middle",
            len=0.9 / len(colour_axes), title=dict(text=", ".join(axis["symbols"]))))
    return _plain_figure(data, layout)


SIDE_BY_SIDE_MIN_PX = 330  # three colour bars of ~100 px each keep their tick labels apart


def token_text(label: str) -> str:
    """A token's label without its position: what an axis writes under a column."""
    return label.rsplit(" ·", 1)[0]


def _tick_label_px(characters: int, angle: float, font_size: int) -> int:
    """Room under the plot for tick labels of `characters` characters at `angle` degrees."""
    if angle == 0:
        return int(font_size * 2)
    return int(font_size * 0.62 * characters * abs(np.sin(np.radians(angle))) + font_size * 2)


def class_probability_figure(probabilities: np.ndarray, labels: list[str], classes: list[str], font_size: int = 14) -> go.Figure:
    """Classifier: P(class) after each token, one line per class; a flip shows as a crossing."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    traces = [
        dict(type="scatter", x=list(labels), y=probabilities[:, k], mode="lines+markers", name=name,
             hovertemplate=f"after %{{x}}<br>P({html.escape(name)}) = %{{y:.3f}}<extra></extra>")
        for k, name in enumerate(classes)
    ]
    return _plain_figure(traces, with_title_and_legend(dict(
        xaxis=dict(title=dict(text="token"), type="category", tickmode="array", tickvals=list(labels),
                   ticktext=[token_text(label) for label in labels]),
        yaxis=dict(title=dict(text="probability"), range=[0, 1]),
        height=280,
        margin=dict(l=50, r=20, b=60),
        font=dict(size=font_size),
    ), "prediction after each token"))


@dataclass(frozen=True)
class NextTokens:
    """A language model's next-token distribution after each position, [time, vocabulary], and its top k."""

    distribution: np.ndarray
    vocabulary: list[str]
    k: int = 5


NEXT_TOKENS_GROUP = "next tokens"  # the table's legendgroup inside a heatmap grid


def _next_token_table(next_tokens: NextTokens, labels: list[str], axes: tuple[str, str] = ("x", "y")) -> dict:
    """The top-k table as a heatmap trace: a column per position, row r the r-th likeliest next token,
    coloured by its probability, the token named on hover (and written in the cell while readable)."""
    distribution, k = next_tokens.distribution, next_tokens.k
    top = np.argsort(-distribution, axis=1, kind="stable")[:, :k]  # [time, k]
    probabilities = np.take_along_axis(distribution, top, axis=1)
    shown_ids = np.unique(top).tolist()  # each predicted entry labelled once, not once per cell
    vocabulary = next_tokens.vocabulary
    readable = dict(zip(shown_ids, (label.rsplit(" ·", 1)[0] for label in token_labels([vocabulary[i] for i in shown_ids]))))
    shown = [[readable[i] for i in row] for row in top.tolist()]
    table = dict(
        type="heatmap", z=probabilities.T, x=list(labels), y=[f"#{r + 1}" for r in range(k)],
        xaxis=axes[0], yaxis=axes[1], name=NEXT_TOKENS_GROUP, legendgroup=NEXT_TOKENS_GROUP,
        text=np.array(shown, dtype=object).T, colorscale=_colour_steps("Blues"), zmin=0.0, zmax=1.0,
        hovertemplate="after %{x}<br>%{y}: '%{text}' p = %{z:.3f}<extra></extra>",
        colorbar=dict(thickness=12, title=dict(text="p")),
    )
    # Characters written in the cells only while a cell is wide enough to read one: past that they are
    # illegible, and each is a text node the browser lays out (400 positions × 5 took ~300 ms per draw).
    if len(labels) <= CELL_TEXT_MAX_COLUMNS:
        table["texttemplate"] = "%{text}"
    return table


def _next_token_title(next_tokens: NextTokens, labels: list[str]) -> str:
    written = len(labels) <= CELL_TEXT_MAX_COLUMNS
    return f"top-{next_tokens.k} next characters after each position" + ("" if written else " (hover a cell to read it)")


def next_token_figure(distribution: np.ndarray, labels: list[str], vocabulary: list[str], k: int = 5, font_size: int = 14) -> go.Figure:
    """Language model: the top-k next tokens at every position, as a table coloured by probability."""
    next_tokens = NextTokens(distribution, vocabulary, k)
    written = len(labels) <= CELL_TEXT_MAX_COLUMNS
    return _plain_figure([_next_token_table(next_tokens, labels)], dict(
        title=dict(text=_next_token_title(next_tokens, labels)),
        xaxis=dict(title=dict(text="position"), type="category", tickangle=-45 if len(labels) > 5 else 0,
                   **({} if written else {"nticks": LONG_TEXT_TICKS})),
        yaxis=dict(type="category", autorange="reversed"),
        height=260,
        margin=dict(l=50, r=20, t=40, b=60),
        font=dict(size=font_size),
    ))


def unit_timeline(series: dict[str, np.ndarray], labels: list[str], unit: int, step: int | None = None, font_size: int = 14) -> go.Figure:
    """One unit's gates, cell and hidden state over time (series: quantity → [time])."""
    figure = go.Figure()
    for quantity, values in series.items():
        figure.add_trace(
            go.Scatter(
                x=labels,
                y=values,
                mode="lines+markers",
                name=LABELS.get(quantity, quantity),
                line=dict(dash="solid" if quantity in ("cell", "hidden") else "dot"),
            )
        )
    if step is not None and 0 <= step < len(labels):
        figure.add_vline(x=step, line_width=2, line_dash="dash", line_color="grey")
    figure.update_layout(with_title_and_legend(dict(
        xaxis=dict(title="token", type="category"),
        yaxis=dict(title="value"),
        height=400,
        margin=dict(l=50, r=20, b=60),
        font=dict(size=font_size),
    ), f"unit {unit} over time"))
    return figure


def coloured_tokens_html(tokens: list[str], values: np.ndarray, scale: ColourScale, font_size: int = 18) -> str:
    """The text with each token's background coloured by a unit's value (Karpathy et al. 2015).

    Tokens are HTML-escaped: typed text is shown as text, never interpreted as markup.
    """
    span = max(scale.zmax - scale.zmin, 1e-9)
    fractions = np.clip((np.nan_to_num(np.asarray(values, dtype=np.float64)) - scale.zmin) / span, 0.0, 1.0)
    colours = sample_colorscale(scale.colorscale, fractions.tolist())
    parts = []
    for token, value, colour, fraction in zip(tokens, values, colours, fractions):
        ink = "white" if _is_dark(colour) else "black"
        shown = html.escape(token).replace("\n", "↵<br>") or "∅"
        parts.append(
            f'<span title="{float(value):.3f}" style="background:{colour};color:{ink};'
            f'padding:2px 3px;margin:1px;border-radius:3px;white-space:pre">{shown}</span>'
        )
    return f'<div style="font-size:{font_size}px;line-height:2.1;font-family:monospace">{"".join(parts)}</div>'


def _is_dark(colour: str) -> bool:
    channels = [float(v) for v in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
    return 0.299 * channels[0] + 0.587 * channels[1] + 0.114 * channels[2] < 128


def difference_heatmap(
    first: np.ndarray, second: np.ndarray, first_labels: list[str], second_labels: list[str], quantity: str, align: str = "end",
    unit_order: np.ndarray | None = None, font_size: int = 14,
) -> go.Figure:
    """second − first over aligned positions (`align` = "start" or "end"), [time, units] inputs."""
    steps = min(len(first), len(second))
    if align == "end":
        first, second = first[len(first) - steps :], second[len(second) - steps :]
        first_labels, second_labels = first_labels[len(first_labels) - steps :], second_labels[len(second_labels) - steps :]
    else:
        first, second, first_labels, second_labels = first[:steps], second[:steps], first_labels[:steps], second_labels[:steps]
    difference = np.asarray(second, dtype=np.float32) - np.asarray(first, dtype=np.float32)
    order = np.arange(difference.shape[1]) if unit_order is None else np.asarray(unit_order)
    bound = float(np.nanmax(np.abs(difference))) if difference.size else 1.0
    bound = bound if bound > 0 else 1.0
    labels = [f"{b.rsplit(' ·', 1)[0]} vs {a.rsplit(' ·', 1)[0]} ·{i}" for i, (a, b) in enumerate(zip(first_labels, second_labels))]
    figure = go.Figure(
        go.Heatmap(
            z=difference[:, order].T,
            x=labels,
            y=[str(u) for u in order],
            colorscale="RdBu_r",
            zmin=-bound,
            zmax=bound,
            hovertemplate="%{x}<br>unit %{y}<br>difference %{z:.3f}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    figure.update_layout(
        title=f"difference of {LABELS.get(quantity, quantity)} (second − first, aligned at the {align})",
        xaxis=dict(title="aligned tokens", type="category"),
        yaxis=dict(title="unit", type="category", autorange="reversed"),
        height=max(260, min(900, 12 * len(order) + 140)),
        margin=dict(l=50, r=20, t=40, b=80),
        font=dict(size=font_size),
    )
    return figure


def comparison_figure(curves: list[tuple[str, np.ndarray, list[str]]], class_name: str, font_size: int = 14) -> go.Figure:
    """P(class) after each token for several sentences on one chart (x = position)."""
    figure = go.Figure()
    for name, probabilities, labels in curves:
        figure.add_trace(
            go.Scatter(
                x=list(range(len(labels))),
                y=probabilities,
                text=[token_text(label) for label in labels],
                mode="lines+markers+text",
                textposition="top center",
                name=name,
                hovertemplate="%{text} (position %{x})<br>P = %{y:.3f}<extra></extra>",
            )
        )
    figure.update_layout(with_title_and_legend(dict(
        xaxis=dict(title="position", tickmode="linear", tick0=0, dtick=1),  # whole positions only
        yaxis=dict(title="probability", range=[0, 1.08]),
        height=340,
        margin=dict(l=50, r=20, b=50),
        font=dict(size=font_size),
    ), f"P({class_name}) after each token"))
    return figure


@dataclass(frozen=True)
class Projection:
    """A 2-D PCA projection: x ↦ (x − mean) · components.T."""

    mean: np.ndarray
    components: np.ndarray  # [2, units]
    explained: tuple[float, float]  # fraction of variance of each axis

    def apply(self, states: np.ndarray) -> np.ndarray:
        return (np.asarray(states, dtype=np.float64) - self.mean) @ self.components.T


def fit_pca(states: np.ndarray) -> Projection:
    """Principal components of [samples, units] states (SVD of the centred matrix)."""
    states = np.nan_to_num(np.asarray(states, dtype=np.float64))
    mean = states.mean(axis=0)
    centred = states - mean
    _, singular, vectors = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((2, states.shape[1]))
    components[: min(2, len(vectors))] = vectors[:2]
    variance = singular**2
    total = variance.sum() or 1.0
    explained = tuple(float(v / total) for v in np.pad(variance, (0, 2))[:2])
    return Projection(mean=mean, components=components, explained=explained)


def trajectory_figure(paths: list[tuple[str, np.ndarray, list[str]]], projection: Projection, font_size: int = 14) -> go.Figure:
    """Hidden states h_t projected to 2-D, drawn as paths labelled by their tokens."""
    figure = go.Figure()
    for name, points, labels in paths:
        figure.add_trace(
            go.Scatter(
                x=points[:, 0],
                y=points[:, 1],
                text=[label.rsplit(" ·", 1)[0] for label in labels],
                mode="lines+markers+text",
                textposition="top center",
                marker=dict(size=9),
                name=name,
                hovertemplate="%{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    first, second = projection.explained
    figure.update_layout(with_title_and_legend(dict(
        xaxis=dict(title=f"PC 1 ({first:.0%} of variance)"),
        yaxis=dict(title=f"PC 2 ({second:.0%} of variance)"),
        height=460,
        margin=dict(l=50, r=20, b=50),
        font=dict(size=font_size),
    ), "hidden-state trajectory (PCA)"))
    return figure


def step_prediction_figure(outcomes: list[tuple[str, float]], title: str, font_size: int = 20,
                           height: int = 230) -> go.Figure:
    """The prediction after one token as horizontal bars, likeliest on top: (label, probability) pairs."""
    names = [token_text(token_labels([name])[0]) for name, _ in outcomes]
    probabilities = [p for _, p in outcomes]
    bars = dict(type="bar", orientation="h", x=probabilities, y=names, text=[f"{p:.0%}" for p in probabilities],
                textposition="outside", cliponaxis=False, marker=dict(color="#1f77b4"),
                hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    return _plain_figure([bars], dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size)),
        xaxis=dict(range=[0, 1.18], visible=False, fixedrange=True),
        yaxis=dict(type="category", categoryorder="array", categoryarray=names[::-1], fixedrange=True,
                   automargin=True),
        height=height, margin=dict(l=10, r=10, t=font_size * 2 + 10, b=10), font=dict(size=font_size),
        showlegend=False,
    ))
