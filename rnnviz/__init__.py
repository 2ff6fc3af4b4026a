"""rnnviz: see inside recurrent neural networks."""

from .errors import ModelError, RnnvizError
from .models import LoadedModel, ModelConfig, load

__all__ = ["LoadedModel", "ModelConfig", "ModelError", "RnnvizError", "load"]
