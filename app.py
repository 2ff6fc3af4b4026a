"""rnnviz in the browser: `streamlit run app.py` (what `./dev.sh app` does). The page is rnnviz/app/page.py."""

from rnnviz.app.page import main

main()
