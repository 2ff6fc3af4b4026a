"""Heatmaps of recorded quantities: one quantity, the grid of every quantity of a layer, a
language model's top-k table, the difference of two sentences, and the text coloured by a unit."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from rnnviz.core.quantities import PYTORCH_NOTATION, Notation
from rnnviz.display import POSITION_MARK, token_display, token_text
from rnnviz.figures.look import (
    ASSUMED_PLOT_PX,
    PLAIN_LOOK,
    ColourScale,
    TokenTicks,
    _colour_steps,
    _plain_figure,
    _unvalidated_figure,
    colour_scale,
    token_ticks,
)


def _heatmap_traces(
    values: np.ndarray,
    labels: list[str],
    quantity: str,
    cell_kind: str,
    unit_order: np.ndarray | None,
    selected: tuple[int, int] | None,
    clickable: bool,
    axes: tuple[str, str] = ("x", "y"),
    columns: list | None = None,
    marker_px: int | None = None,
    notation: Notation = PYTORCH_NOTATION,
    scale: ColourScale | None = None,
) -> list[dict]:
    """One quantity's heatmap traces as plain specs on the given axes: the heatmap, the click layer, the mark.

    `columns` are the x positions the panel draws at (default: the token labels as categories; the
    side-by-side grid gives each panel numbers of its own). The click layer covers the panel row by
    row, point i at token i mod tokens of row i // tokens (which `clicked_cell` reads back from the
    point's index), each carrying its value as `customdata` for the hover, which names the panel's own
    quantity and value. All of a panel's traces carry `legendgroup` = the quantity.
    """
    values = np.asarray(values, dtype=np.float32)
    order = np.arange(values.shape[1]) if unit_order is None else np.asarray(unit_order)
    z = values[:, order].T  # [shown units, time]
    scale = scale or colour_scale(quantity, values, cell_kind)
    rows = [str(u) for u in order]
    numeric_columns = columns is not None
    columns = list(labels) if columns is None else list(columns)
    panel = dict(xaxis=axes[0], yaxis=axes[1], legendgroup=quantity)

    def hover(value: str, token: str) -> str:
        name = html.escape(notation.label(quantity))
        return f"{name}<br>token {token}<br>unit %{{y}}<br>value %{{{value}:.3f}}<extra></extra>"

    heatmap = dict(
        type="heatmap",
        z=z,
        x=columns,
        y=rows,
        name=quantity,
        **panel,
        colorscale=_colour_steps(scale.colorscale),
        zmin=scale.zmin,
        zmax=scale.zmax,
        colorbar=dict(thickness=12),
    )
    if clickable:  # the click layer answers every hover (its markers are about a cell wide)
        heatmap["hoverinfo"] = "skip"
    else:
        heatmap["hovertemplate"] = hover("z", "%{text}" if numeric_columns else "%{x}")
        if numeric_columns:
            heatmap["text"] = [list(labels)] * len(rows)
    traces = [heatmap]
    if clickable:
        traces.append(
            dict(  # on top, so it answers hovers too, with the heatmap's own label
                type="scatter",
                name="cells",
                **panel,
                # typed arrays, not object ones: plotly.py deep-copies every trace it is given, and
                # copying thousands of Python objects was most of the grid's Python time
                # numbers where the axis allows (the side-by-side grid's columns; unit ids, which the
                # category axis looks up by their text), and each point's value alone (its token and
                # unit follow from its index): the layer is most of the chart's bytes on the wire
                x=np.tile(
                    np.asarray(columns, dtype=np.int32 if numeric_columns else None), len(rows)
                ),
                y=np.repeat(order.astype(np.int32), len(columns)),
                customdata=z.reshape(-1),
                mode="markers",
                # maxdisplayed=1: one (invisible) marker drawn instead of one SVG node per cell, while hover and
                # click still search every point. A marker about as large as a cell wins the hover over the
                # heatmap anywhere in the cell, so a click anywhere in it selects it.
                marker=dict(
                    symbol="square",
                    size=marker_px or max(6, min(18, 600 // max(len(labels), 1))),
                    opacity=0,
                    maxdisplayed=1,
                ),
                # on numeric columns %{x} is the tick's token text: the axis names each column, so
                # no label per point
                hovertemplate=hover("customdata", "%{x}"),
                showlegend=False,
            )
        )
    if selected is not None:
        step, unit = selected
        if 0 <= step < len(labels) and str(unit) in rows:
            traces.append(
                dict(
                    type="scatter",
                    name="selected",
                    **panel,
                    x=[columns[step]],
                    y=[rows[rows.index(str(unit))]],
                    customdata=[[step, int(unit)]],
                    mode="markers",
                    marker=dict(symbol="square-open", size=16, color="black", line=dict(width=3)),
                    hoverinfo="skip",
                    showlegend=False,
                    cliponaxis=False,  # whole at a panel's edge too
                )
            )
    return traces


def clicked_cell(point: dict, tokens: int, units: Sequence[int]) -> tuple[int, int] | None:
    """(token index, unit id) of a point clicked on a heatmap drawn over `tokens` tokens with rows
    `units`, or None for a point that is no cell (a prediction curve, a blank column).

    A click-layer point is told by its index (the layer covers the panel row by row); the selected-cell
    mark carries (token index, unit id) itself."""
    data = point.get("customdata")
    if isinstance(data, (list, tuple)):  # the selected-cell mark
        try:
            return (int(data[0]), int(data[1])) if len(data) >= 2 else None
        except (TypeError, ValueError):
            return None
    index = point.get("point_index", point.get("point_number"))
    if data is None or not isinstance(index, int) or tokens <= 0:
        return None
    row, step = divmod(index, tokens)
    return (step, int(units[row])) if 0 <= row < len(units) else None


def quantity_heatmap(
    values: np.ndarray,
    labels: list[str],
    quantity: str,
    cell_kind: str = "lstm",
    unit_order: np.ndarray | None = None,
    selected: tuple[int, int] | None = None,
    clickable: bool = False,
    title: str | None = None,
    font_size: int = 15,
    notation: Notation = PYTORCH_NOTATION,
    scale: ColourScale | None = None,
) -> go.Figure:
    """Heatmap of one quantity: x = tokens (time), y = units in `unit_order`; `values` is [time, units].

    `clickable` lays a transparent marker on every cell: Streamlit returns no selection for
    heatmaps themselves, but does for these markers (x = token label, y = unit id).
    """
    traces = _heatmap_traces(
        values,
        labels,
        quantity,
        cell_kind,
        unit_order,
        selected,
        clickable,
        notation=notation,
        scale=scale,
    )
    units = len(traces[0]["y"])
    height = max(260, min(900, 12 * units + 140))
    return _unvalidated_figure(
        traces,
        dict(
            title=dict(text=title or notation.label(quantity)),
            xaxis=dict(
                title=dict(text="token"),
                type="category",
                tickangle=-45 if len(labels) > 5 else 0,
                tickfont=dict(size=font_size),
            ),
            yaxis=dict(
                title=dict(text="unit"),
                type="category",
                autorange="reversed",
                tickfont=dict(size=font_size),
                **unit_ticks(traces[0]["y"], selected, height - 100, font_size),
            ),
            margin=dict(l=50, r=20, t=40, b=60),
            height=height,
            font=dict(size=font_size),
            clickmode="event+select",
            dragmode=False,
        ),
    )


def unit_ticks(
    units: list[str], selected: tuple[int, int] | None, plot_px: float, font_size: int
) -> dict:
    """Unit-axis ticks: every n-th row where rows are too thin to label each, and always the selected
    unit's row (its neighbours' labels give way so that none overlap)."""
    every = max(1, int(np.ceil(len(units) * font_size * 1.2 / max(plot_px, 1))))
    shown = set(range(0, len(units), every))
    chosen = str(selected[1]) if selected is not None else None
    if chosen in units:
        row = units.index(chosen)
        shown = {k for k in shown if abs(k - row) >= every} | {row}
    names = [units[k] for k in sorted(shown)]
    return dict(tickmode="array", tickvals=names, ticktext=names)


CELL_TEXT_MAX_COLUMNS = (
    80  # beyond this many tokens a cell is too narrow to write in, and labels thin out
)
# Panels stand side by side while all their columns together stay readable (~15 px or more each);
# beyond that they stack, each on its own axes.
SIDE_BY_SIDE_MAX_COLUMNS = 80
GRID_GAP_COLUMNS = 2  # blank columns between side-by-side panels
EVERY_PANEL_LABELS_MAX_TOKENS = (
    200  # past this, a stacked grid writes its tokens under the last panel only
)
TWO_COLUMN_MAX_TOKENS = (
    20  # stacked panels stand two to a row up to this many tokens, one to a row past it
)
NEXT_TOKEN_ROW_PX = 26  # height of a row of the top-k table inside a grid
NEXT_TOKEN_TEXT_PX = 16  # its characters, readable from the back of a lecture hall
GRID_COLUMN_GAP = (
    0.13  # of the width: room for a panel's colour bar and the next panel's unit labels
)


# What Streamlit sets on a grid drawn with point selection; set here, its effect finds nothing to
# change and skips one more render of the chart.
SELECTABLE = dict(clickmode="event+select", dragmode="pan", hovermode="closest")


def _panel_grid(
    values_by_quantity: dict[str, np.ndarray],
    labels: list[str],
    cell_kind: str,
    unit_order: np.ndarray | None,
    selected: tuple[int, int] | None,
    clickable: bool,
    columns: int,
    font_size: int,
    next_tokens: NextTokens | None = None,
    notation: Notation = PYTORCH_NOTATION,
    colour_ranges: dict[str, ColourScale] | None = None,
    predictions: ClassPredictions | None = None,
) -> go.Figure:
    """Stacked arrangement of `quantity_grid`: a subplot per quantity, `columns` to a row.

    Each panel has `quantity_heatmap`'s traces (same colours, hover, click layer and selected-cell
    mark); panels with the same colour range share one colour bar. One figure rather than one per
    quantity: the browser pays a fixed cost per Plotly chart (bench/bench_app.py). `next_tokens` (one
    column only) adds the top-k table as the first row, on the same token axis; `predictions` the class
    curves, over the whole width.
    """
    quantities = list(values_by_quantity)
    columns = max(1, min(columns, len(quantities)))
    order_length = (
        len(unit_order)
        if unit_order is not None
        else np.shape(values_by_quantity[quantities[0]])[1]
    )
    panel_px = max(150, min(420, 6 * order_length))
    unit_names = [
        str(u)
        for u in (
            unit_order
            if unit_order is not None
            else range(np.shape(values_by_quantity[quantities[0]])[1])
        )
    ]
    # One column: every panel on one token axis (a position reads down through every quantity). Up to
    # EVERY_PANEL_LABELS_MAX_TOKENS each panel (and the top-k table) writes the tokens under itself on
    # an axis matching the first; past it only the last panel does, as each axis costs a draw (bench/).
    shared_x = columns == 1  # `quantity_grid` passes `next_tokens` only then
    one_token_axis = shared_x and len(labels) > EVERY_PANEL_LABELS_MAX_TOKENS
    bottom_y = f"y{len(quantities)}" if len(quantities) > 1 else "y"  # the last panel's unit axis
    panel_width = (1 - (columns - 1) * GRID_COLUMN_GAP) / columns
    ticks = token_ticks(
        [token_text(label) for label in labels], ASSUMED_PLOT_PX * panel_width, font_size
    )
    token_axis = ticks.axis(labels)
    # under each panel: its token labels, then the next panel's title
    gap_px = 40 if one_token_axis else ticks.label_px + 2 * font_size + 16
    # Rows top down, in pixels: the table (if any), then the panels `columns` to a row.
    first_rows = (
        [NEXT_TOKEN_ROW_PX * next_tokens.k]
        if next_tokens
        else [PREDICTION_ROW_PX]
        if predictions
        else []
    )
    row_px = first_rows + [panel_px] * -(-len(quantities) // columns)
    plot_px = sum(row_px) + (len(row_px) - 1) * gap_px
    row_tops = [1 - (sum(row_px[:r]) + r * gap_px) / plot_px for r in range(len(row_px))]
    data, layout = (
        [],
        dict(
            # the top margin holds the first panel's title and no more: the grid starts high on the page
            height=plot_px + 2 * font_size + ticks.label_px + 12,
            margin=dict(l=50, r=40, t=2 * font_size, b=ticks.label_px + 12),
            font=dict(size=font_size),
            showlegend=False,
            annotations=[],
            **SELECTABLE,
        ),
    )

    def domains(row: int, column: int) -> tuple[list[float], list[float]]:
        left, top = column * (panel_width + GRID_COLUMN_GAP), row_tops[row]
        bottom = top - row_px[row] / plot_px
        # rounded into [0, 1]: float error at the edges (e.g. -8e-17) is an invalid domain to Plotly
        return (
            [max(0.0, round(left, 6)), min(1.0, round(left + panel_width, 6))],
            [max(0.0, round(bottom, 6)), min(1.0, round(top, 6))],
        )

    def title(text: str, x_domain: list[float], top: float) -> None:
        layout["annotations"].append(
            dict(
                text=text,
                showarrow=False,
                xref="paper",
                yref="paper",
                x=sum(x_domain) / 2,
                y=top,
                xanchor="center",
                yanchor="bottom",
                font=dict(size=font_size + 2),
            )
        )

    def colour_bar(axis: dict, x_domain: list[float], y_domain: list[float]) -> None:
        # The bar stands beside the last panel that uses its colour axis.
        axis["colorbar"] = dict(
            thickness=12,
            x=x_domain[1] + 0.005,
            xanchor="left",
            y=sum(y_domain) / 2,
            yanchor="middle",
            len=y_domain[1] - y_domain[0],
        )

    colour_axes: dict[tuple, dict] = {}
    first_row = 0
    if next_tokens is not None:
        x_domain, y_domain = domains(0, 0)
        table_x = "x" if one_token_axis else f"x{len(quantities) + 1}"
        y_name = f"y{len(quantities) + 1}"
        layout[f"yaxis{len(quantities) + 1}"] = dict(
            domain=y_domain,
            anchor=table_x,
            type="category",
            range=[next_tokens.k - 0.5, -0.5],
            autorange=False,
            showgrid=False,
        )
        if not one_token_axis:  # the characters each column follows, written under the table
            layout[f"xaxis{len(quantities) + 1}"] = dict(
                domain=x_domain,
                anchor=y_name,
                type="category",
                matches="x",
                range=[-0.5, len(labels) - 0.5],
                autorange=False,
                showgrid=False,
                **token_axis,
            )
        title(_next_token_title(next_tokens, labels), x_domain, row_tops[0])
        table = _next_token_table(next_tokens, labels, axes=(table_x, y_name))
        colour_bar(_share_colour_axis(colour_axes, table, "p"), x_domain, y_domain)
        data.append(table)
        first_row = 1
    curves = []
    if predictions is not None:
        x_domain, y_domain = domains(0, 0)
        number = len(quantities) + 1
        x_name, y_name = ("x" if one_token_axis else f"x{number}"), f"y{number}"
        curve_ticks = (
            ticks
            if shared_x
            else token_ticks([token_text(label) for label in labels], ASSUMED_PLOT_PX, font_size)
        )
        x_axis, layout[f"yaxis{number}"] = _prediction_axes(
            labels, curve_ticks, x_domain if shared_x else [0.0, 1.0], y_domain, (x_name, y_name)
        )
        if not one_token_axis:  # else the curves stand on the panels' token axis, labelled below
            layout[f"xaxis{number}"] = dict(x_axis, **({"matches": "x"} if shared_x else {}))
        layout["annotations"].append(_grid_title(predictions.title(), row_tops[0], font_size))
        curves = _prediction_row(predictions, labels, (x_name, y_name), font_size)
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
            layout[f"xaxis{suffix}"] = dict(
                domain=x_domain,
                anchor=bottom_y if one_token_axis else y_name,
                type="category",
                range=[-0.5, len(labels) - 0.5],
                autorange=False,
                showgrid=False,
                **token_axis,
                **({"matches": "x"} if shared_x and i > 0 else {}),
            )
        # unit labels on the first column only: every panel has the same unit order, and each tick
        # label is an SVG text node the browser lays out on every redraw
        layout[f"yaxis{suffix}"] = dict(
            domain=y_domain,
            anchor=x_name,
            type="category",
            range=[order_length - 0.5, -0.5],
            autorange=False,
            showgrid=False,
            **(
                {
                    "title": dict(text="unit"),
                    **unit_ticks(unit_names, selected, panel_px, font_size),
                }
                if column == 0
                else {"showticklabels": False}
            ),
        )
        title(notation.label(quantity), x_domain, y_domain[1])
        traces = _heatmap_traces(
            values_by_quantity[quantity],
            labels,
            quantity,
            cell_kind,
            unit_order,
            selected,
            clickable,
            axes=(x_name, y_name),
            notation=notation,
            scale=(colour_ranges or {}).get(quantity),
        )
        colour_bar(
            _share_colour_axis(colour_axes, traces[0], notation.symbol(quantity)),
            x_domain,
            y_domain,
        )
        data += traces
    for axis in colour_axes.values():
        layout[axis["name"]] = dict(
            colorscale=axis["colorscale"],
            cmin=axis["cmin"],
            cmax=axis["cmax"],
            colorbar=dict(axis["colorbar"], title=dict(text=", ".join(axis["symbols"]))),
        )
    return _plain_figure(data + curves, layout)


def _share_colour_axis(colour_axes: dict[tuple, dict], heatmap: dict, symbol: str) -> dict:
    """Move `heatmap`'s colours onto the grid's colour axis for its scale and range (made on first use).

    Panels whose colours mean the same (the σ gates on [0, 1]; g and h on [−1, 1]) share one colour
    axis and bar: each bar costs about as much to draw as a panel. `symbols` lists the quantities a
    bar colours, for its title.
    """
    scale = (heatmap.pop("zmin"), heatmap.pop("zmax"))
    axis = colour_axes.setdefault(
        (str(heatmap["colorscale"]), scale),
        {
            "name": "coloraxis" if not colour_axes else f"coloraxis{len(colour_axes) + 1}",
            "colorscale": heatmap["colorscale"],
            "cmin": scale[0],
            "cmax": scale[1],
            "symbols": [],
        },
    )
    del heatmap["colorscale"], heatmap["colorbar"]
    heatmap["coloraxis"] = axis["name"]
    axis["symbols"].append(symbol)
    return axis


def shares_token_axis(tokens: int, quantities: int, arrangement: str | None = None) -> bool:
    """Whether `quantity_grid` stacks every panel on one token axis (then a top-k table can join it)."""
    return (
        arrangement or grid_arrangement(tokens, quantities)
    ) == "stacked" and tokens > TWO_COLUMN_MAX_TOKENS


def grid_arrangement(tokens: int, quantities: int) -> str:
    """ "side by side" (one row of panels sharing the unit axis) or "stacked" (a subplot per panel)."""
    return "side by side" if tokens * quantities <= SIDE_BY_SIDE_MAX_COLUMNS else "stacked"


def quantity_grid(
    values_by_quantity: dict[str, np.ndarray],
    labels: list[str],
    cell_kind: str = "lstm",
    unit_order: np.ndarray | None = None,
    selected: tuple[int, int] | None = None,
    clickable: bool = False,
    font_size: int = 14,
    arrangement: str | None = None,
    next_tokens: NextTokens | None = None,
    notation: Notation = PYTORCH_NOTATION,
    colour_ranges: dict[str, ColourScale] | None = None,
    predictions: ClassPredictions | None = None,
) -> go.Figure:
    """Every quantity's heatmap as one figure, a panel per quantity, all in one unit order.

    Each panel has `quantity_heatmap`'s traces (same colours, hover, click layer and selected-cell
    mark, told apart by `legendgroup`); panels with the same colour range share one colour bar;
    `clicked_cell` maps a clicked point back to (token, unit).

    Short texts put the panels side by side on ONE pair of axes, sharing the unit axis (a unit's row
    runs on through every quantity; the browser pays per axis, not per heatmap). Longer texts stack
    the panels on subplots of their own (two to a row up to TWO_COLUMN_MAX_TOKENS, where each panel's
    columns still hold an upright label each). Past TWO_COLUMN_MAX_TOKENS
    every panel stands on one token axis, and a language model's top-k table (`next_tokens`) can join
    it as the first row (see `shares_token_axis`): a position then reads straight down from the
    prediction through every quantity, and the page draws one chart instead of two. A classifier's
    curves (`predictions`) join any arrangement as its first row, for the same reason.
    """
    arrangement = arrangement or grid_arrangement(len(labels), len(values_by_quantity))
    shared = shares_token_axis(len(labels), len(values_by_quantity), arrangement)
    if next_tokens is not None and not shared:
        raise ValueError(
            "the next-token table joins the grid only where every panel shares the token axis"
        )
    if next_tokens is not None and predictions is not None:
        raise ValueError("a grid's first row is either the next-token table or the class curves")
    if arrangement == "side by side":
        return _side_by_side_grid(
            values_by_quantity,
            labels,
            cell_kind,
            unit_order,
            selected,
            clickable,
            font_size,
            notation,
            colour_ranges,
            predictions,
        )
    return _panel_grid(
        values_by_quantity,
        labels,
        cell_kind,
        unit_order,
        selected,
        clickable,
        1 if shared else 2,
        font_size,
        next_tokens,
        notation,
        colour_ranges,
        predictions,
    )


def _side_by_side_grid(
    values_by_quantity: dict[str, np.ndarray],
    labels: list[str],
    cell_kind: str,
    unit_order: np.ndarray | None,
    selected: tuple[int, int] | None,
    clickable: bool,
    font_size: int,
    notation: Notation = PYTORCH_NOTATION,
    colour_ranges: dict[str, ColourScale] | None = None,
    predictions: ClassPredictions | None = None,
) -> go.Figure:
    """The panels in one row on one pair of axes: panel k draws at x = its first column + token index
    (numbers, so no panel's heatmap reaches into another's), with blank columns between panels; the
    ticks name each column's token. `predictions`: the class curves above them, over the whole width."""
    quantities = list(values_by_quantity)
    order = (
        np.arange(np.shape(values_by_quantity[quantities[0]])[1])
        if unit_order is None
        else np.asarray(unit_order)
    )
    units = [str(u) for u in order]
    panel_columns = [
        [k * (len(labels) + GRID_GAP_COLUMNS) + t for t in range(len(labels))]
        for k in range(len(quantities))
    ]
    total_columns = len(quantities) * len(labels) + (len(quantities) - 1) * GRID_GAP_COLUMNS
    tick_text = [token_text(label) for label in labels]
    # Tall enough for the stacked colour bars to keep their tick labels apart, and for rows to be hit.
    plot_px = max(SIDE_BY_SIDE_MIN_PX, min(600, 9 * len(units)))
    # Token labels lie flat while a panel's columns are wide enough, else slanted: never cut off.
    longest = max((len(text) for text in tick_text), default=1)
    tick_angle = 0 if longest * len(quantities) * len(labels) <= 90 else -60
    # The bottom margin holds the token labels already: automargin then has nothing to push, and
    # plotly.js draws the chart once instead of twice.
    # the top margin holds the panels' titles and no more: the grid starts high on the page
    margin = dict(
        l=64, r=90, t=2 * font_size, b=16 + _tick_label_px(longest, tick_angle, font_size)
    )
    # Top down in pixels: the class curves, their token labels and the panels' titles, the panels.
    curve_ticks = token_ticks(tick_text, ASSUMED_PLOT_PX, font_size) if predictions else None
    above_px = PREDICTION_ROW_PX + curve_ticks.label_px + 2 * font_size + 8 if curve_ticks else 0
    panels_top = plot_px / (plot_px + above_px)  # in the plot's fraction
    layout = dict(
        height=plot_px + above_px + margin["t"] + margin["b"],
        margin=margin,
        font=dict(size=font_size),
        showlegend=False,
        annotations=[],
        **SELECTABLE,
        # Fixed ranges, one column per token: no autorange pass, no padding for the click layer's markers.
        xaxis=dict(
            showgrid=False,
            zeroline=False,
            range=[-0.5, total_columns - 0.5],
            autorange=False,
            tickmode="array",
            tickvals=[c for columns in panel_columns for c in columns],
            ticktext=tick_text * len(quantities),
            # the bottom margin is sized for the labels: plotly.js's automargin pass over this many
            # rotated labels cost more than the rest of the draw (bench/bench_app.py)
            automargin=False,
            # plotly.js's default on a numeric axis ("hide past div") measures every label's box to hide
            # those past the chart's edge; the margins hold them all, and the measuring cost half the
            # chart's draw (bench/bench_app.py)
            ticklabeloverflow="allow",
            ticks="",
            tickangle=tick_angle,
        ),
        yaxis=dict(
            type="category",
            categoryorder="array",
            categoryarray=units,
            showgrid=False,
            range=[len(units) - 0.5, -0.5],
            autorange=False,  # unit rows top down
            domain=[0, round(panels_top, 6)],
            title=dict(text="unit"),
            automargin=False,  # the left margin holds unit ids of up to four digits and the title
            **unit_ticks(units, selected, plot_px, font_size),
        ),
    )
    marker_px = int(max(6, min(40, plot_px / max(len(units), 1))))
    colour_axes: dict[tuple, dict] = {}
    data = []
    for quantity, columns in zip(quantities, panel_columns):
        traces = _heatmap_traces(
            values_by_quantity[quantity],
            labels,
            quantity,
            cell_kind,
            order,
            selected,
            clickable,
            columns=columns,
            marker_px=marker_px,
            notation=notation,
            scale=(colour_ranges or {}).get(quantity),
        )
        layout["annotations"].append(
            dict(  # the title above the panel
                text=notation.label(quantity),
                showarrow=False,
                xref="x",
                x=(columns[0] + columns[-1]) / 2,
                yref="paper",
                y=panels_top,
                yanchor="bottom",
                xanchor="center",
                font=dict(size=font_size + 2),
            )
        )
        _share_colour_axis(colour_axes, traces[0], notation.symbol(quantity))
        data += traces
    for j, axis in enumerate(
        colour_axes.values()
    ):  # the bars share the right edge, one above another
        layout[axis["name"]] = dict(
            colorscale=axis["colorscale"],
            cmin=axis["cmin"],
            cmax=axis["cmax"],
            colorbar=dict(
                thickness=12,
                x=1.01,
                xanchor="left",
                y=panels_top * (1 - (j + 0.5) / len(colour_axes)),
                yanchor="middle",
                len=panels_top * 0.9 / len(colour_axes),
                title=dict(text=", ".join(axis["symbols"])),
            ),
        )
    if predictions is not None:
        row = [round(1 - PREDICTION_ROW_PX / (plot_px + above_px), 6), 1.0]
        layout["xaxis2"], layout["yaxis2"] = _prediction_axes(
            labels, curve_ticks, [0.0, 1.0], row, ("x2", "y2")
        )
        layout["annotations"].append(_grid_title(predictions.title(), 1.0, font_size))
        data += _prediction_row(predictions, labels, ("x2", "y2"), font_size)
    return _plain_figure(data, layout)


