"""API keys and rate limiting."""
