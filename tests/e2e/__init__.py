"""End-to-end tests: the real Streamlit server driven by headless Chromium (a package, so its conftest
does not shadow tests/conftest.py as the module `conftest`)."""
