"""Specimen photos: the full multi-source example (see specimen_photos_dataset_builder.py)."""
