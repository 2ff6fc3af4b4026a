"""rnnviz in the browser: type a sentence, see every gate of an LSTM, GRU or RNN.

A thin page: widgets and layout only; capture and figures live in the rnnviz package.
"""

import streamlit as st
import torch
from torch import nn

import rnnviz
from rnnviz.figures import quantity_heatmap

MAX_CHARACTERS = 400

st.set_page_config(page_title="rnnviz", layout="wide")
st.title("rnnviz — inside a recurrent network, token by token")


@st.cache_resource
def demo_model(cell: str) -> nn.Module:
    """A small, untrained character model (placeholder until trained weights ship)."""
    torch.manual_seed(0)
    recurrent = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](16, 24, batch_first=True)
    return nn.Sequential(nn.Embedding(128, 16), recurrent).eval()


cell = st.radio("cell", ["LSTM", "GRU", "RNN"], horizontal=True)
text = st.text_input("sentence", value="the movie was not good")
if not text.strip():
    st.info("Type a sentence to see what the network does with it.")
    st.stop()
if len(text) > MAX_CHARACTERS:
    st.warning(f"Only the first {MAX_CHARACTERS} characters are shown.")
    text = text[:MAX_CHARACTERS]

model = demo_model(cell)
ids = torch.tensor([[min(ord(ch), 127) for ch in text]])
with torch.no_grad(), rnnviz.capture(model) as trace:
    model(ids)
record = trace.call()
for quantity in record.quantities:
    values = trace[record.name(0, "forward", quantity)][0].numpy()
    st.plotly_chart(quantity_heatmap(values, list(text), quantity, record.cell), width="stretch")
