"""`swarmdeck db`: a swarm's database on PostgreSQL. `db migrate` copies a SQLite swarm into it and
validates the copy; `db roles` makes the database itself enforce who may decide."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._base import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE, Config, fail, refuse

#: Rows per batch unless --batch says otherwise (store/postgres/copy.py's BATCH, without importing it).
DEFAULT_BATCH = 1_000


@click.group("db")
def db_group() -> None:
    """A swarm's database on PostgreSQL: copy a SQLite swarm into it, set its roles."""


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


def _postgres_url(cfg: Config) -> str | int:
    """--db as a PostgreSQL URL, or the exit code of a refusal."""
    if not isinstance(cfg.db, str):
        return fail(cfg, EXIT_USAGE, "usage", "db roles works on a PostgreSQL database: give it with "
                    "--db postgresql://owner@host/database (or $SWARMDECK_DB); a SQLite file has no roles")
    return cfg.db


@db_group.command("roles")
@click.option("--agent", "agents", multiple=True, metavar="LOGIN",
              help="Make this login role an agent (repeatable). It must exist: CREATE ROLE name LOGIN PASSWORD ...")
@click.option("--reviewer", "reviewers", multiple=True, metavar="LOGIN",
              help="Make this login role a reviewer (repeatable): it may also decide gates.")
@click.option("--agent-role", default=None, metavar="NAME", show_default="swarmdeck_agent",
              help="The agents' group role (roles are per server: name them per swarm to keep swarms apart).")
@click.option("--reviewer-role", default=None, metavar="NAME", show_default="swarmdeck_reviewer",
              help="The reviewers' group role.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
def roles_command(ctx: click.Context, agents: tuple[str, ...], reviewers: tuple[str, ...],
                  agent_role: str | None, reviewer_role: str | None, as_json: bool) -> None:
    """Let the database enforce the trust model: an agents' role that does an agent's work and cannot
    write a gate decision, close a condition, resume the swarm or change a reviewer, even with SQL of
    its own, and a reviewers' role that also may. Run it as the database's owner (it migrates the
    schema first); again after an upgrade, for new tables. Agents then connect as a login in the
    agents' role, reviewers' seats as a login in the reviewers' role."""
    cfg: Config = ctx.find_object(Config)
    cfg.json = cfg.json or as_json
    url = _postgres_url(cfg)
    if isinstance(url, int):
        sys.exit(url)
    if cfg.read_only:
        from swarmdeck.store.errors import PermissionDenied

        sys.exit(refuse(cfg, PermissionDenied("this swarmdeck seat is read-only; it cannot set roles")))
    sys.exit(_roles(cfg, url, agents=agents, reviewers=reviewers, agent_role=agent_role,
                    reviewer_role=reviewer_role))


def _roles(cfg: Config, url: str, *, agents: tuple[str, ...], reviewers: tuple[str, ...],
           agent_role: str | None, reviewer_role: str | None) -> int:
    try:
        import psycopg
    except ImportError:
        return fail(cfg, EXIT_ERROR, "unavailable", "PostgreSQL needs psycopg: pip install 'swarmdeck[postgres]'")
    from swarmdeck.store import describe
    from swarmdeck.store.errors import StoreError
    from swarmdeck.store.postgres import roles
    from swarmdeck.store.postgres.connection import connect
    from swarmdeck.store.postgres.migrate import migrate

    agent_role = agent_role or roles.AGENT
    reviewer_role = reviewer_role or roles.REVIEWER
    if agent_role == reviewer_role:
        return fail(cfg, EXIT_USAGE, "usage", "--agent-role and --reviewer-role must differ")
    both = sorted(set(agents) & set(reviewers))
    if both:
        return fail(cfg, EXIT_USAGE, "usage", f"{', '.join(both)} given as both an agent and a reviewer: a "
                    "login is one or the other (a reviewer's role already does an agent's work)")
    granted: list[dict[str, str]] = []
    try:
        with connect(url, application_name="swarmdeck-roles") as conn:
            migrated = migrate(conn)
            with conn.transaction():
                roles.apply_roles(conn, agent=agent_role, reviewer=reviewer_role)
                for group, logins in ((agent_role, agents), (reviewer_role, reviewers)):
                    for login in logins:
                        roles.grant_role(conn, login, group)
                        granted.append({"login": login, "role": group})
    except StoreError as exc:
        return refuse(cfg, exc)
    except ValueError as exc:  # a login that does not exist: nothing was changed
        return fail(cfg, EXIT_NOT_FOUND, "not_found", f"{exc}; nothing was changed")
    except psycopg.errors.InsufficientPrivilege as exc:
        return fail(cfg, EXIT_ERROR, "permission_denied", "PostgreSQL refused: "
                    f"{str(exc).strip().splitlines()[0]} (run it as the database's owner, with CREATEROLE)")
    except psycopg.OperationalError as exc:
        return fail(cfg, EXIT_ERROR, "unavailable", f"cannot reach {describe(url)}: {str(exc).strip()}")
    except psycopg.Error as exc:
        return fail(cfg, EXIT_ERROR, "refused", f"PostgreSQL refused: {str(exc).strip().splitlines()[0]}")
    result = {"db": describe(url), "migrated_to": migrated, "agent_role": agent_role,
              "reviewer_role": reviewer_role, "reviewer_writes": list(roles.REVIEWER_WRITES), "granted": granted}
    if cfg.json:
        import json

        click.echo(json.dumps(result, ensure_ascii=False))
        return 0
    lines = [f"roles set on {result['db']}" + (f" (schema migrated to {migrated[-1]})" if migrated else ""),
             f"  {agent_role:<22} an agent's work: tasks, agents, reports, memory, events; no decision",
             f"  {reviewer_role:<22} also: {', '.join(roles.REVIEWER_WRITES)}"]
    lines += [f"  {g['login']} is now in {g['role']}" for g in granted]
    if not granted:
        lines.append(f"next: CREATE ROLE bot LOGIN PASSWORD '...'; then swarmdeck --db {result['db']} db roles "
                     "--agent bot (and --reviewer for a person's login)")
    click.echo("\n".join(lines))
    return 0
