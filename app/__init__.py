"""The swarmdeck application: CLI, TUI, MCP server and the demo swarm."""
