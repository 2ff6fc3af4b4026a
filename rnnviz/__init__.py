"""rnnviz: see inside recurrent neural networks."""
