"""What is computed from a run: predictions, orderings, projections, gradients, the effect of
edits, retention and corpus statistics."""
