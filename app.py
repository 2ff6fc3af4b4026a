"""rnnviz in the browser: `streamlit run app.py` (what `./dev.sh app` does). The page is
rnnviz/app/page.py; beside it, the classroom's join links (rnnviz/classroom/routes.py)."""

from streamlit.starlette import App

from rnnviz.classroom.routes import classroom_routes

app = App("rnnviz/app/page.py", routes=classroom_routes())
