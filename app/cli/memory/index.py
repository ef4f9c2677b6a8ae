"""`swarmdeck memory index|status`: embed what is not embedded yet; the index's health."""

from __future__ import annotations

import time

import click

from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.models import IndexStatus

from ...output import plain
from .._base import Config, Store, leaf
from ._common import memory_group, one_line

def render_index_run(r: dict) -> str:
    if not r["embedded"]:
        return f"nothing to embed with {r['model']}: {r['pending']} pending, {r['failed']} failed"
    rate = f"{r['texts_per_second']:.0f} texts/s" if r["texts_per_second"] else "-"
    return (f"embedded {r['embedded']} item(s) with {r['model']} (dim {r['dim']}) in {r['seconds']:.2f} s "
            f"({rate}); {r['pending']} pending, {r['failed']} failed")


@leaf(memory_group, "index", render_index_run, settings=True)
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
@click.option("--batch", type=click.IntRange(1, 4096), default=32, show_default=True, help="Texts per batch.")
async def index(store: Store, cfg: Config, embedder_spec: str | None, batch: int) -> dict:
    """Embed everything not yet embedded (once, then exit); a failing embedder exits 1."""
    from swarmdeck.store.embed import EmbedderError
    from swarmdeck.store.indexer import Indexer

    embedder = cfg.settings.make_embedder(embedder_spec)
    # retry_after=0: someone running this by hand wants earlier failures retried now.
    indexer = Indexer(store, embedder, batch=batch, retry_after=0)
    started = time.perf_counter()
    try:
        total = await indexer.drain()
    except InvalidArgument:
        raise
    except (EmbedderError, OSError, ValueError) as exc:
        done = f"; {indexer.stats.embedded} item(s) were embedded before it" if indexer.stats.embedded else ""
        raise EmbedderError(f"embedding with {embedder.model} failed: {exc}{done}") from None
    finally:
        await embedder.aclose()
    seconds = time.perf_counter() - started
    status = await store.index_status(embedder.model)
    return {"model": embedder.model, "dim": embedder.dim or status.dim, "embedded": total,
            "seconds": round(seconds, 3),
            "texts_per_second": round(total / seconds, 1) if total and seconds else None,
            "pending": status.pending, "failed": status.failed}


def render_index_status(s: IndexStatus) -> str:
    dim = f" (dim {s.dim})" if s.dim else ""
    lines = [f"{s.entries} entries: {s.embedded} embedded, {s.pending} pending, {s.failed} failed  "
             f"model {plain(s.model or '-')}{dim}"]
    if s.last_error:
        lines.append(f"  last error: {one_line(s.last_error)}")
    return "\n".join(lines)


@leaf(memory_group, "status", render_index_status, settings=True)
@click.option("--embedder", "embedder_spec", help="local, ollama[:MODEL][@URL] or hash[:DIM] "
                                                  "(default: $SWARMDECK_EMBEDDER, else local).")
async def index_status(store: Store, cfg: Config, embedder_spec: str | None) -> IndexStatus:
    """Index health for the configured embedder: entries, embedded, pending, failed, last error."""
    return await store.index_status(cfg.settings.make_embedder(embedder_spec).model)
