"""s2i data pipeline: one module per DVC stage plus shared helpers."""
