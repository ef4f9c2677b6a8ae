"""The PostgreSQL store (in progress): its schema and migrations (``schema``, ``migrate``), the
sealing of the event log's hash chain after commit (``sealing``), and the copy of a SQLite swarm into
a PostgreSQL database with its validation (``copy``). Not wired into ``open_store`` yet."""
