"""Training: the bundled recipes and the in-page lab."""
