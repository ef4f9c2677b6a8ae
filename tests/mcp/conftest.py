"""Fixtures for the MCP server and status bridge tests: `db` (tests/conftest.py), an empty swarm database."""
