"""Exports: datasets written as CSV or Parquet by the CLI or a job, streamed, with a run log."""
