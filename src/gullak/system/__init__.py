"""Process-level endpoints and jobs: health, readiness, metrics, queue housekeeping."""
