"""Reproduction benchmark for TG-HEM: data preparation, training-time data and later stages.

Stages are runnable modules (``python -m experiments.prepare --help``). Downstream code reads
prepared data only through :func:`experiments.datasets.load_split`.
"""