def _grid_title(text: str, top: float, font_size: int) -> dict:
    """A title written above the plot's fraction `top`, from its left edge."""
    return dict(
        text=text,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0,
        y=top,
        xanchor="left",
        yanchor="bottom",
        font=dict(size=font_size + 2),
    )


SIDE_BY_SIDE_MIN_PX = 330  # three colour bars of ~100 px each keep their tick labels apart


def _tick_label_px(characters: int, angle: float, font_size: int) -> int:
    """Room under the plot for tick labels of `characters` characters at `angle` degrees."""
    if angle == 0:
        return int(font_size * 2)
    return int(font_size * 0.62 * characters * abs(np.sin(np.radians(angle))) + font_size * 2)


@dataclass(frozen=True)
class NextTokens:
    """A language model's next-token distribution after each position, [time, vocabulary], and its top k."""

    distribution: np.ndarray
    vocabulary: list[str]
    k: int = 5


NEXT_TOKENS_GROUP = "next tokens"  # the table's legendgroup inside a heatmap grid
PREDICTIONS_GROUP = "predictions"  # the class curves' legendgroup inside a heatmap grid
PREDICTION_ROW_PX = (
    90  # the class curves' plot height inside a grid: low, so the cells start on screen
)


@dataclass(frozen=True)
class ClassPredictions:
    """A classifier's probabilities after each token, [time, classes], drawn as the grid's first row.

    In the grid rather than a chart of its own: the browser pays a fixed cost for each chart a
    sentence redraws (bench/ab_pages.py)."""

    probabilities: np.ndarray
    classes: list[str]

    def title(self) -> str:
        """What the curves are, the final prediction, and each class's colour (the grid has no legend)."""
        last = np.asarray(self.probabilities)[-1]
        best = int(np.argmax(last))
        key = " ".join(
            f"<span style='color:{_class_colour(k)}'>━ {html.escape(name)}</span>"
            for k, name in enumerate(self.classes)
        )
        return (
            f"prediction after each token — after the last: "
            f"<b>{html.escape(self.classes[best])} ({last[best]:.1%})</b>   {key}"
        )


