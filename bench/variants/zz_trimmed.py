import streamlit as st

from rnnviz.app import page

st.segmented_control = lambda *args, **kwargs: None
page.exactness_badge = lambda *args, **kwargs: None
st.caption = lambda *args, **kwargs: None
st.button = lambda *args, **kwargs: False
page.main()
