"""Memory on SQLite: sessions, versioned memory entries, learning records and documents. The rules and the
statements are both backends' (store/memory.py); this store builds ``Memory`` over its database and its
search index (search_index.py), whose SQL is SQLite's as written."""

from __future__ import annotations

from ..memory import Memory

__all__ = ["Memory"]
