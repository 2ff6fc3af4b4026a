"""The class takes part: phones send sentences to the lecturer's model through a join link.

rules.py (codes, limits, messages), reading.py (a sentence as the room's model reads it), store.py
(rooms and sentences in SQLite), phone.py (the phone's plain HTML page), routes.py (the Starlette
routes app.py mounts beside Streamlit). The lecturer's side is rnnviz/app/views/classroom.py.
"""
