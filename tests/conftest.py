"""Shared fixtures. Service fixtures live in tests/support and are re-exported here."""
