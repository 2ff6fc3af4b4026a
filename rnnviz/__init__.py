"""rnnviz: see inside recurrent neural networks, timestep by timestep."""

from rnnviz.capture import capture
from rnnviz.trace import QUANTITIES, RecordedCall, Trace

__all__ = ["capture", "Trace", "RecordedCall", "QUANTITIES"]
