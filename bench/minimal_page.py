"""The latency floor for bench/bench_app.py: one text input and, on Enter, one Plotly heatmap.

No rnnviz, no model: what is left is Streamlit's rerun, the websocket and Plotly drawing in the browser.
Values are random, [24 units × one column per character], labelled like the app's token axis.
"""

import zlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

text = st.text_input("sentence", value="the movie was not good")
if text:
    values = np.random.default_rng(zlib.crc32(text.encode())).random((24, len(text)))
    labels = [f"{ch} ·{i}" for i, ch in enumerate(text)]
    st.plotly_chart(go.Figure(go.Heatmap(z=values, x=labels, colorscale="Viridis")))
