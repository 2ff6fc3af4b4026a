"""Downloads: standalone figure HTML, heatmap values as CSV, the trace as NPZ and JSON."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import plotly.graph_objects as go

from rnnviz.analysis.inspection import TextRun
from rnnviz.exports.trace_report import trace_json


def figure_html(figure: go.Figure) -> str:
    """A single HTML file with plotly.js inlined: opens offline, no server needed."""
    return figure.to_html(include_plotlyjs=True, full_html=True)


def heatmap_csv(values: np.ndarray, tokens: list[str], unit_order: np.ndarray | None = None) -> str:
    """Rows = units (in the shown order), columns = tokens; `values` is [time, units]."""
    order = np.arange(values.shape[1]) if unit_order is None else np.asarray(unit_order)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["unit", *[f"{i}:{t}" for i, t in enumerate(tokens)]])
    for unit in order:
        writer.writerow([int(unit), *[f"{v:.6g}" for v in values[:, unit]]])
    return buffer.getvalue()


def trace_npz(run: TextRun) -> bytes:
    buffer = io.BytesIO()
    run.trace.save(buffer)
    return buffer.getvalue()


def trace_json_text(run: TextRun) -> str:
    """The same object as `rnnviz trace --json`."""
    return json.dumps(trace_json(run), allow_nan=False)
