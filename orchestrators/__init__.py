"""Orchestrators: deterministic generators that decide with ``replication`` and act through activities."""
