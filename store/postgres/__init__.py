"""The PostgreSQL store (in progress): its schema and migrations (``schema``, ``migrate``) and the
sealing of the event log's hash chain after commit (``sealing``). Not wired into ``open_store`` yet."""
