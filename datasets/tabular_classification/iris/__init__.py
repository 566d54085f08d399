"""Iris flower measurements (see iris_dataset_builder.py)."""
