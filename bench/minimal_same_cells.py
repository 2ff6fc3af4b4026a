"""Floor for the same content: one text input and, on Enter, one Plotly figure of six 64-unit heatmaps,
one column per character (what the app draws for a 400-character passage), plain Plotly defaults."""

import zlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

text = st.text_input("sentence", value="the movie was not good")
if text:
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    labels = [f"{ch} ·{i}" for i, ch in enumerate(text)]
    fig = make_subplots(rows=6, cols=1, shared_xaxes=True, vertical_spacing=0.01)
    for r in range(6):
        fig.add_trace(
            go.Heatmap(
                z=rng.random((64, len(text))), x=labels, colorscale="Viridis", showscale=(r == 0)
            ),
            row=r + 1,
            col=1,
        )
    fig.update_layout(height=6 * 760)
    st.plotly_chart(fig)
