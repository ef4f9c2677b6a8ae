"""Reusable widgets: data in, messages out. They never call the store."""
