"""rnnviz: see inside recurrent neural networks, timestep by timestep."""

from rnnviz.capture import capture
from rnnviz.custom import CustomModel
from rnnviz.edits import Edit
from rnnviz.errors import ModelError, RnnvizError
from rnnviz.models import LoadedModel, ModelConfig, load
from rnnviz.notebook import Shown, save_for_app, show
from rnnviz.trace import QUANTITIES, RecordedCall, Trace

__all__ = [
    "QUANTITIES",
    "CustomModel",
    "Edit",
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
]
