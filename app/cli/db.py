"""`swarmdeck db migrate`: copy a SQLite swarm into a PostgreSQL database, then validate the copy."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._base import EXIT_ERROR, EXIT_NOT_FOUND, Config, fail, refuse

#: Rows per batch unless --batch says otherwise (store/postgres/copy.py's BATCH, without importing it).
DEFAULT_BATCH = 1_000


@click.group("db")
def db_group() -> None:
    """Move a swarm's database: from SQLite to PostgreSQL."""


class _Bars:
    """One progress bar per table on stderr (only on a terminal), as ``copy_database`` reports."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.bar: Any = None
        self.at = 0

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self.table:
            self.close()
            self.table, self.at = table, 0
            if not total:
                return  # an empty table: no bar (the report lists it)
            self.bar = click.progressbar(length=total, label=f"{table:<24}", file=sys.stderr,
                                         show_pos=True, width=30)
            self.bar.__enter__()
        if self.bar is None:
            return
        if total > self.bar.length:  # the source grew while it was copied
            self.bar.length = total
        self.bar.update(max(done - self.at, 0))
        self.at = done

    def stage(self, what: str) -> None:
        self.close()
        click.echo(what, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@db_group.command("migrate")
@click.option("--from", "source", metavar="PATH_OR_SQLITE_URL",
              help="The SQLite swarm to copy: a path or sqlite:///path, opened read-only (default: --db).")
@click.option("--to", "target", required=True, metavar="postgresql://...",
              help="The PostgreSQL database to copy into: empty, or a copy that was interrupted.")
@click.option("--force", is_flag=True,
              help="Copy into a database that already holds swarmdeck data (rows already there are "
                   "kept), or from a SQLite file whose event log does not verify.")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=DEFAULT_BATCH, show_default=True,
              help="Rows per transaction on the target.")
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as JSON.")
@click.pass_context
def migrate_command(ctx: click.Context, source: str | None, target: str, force: bool, batch: int,
                    as_json: bool) -> None:
    """Copy a SQLite swarm into PostgreSQL, table by table, then validate: row counts and a checksum
    of every table on both sides, naming any difference. An interrupted copy continues where it
    stopped when run again. Exit 0 when every table matches, 1 when one differs or the copy is refused."""
    cfg: Config = ctx.find_object(Config)
    cfg.json = cfg.json or as_json
    sys.exit(_migrate(cfg, source or str(cfg.db), target, force=force, batch=batch))


def _migrate(cfg: Config, source: str, target: str, *, force: bool, batch: int) -> int:
    from swarmdeck.store.errors import StoreError

    if not target.startswith(("postgresql://", "postgres://")):
        return fail(cfg, EXIT_ERROR, "invalid_argument",
                    "--to must be a PostgreSQL URL: postgresql://user@host/database")
    try:
        import psycopg
    except ImportError:
        return fail(cfg, EXIT_ERROR, "unavailable",
                    "copying to PostgreSQL needs psycopg: pip install 'swarmdeck[postgres]'")
    from swarmdeck.store.postgres.copy import CopyFailed, CopyRefused, copy_database

    bars = _Bars() if sys.stderr.isatty() else None
    try:
        report = copy_database(source, target, force=force, batch=batch, progress=bars,
                               stage=None if bars is None else bars.stage)
    except CopyRefused as exc:
        return fail(cfg, EXIT_ERROR, "refused", str(exc))
    except CopyFailed as exc:
        return fail(cfg, EXIT_ERROR, "copy_failed", f"{exc} (what was copied is kept: run the same "
                    "command again to continue from there)")
    except KeyboardInterrupt:
        return fail(cfg, 130, "interrupted", "interrupted: run the same command again to continue "
                    "where the copy stopped")
    except FileNotFoundError as exc:
        return fail(cfg, EXIT_NOT_FOUND, "not_found", f"no SQLite swarm to copy: {exc}")
    except StoreError as exc:
        return refuse(cfg, exc)
    except psycopg.OperationalError as exc:
        return fail(cfg, EXIT_ERROR, "unavailable", f"cannot reach the PostgreSQL database: {exc}")
    except psycopg.Error as exc:
        return fail(cfg, EXIT_ERROR, "refused", f"PostgreSQL refused: {exc}")
    finally:
        if bars is not None:
            bars.close()
    if cfg.json:
        import json

        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
    else:
        click.echo("\n".join(report.lines()))
    return 0 if report.ok else EXIT_ERROR
