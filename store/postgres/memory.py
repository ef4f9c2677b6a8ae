"""Memory on PostgreSQL: sessions, versioned memory entries, learning records and documents. The rules and
the statements are both backends' (store/memory.py); this store builds ``Memory`` over its database and its
search index (search_index.py), whose SQL (``PgSql``) is PostgreSQL's."""

from __future__ import annotations

from ..memory import Memory

__all__ = ["Memory"]
