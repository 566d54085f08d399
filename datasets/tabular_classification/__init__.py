"""Tabular classification datasets."""
