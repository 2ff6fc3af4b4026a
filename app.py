"""rnnviz in the browser: `streamlit run app.py` (what `./dev.sh app` does). The page is
rnnviz/app/page.py; beside it, the classroom's join links (rnnviz/classroom/routes.py)."""

from streamlit.starlette import App

from rnnviz.classroom.routes import classroom_routes

if __name__ == "__main__":  # run as a page script itself (Streamlit's AppTest in the tests)
    from rnnviz.app.page import main

    main()
else:  # imported by `streamlit run app.py`, which serves `app` and runs the page per session
    app = App("rnnviz/app/page.py", routes=classroom_routes())
