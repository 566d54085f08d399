"""Regression tasks on tabular data (sensor readings, measurements)."""
