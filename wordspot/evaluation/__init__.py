"""Evaluation: spotting metrics, the evaluation of a model and its figures."""
