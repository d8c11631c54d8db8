"""Entry points: HTTP API and activities. Thin shells over ``replication``."""
