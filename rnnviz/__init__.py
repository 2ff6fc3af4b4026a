"""rnnviz: see inside recurrent neural networks, timestep by timestep."""

from rnnviz.core.capture import capture
from rnnviz.core.cell_loops import HookPoint, stack
from rnnviz.core.edits import Edit
from rnnviz.core.trace import QUANTITIES, RecordedCall, Trace
from rnnviz.errors import ModelError, RnnvizError
from rnnviz.models.architectures import LoadedModel, ModelConfig, load
from rnnviz.models.custom import CustomModel
from rnnviz.notebook import Shown, save_for_app, show

__all__ = [
    "QUANTITIES",
    "CustomModel",
    "Edit",
    "HookPoint",
    "LoadedModel",
    "ModelConfig",
    "ModelError",
    "RecordedCall",
    "RnnvizError",
    "Shown",
    "Trace",
    "capture",
    "load",
    "save_for_app",
    "show",
    "stack",
]
