"""What `rnnviz app` runs (app.py's twin inside the package, so an installed wheel has it too): the
page, and beside it the classroom's join links. `streamlit run` finds `app` and serves it."""

from pathlib import Path

from streamlit.starlette import App

from rnnviz.classroom.routes import classroom_routes

app = App(Path(__file__).with_name("page.py"), routes=classroom_routes())