def _class_colour(k: int) -> str:
    colours = PLAIN_LOOK["colorway"]
    return colours[k % len(colours)]


def _prediction_row(
    predictions: ClassPredictions,
    labels: list[str],
    axes: tuple[str, str],
    font_size: int,
) -> list[dict]:
    """The class curves on `axes`: one line per class in the model's order (and colour), so that a flip
    shows as a crossing; they hold their opacity whatever cell is clicked."""
    probabilities = np.asarray(predictions.probabilities, dtype=np.float64)
    return [
        dict(
            type="scatter",
            x=list(labels),
            y=probabilities[:, k],
            xaxis=axes[0],
            yaxis=axes[1],
            name=name,
            legendgroup=PREDICTIONS_GROUP,
            mode="lines+markers",
            line=dict(color=_class_colour(k), width=2),
            marker=dict(color=_class_colour(k), size=max(6, font_size // 2)),
            selected=dict(marker=dict(opacity=1)),
            unselected=dict(marker=dict(opacity=1)),
            hovertemplate=f"after %{{x}}<br>P({html.escape(name)}) = %{{y:.3f}}<extra></extra>",
            showlegend=False,
        )
        for k, name in enumerate(predictions.classes)
    ]


def _prediction_axes(
    labels: list[str],
    ticks: TokenTicks,
    x_domain: list[float],
    y_domain: list[float],
    axes: tuple[str, str],
) -> tuple[dict, dict]:
    """The class curves' token axis (labelled like the panels') and probability axis, each anchored
    on the other of `axes` (x name, y name)."""
    x_axis = dict(
        domain=x_domain,
        anchor=axes[1],
        type="category",
        range=[-0.5, len(labels) - 0.5],
        autorange=False,
        showgrid=False,
        automargin=False,
        **ticks.axis(labels),
    )
    y_axis = dict(
        domain=y_domain,
        anchor=axes[0],
        range=[-0.04, 1.04],
        autorange=False,
        tickvals=[0, 0.5, 1],
        title=dict(text="P"),
        automargin=False,
    )
    return x_axis, y_axis


def _next_token_table(
    next_tokens: NextTokens, labels: list[str], axes: tuple[str, str] = ("x", "y")
) -> dict:
    """The top-k table as a heatmap trace: a column per position, row r the r-th likeliest next token,
    coloured by its probability, the token named on hover (and written in the cell while readable)."""
    distribution, k = next_tokens.distribution, next_tokens.k
    top = np.argsort(-distribution, axis=1, kind="stable")[:, :k]  # [time, k]
    probabilities = np.take_along_axis(distribution, top, axis=1)
    shown_ids = np.unique(top).tolist()  # each predicted entry labelled once, not once per cell
    vocabulary = next_tokens.vocabulary
    readable = {i: token_display(vocabulary[i]) for i in shown_ids}
    shown = [[readable[i] for i in row] for row in top.tolist()]
    table = dict(
        type="heatmap",
        z=probabilities.T,
        x=list(labels),
        y=[f"#{r + 1}" for r in range(k)],
        xaxis=axes[0],
        yaxis=axes[1],
        name=NEXT_TOKENS_GROUP,
        legendgroup=NEXT_TOKENS_GROUP,
        text=np.array(shown, dtype=object).T,
        colorscale=_colour_steps("Blues"),
        zmin=0.0,
        zmax=1.0,
        hovertemplate="after %{x}<br>%{y}: '%{text}' p = %{z:.3f}<extra></extra>",
        colorbar=dict(thickness=12, title=dict(text="p")),
    )
    # Characters written in the cells only while a cell is wide enough to read one: past that they are
    # illegible, and each is a text node the browser lays out on every draw.
    if len(labels) <= CELL_TEXT_MAX_COLUMNS:
        table["texttemplate"] = "%{text}"
        table["textfont"] = dict(
            size=NEXT_TOKEN_TEXT_PX
        )  # fixed: plotly.js shrinks it to fit a cell
    return table


def _next_token_title(next_tokens: NextTokens, labels: list[str]) -> str:
    written = len(labels) <= CELL_TEXT_MAX_COLUMNS
    return f"top-{next_tokens.k} next characters after each position" + (
        "" if written else " (hover a cell to read it)"
    )


def next_token_figure(
    distribution: np.ndarray,
    labels: list[str],
    vocabulary: list[str],
    k: int = 5,
    font_size: int = 14,
) -> go.Figure:
    """Language model: the top-k next tokens at every position, as a table coloured by probability."""
    next_tokens = NextTokens(distribution, vocabulary, k)
    ticks = token_ticks([token_text(label) for label in labels], ASSUMED_PLOT_PX, font_size)
    return _plain_figure(
        [_next_token_table(next_tokens, labels)],
        dict(
            title=dict(text=_next_token_title(next_tokens, labels)),
            xaxis=dict(
                type="category",
                **ticks.axis(labels),
            ),
            yaxis=dict(type="category", autorange="reversed"),
            height=200 + ticks.label_px,
            margin=dict(l=50, r=20, t=40, b=ticks.label_px + 10),
            font=dict(size=font_size),
        ),
    )


def coloured_tokens_html(
    tokens: list[str], values: np.ndarray, scale: ColourScale, font_size: int = 18
) -> str:
    """The text with each token's background coloured by a unit's value (Karpathy et al. 2015).

    Tokens are HTML-escaped: typed text is shown as text, never interpreted as markup.
    """
    span = max(scale.zmax - scale.zmin, 1e-9)
    fractions = np.clip(
        (np.nan_to_num(np.asarray(values, dtype=np.float64)) - scale.zmin) / span, 0.0, 1.0
    )
    colours = sample_colorscale(scale.colorscale, fractions.tolist())
    parts = []
    for token, value, colour in zip(tokens, values, colours):
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
    first: np.ndarray,
    second: np.ndarray,
    first_labels: list[str],
    second_labels: list[str],
    quantity: str,
    align: str = "end",
    unit_order: np.ndarray | None = None,
    font_size: int = 15,
    title: str | None = None,
    notation: Notation = PYTORCH_NOTATION,
    plot_px: float = ASSUMED_PLOT_PX,
) -> go.Figure:
    """second − first over aligned positions (`align` = "start" or "end"), [time, units] inputs;
    `plot_px`: the plot's width, for its token labels (read from the back row: never below
    `font_size`, fewer instead)."""
    steps = min(len(first), len(second))
    if align == "end":
        first, second = first[len(first) - steps :], second[len(second) - steps :]
        first_labels, second_labels = (
            first_labels[len(first_labels) - steps :],
            second_labels[len(second_labels) - steps :],
        )
    else:
        first, second, first_labels, second_labels = (
            first[:steps],
            second[:steps],
            first_labels[:steps],
            second_labels[:steps],
        )
    difference = np.asarray(second, dtype=np.float32) - np.asarray(first, dtype=np.float32)
    order = np.arange(difference.shape[1]) if unit_order is None else np.asarray(unit_order)
    bound = float(np.nanmax(np.abs(difference))) if difference.size else 1.0
    bound = bound if bound > 0 else 1.0
    labels = [
        f"{token_text(b)} vs {token_text(a)}{POSITION_MARK}{i}"
        for i, (a, b) in enumerate(zip(first_labels, second_labels))
    ]
    # a position whose two tokens are the same (an edit of one text) is named once
    ticks = token_ticks(
        [
            token_text(a) if token_text(a) == token_text(b) else token_text(label)
            for a, b, label in zip(first_labels, second_labels, labels)
        ],
        plot_px,
        font_size,
        smallest=font_size,
    )
    heatmap = dict(
        type="heatmap",
        z=difference[:, order].T,
        x=labels,
        y=[str(u) for u in order],
        colorscale=_colour_steps("RdBu_r"),
        zmin=-bound,
        zmax=bound,
        hovertemplate="%{x}<br>unit %{y}<br>difference %{z:.3f}<extra></extra>",
        colorbar=dict(thickness=12),
    )
    layout = dict(
        title=dict(
            text=title
            or f"difference of {notation.label(quantity)} (second − first, aligned at the {align})"
        ),
        xaxis=dict(
            type="category",
            **ticks.axis(labels),
            automargin=False,
            # the axis title only under flat labels (plotly.js does not move it below upright ones)
            **({"title": dict(text="aligned tokens")} if ticks.angle == 0 else {}),
        ),
        yaxis=dict(
            title=dict(text="unit"),
            type="category",
            autorange="reversed",
            tickfont=dict(size=font_size),
        ),
        height=max(260, min(900, 12 * len(order) + 60)) + ticks.label_px + 40,
        margin=dict(l=50, r=20, t=40, b=ticks.label_px + (40 if ticks.angle == 0 else 12)),
        font=dict(size=font_size),
    )
    return _unvalidated_figure([heatmap], layout)  # the tests validate it
