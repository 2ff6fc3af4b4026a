"""The app with neither the exactness badge nor the heatmaps' captions and inspector button: what the
small elements around the grid cost a sentence (bench/ab_pages.py)."""

import streamlit as st

from rnnviz.app import page

page.exactness_badge = lambda *args, **kwargs: None
st.caption = lambda *args, **kwargs: None
st.button = lambda *args, **kwargs: False
page.main()
