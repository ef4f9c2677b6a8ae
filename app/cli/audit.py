"""`swarmdeck audit verify` and `audit head`: is the event log (the audit trail) what was written?"""

from __future__ import annotations

import click
from swarmdeck.store.audit import AuditHead, AuditResult, parse_head

from ._base import EXIT_ERROR, Config, Exit, Store, leaf


@click.group("audit")
def audit_group() -> None:
    """Verify the audit trail (the hash-chained event log)."""


class Head(click.ParamType):
    """ID:HASH, as `swarmdeck audit head` prints it."""

    name = "ID:HASH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_head(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@leaf(audit_group, "verify", lambda r: r.message)
@click.option("--head", type=Head(), metavar="ID:HASH",
              help="A head recorded earlier (`audit head`): it must still be there, with that hash. "
                   "Catches a cut at the end, and a rewrite of everything after some event, which the "
                   "chain alone cannot.")
async def verify(store: Store, cfg: Config, head: tuple[int, str] | None) -> Exit:
    """Walk the event log's hash chain: exit 0 if it is intact, 1 (naming the first bad event) if not."""
    result: AuditResult = await store.verify_events(head=head)
    return Exit(0 if result.ok else EXIT_ERROR, result)


@leaf(audit_group, "head", lambda h: h.text)
async def head(store: Store, cfg: Config) -> AuditHead:
    """Print the newest event's ID:HASH, to record where agents cannot write (see `audit verify --head`)."""
    return await store.audit_head()
