"""Product A field observations (see product_a_dataset_builder.py)."""
