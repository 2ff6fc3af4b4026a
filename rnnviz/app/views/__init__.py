"""Every view of the page, declared once: the list below is what the tabs show, what a link's
`view=` may name, and what the tests render for every bundled model (Streamlit's `st.Page` list
given to `st.navigation` is the model).

To add a view: write rnnviz/app/views/<name>.py with `render(inputs: ViewInputs)` (see
rnnviz.app.state.ViewInputs for what it is given), and add one line to VIEWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

from rnnviz.models.architectures import LoadedModel


@dataclass(frozen=True)
class Requirement:
    """What a view needs of the model, and what the page says instead of the view where it is missing."""

    met_by: Callable[[object], bool]
    notice: str


BUNDLED_FORMAT = Requirement(  # gradients, edits and corpus analyses read its embedding and head
    lambda model: isinstance(model, LoadedModel),
    "This view needs a model in the bundled format (embedding → rnn → head, see README).",
)


@dataclass(frozen=True)
class View:
    """One view: its name in the link, its tab's title, what it needs of the model, and its file."""

    name: str  # the link's `view=`
    title: str  # its tab: short, for one row of tabs beside the sidebar at a projector's 1280 px
    needs: Requirement | None = None
    # The file that draws it, rnnviz/app/views/<module>.py, named like the view unless given. It is
    # imported when the view is drawn, so that state.py can read this list while views import state.
    module: str = ""
    reads_text: bool = True  # False: drawn before any sentence is typed (the lab, the class's room)
    # True: a presenter screen (present=1 in the link): one 1280×720 screen, the sidebar closed
    presents: bool = False

    def applies_to(self, model) -> bool:
        return self.needs is None or self.needs.met_by(model)

    def render(self, inputs) -> None:
        """Draw the view: its module's `render(inputs)`."""
        import_module(f"{__name__}.{self.module or self.name}").render(inputs)


VIEWS = (
    View("heatmaps", "Heatmaps", presents=True),
    View("inspector", "Inspector"),
    View("compare", "Compare", presents=True),
    View("trajectory", "Trajectory"),
    View("lecture", "Lecture", presents=True),
    View("whatif", "What if", needs=BUNDLED_FORMAT),
    View("memory", "Memory", needs=BUNDLED_FORMAT),
    View("gradients", "Gradients", needs=BUNDLED_FORMAT, presents=True),
    View("lab", "Lab", reads_text=False),
    View("corpus", "Corpus", needs=BUNDLED_FORMAT),
    View("export", "Export"),
    View(
        "class", "Class", module="classroom", reads_text=False
    ),  # `class` is a keyword, so its file is classroom.py
)
VIEWS_BY_NAME = {view.name: view for view in VIEWS}
DEFAULT_VIEW = VIEWS[0].name


def unmet_notice(view: View, model) -> str | None:
    """What the page shows instead of `view` where `model` lacks what it needs (None: it has it)."""
    if view.applies_to(model):
        return None
    shown = ", ".join(other.title for other in VIEWS if other.applies_to(model))
    return f"{view.needs.notice} This model shows: {shown}."
