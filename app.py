"""rnnviz in the browser: `streamlit run app.py` (what `./dev.sh app` does). The page is rnnviz/webapp.py."""

from rnnviz.webapp import main

main()
