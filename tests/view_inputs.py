"""What the page hands a view (`ViewInputs`), built without the page: throwaway AppTest pages draw
one view by calling its `render` with it."""

from __future__ import annotations

import rnnviz
from rnnviz.analysis.inspection import NotatedRun, inspect_text
from rnnviz.app.state import ViewInputs, ViewState


def view_inputs(loaded, text: str, **choices) -> ViewInputs:
    """`text` read by `loaded`, with the page's choices (ViewState fields: `model` its name) as given
    or their defaults."""
    state = ViewState(text=text, **choices)
    run = inspect_text(loaded, text)
    return ViewInputs(
        state=state,
        model=loaded,
        run=NotatedRun(run, state.notation),
        recorded=run,
        other_text=lambda other: NotatedRun(inspect_text(loaded, other), state.notation),
        load_model=rnnviz.load,
    )
