"""Handwritten digits, ImageFolder layout (see digits_dataset_builder.py)."""
