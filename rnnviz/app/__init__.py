"""The Streamlit page, and the only part of rnnviz that imports streamlit: page.py (sidebar, sentence,
views), state.py (choices, URL, session), catalogue.py (models, caches, uploads), views/ (one per view)."""
