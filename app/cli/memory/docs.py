"""`swarmdeck document index`: documents indexed in chunks for search."""

from __future__ import annotations

import sys

import click

from swarmdeck.store.errors import InvalidArgument
from swarmdeck.store.limits import MAX_DOCUMENT, too_long
from swarmdeck.store.models import Document

from ...output import plain
from .._base import Config, Store, leaf
from ._common import DEFAULT_NAMESPACE, document_group

@leaf(document_group, "index", lambda d: f"indexed {plain(d.path)} in {plain(d.namespace)}: {d.chunk_count} "
                                         f"chunk(s), sha256 {d.content_hash[:12]}")
@click.argument("path")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True)
@click.option("--as", "file_path", help="The name to index it under (default: PATH; required with '-').")
async def index_document(store: Store, cfg: Config, path: str, namespace: str,
                         file_path: str | None) -> Document:
    """Index a UTF-8 text file ('-' for stdin) for search; unchanged content is left as it is."""
    if path == "-":
        if not file_path:
            raise InvalidArgument("reading a document from stdin needs --as NAME to index it under")
        content = sys.stdin.read(MAX_DOCUMENT + 1)
        if len(content) > MAX_DOCUMENT:
            raise too_long("content", MAX_DOCUMENT, MAX_DOCUMENT, more=True)
    else:
        try:
            with open(path, "rb") as f:  # UTF-8 takes at most 4 bytes a character: read no more than that
                data = f.read(4 * MAX_DOCUMENT + 1)
            if len(data) > 4 * MAX_DOCUMENT:
                raise too_long("content", MAX_DOCUMENT, MAX_DOCUMENT, more=True)
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"{path} is not UTF-8 text") from None
        except OSError as exc:
            raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from None
    return await store.index_document(namespace, file_path or path, content, actor=cfg.who())
