"""What users see: notebook displays, summaries, progress bars and redaction of secrets."""
