"""Leave-one-source-out validation: train a fold per held-out source, score it as a new hospital."""
