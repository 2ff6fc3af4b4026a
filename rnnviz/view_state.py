"""Every choice on the page as one small value, and its round trip through URL query parameters.

A shared link must reopen the exact view; a link with nonsense in it (unknown model, unit
99999, layer "x") must still open, on defaults, with a notice saying what was ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Mapping

from rnnviz.ordering import ORDERINGS

VIEWS = ("heatmaps", "inspector", "compare", "trajectory", "lecture", "gradients", "lab", "corpus", "export")
DIRECTIONS = ("forward", "backward")
ALIGNMENTS = ("end", "start")
MAX_QUERY_TEXT = 2000


@dataclass(frozen=True)
class ViewState:
    model: str = "sst2-lstm"
    text: str = "the movie was not good"
    text2: str = "the movie was good"
    view: str = "heatmaps"
    layer: int = 0
    direction: str = "forward"
    unit: int = 0
    step: int = 0
    order: str = "index"
    units_shown: int = 64
    quantity: str = "hidden"
    align: str = "end"
    present: int = 0  # 1: the lecture's presenter screen

    def to_query(self) -> dict[str, str]:
        """Only what differs from the defaults, so links stay short."""
        default = ViewState()
        return {k: str(int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()
                if v != getattr(default, k)}


@dataclass(frozen=True)
class ModelShape:
    """What bounds a view of one model: its layers, directions, units and quantities."""

    num_layers: int
    bidirectional: bool
    hidden_size: int
    quantities: tuple[str, ...]


def parse_query(params: Mapping[str, str], models: Mapping[str, ModelShape], default_model: str) -> tuple[ViewState, list[str]]:
    """A ViewState from query parameters; anything invalid falls back to its default, with a notice."""
    notices: list[str] = []
    values: dict[str, object] = {}
    types = {f.name: f.type for f in fields(ViewState)}
    for key, raw in params.items():
        if key not in types:
            notices.append(f"ignored unknown link parameter '{key}'")
            continue
        raw = str(raw)
        if types[key] == "int":
            try:
                values[key] = int(raw)
            except ValueError:
                notices.append(f"ignored {key}='{raw[:40]}': not a whole number")
        else:
            if len(raw) > MAX_QUERY_TEXT:
                notices.append(f"{key} from the link was cut to {MAX_QUERY_TEXT} characters")
                raw = raw[:MAX_QUERY_TEXT]
            values[key] = raw
    state = replace(ViewState(model=default_model), **values)
    return clamp(state, models, notices, default_model)


def clamp(state: ViewState, models: Mapping[str, ModelShape], notices: list[str] | None = None,
          default_model: str | None = None) -> tuple[ViewState, list[str]]:
    """Bring every field within what the chosen model and the page offer."""
    notices = [] if notices is None else notices
    default = ViewState()
    if state.model not in models:
        fallback = default_model if default_model in models else next(iter(models))
        notices.append(f"unknown model '{state.model[:60]}', showing {fallback}")
        state = replace(state, model=fallback)
    shape = models[state.model]
    checks = {
        "view": state.view in VIEWS,
        "direction": state.direction in DIRECTIONS[: 2 if shape.bidirectional else 1],
        "order": state.order in ORDERINGS,
        "align": state.align in ALIGNMENTS,
        "quantity": state.quantity in shape.quantities,
        "layer": 0 <= state.layer < shape.num_layers,
        "unit": 0 <= state.unit < shape.hidden_size,
        "units_shown": 1 <= state.units_shown <= 4096,
        "step": 0 <= state.step <= 100_000,
        "present": state.present in (0, 1),
    }
    for key, ok in checks.items():
        if not ok:
            notices.append(f"'{key}' = {str(getattr(state, key))[:40]} is not available here; using {getattr(default, key)}")
            state = replace(state, **{key: getattr(default, key)})
    return state, notices
