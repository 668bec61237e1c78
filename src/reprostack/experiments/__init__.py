"""Experiments: which run did best, and why.

Params from the recorded configs and ``key=value`` arguments, metrics the run wrote (JSON lines,
``metrics.json``, TensorBoard events), tables, comparisons, plots and the MLflow tracker.
This package's ``__init__`` imports nothing: ``from reprostack import log_metrics`` must stay
cheap inside a training script.
"""
