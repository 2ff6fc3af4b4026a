"""Streamlit views that app.py places on the page: each module has one `render(...)` function.

Views hold widgets and layout only; every number comes from rnnviz modules and every chart
from their pure figure builders. Widget keys carry the view's prefix (`grad_`, `lab_`).
"""
