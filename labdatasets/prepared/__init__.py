"""Prepared versions: their folder, reading them, the shared cache, verify, diff and export."""
