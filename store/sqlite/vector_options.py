"""Which vector index a store uses, checked when it opens: a store builds its index only once memory or
search is used (store/sqlite/__init__.py), but a wrong option is an error at open, not at the first search.
Nothing here imports the index's modules (vectors.py, matrix.py, vss.py) or numpy."""

from __future__ import annotations

import os
import re

from ..errors import InvalidArgument

#: Environment variables read when open_store is not told (the Python API's fallback, listed in
#: store/__init__.py; swarmdeck's faces pass the settings' values): the backend, the fast path's budget.
ENV_BACKEND = "SWARMDECK_VECTOR_BACKEND"
ENV_CACHE_MB = "SWARMDECK_VECTOR_CACHE_MB"
BACKENDS = ("sqlite-vec", "sqlite-vss")
#: Per model and process; 0 switches the in-memory matrix off. 1 GiB holds ~700k 384-d vectors.
DEFAULT_CACHE_MB = 1024


def choose(backend: str | None, cache_mb: int | None) -> tuple[str, int]:
    """The backend (``backend``, or $SWARMDECK_VECTOR_BACKEND, else sqlite-vec) and the fast path's
    budget in MiB (``cache_mb``, or $SWARMDECK_VECTOR_CACHE_MB, else 1024); InvalidArgument if either
    is not one."""
    name = (backend or os.environ.get(ENV_BACKEND) or "sqlite-vec").strip().lower()
    if name not in BACKENDS:
        raise InvalidArgument(f"vector backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if cache_mb is None:
        raw = os.environ.get(ENV_CACHE_MB, "").strip()
        if raw and not re.fullmatch(r"\d+", raw):
            raise InvalidArgument(f"{ENV_CACHE_MB} must be a whole number of megabytes, not {raw!r}")
        cache_mb = int(raw) if raw else DEFAULT_CACHE_MB
    if cache_mb < 0:
        raise InvalidArgument("vector_cache_mb must be 0 (off) or a positive number of megabytes")
    return name, cache_mb
