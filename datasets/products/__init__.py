"""Datasets owned by product teams, one folder per product."""
