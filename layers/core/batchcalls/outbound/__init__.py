"""Adapters that send requests to the outside world (users' webhook endpoints)."""
