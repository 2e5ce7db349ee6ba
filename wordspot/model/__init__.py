"""Models: the networks, the embedder that runs them, the NumPy string side, model files, scores."""
