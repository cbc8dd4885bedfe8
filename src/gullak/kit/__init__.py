"""Small shared pieces: errors, ids, clock, logging, HTTP middleware."""
