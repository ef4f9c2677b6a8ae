"""One settings object (app/settings.py): what the environment says, typed, passed down by the CLI; the
dashboard's own options on `swarmdeck dashboard` (and still on the group); none of it on the commands
agents call in loops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from swarmdeck.app.cli import cli
from swarmdeck.app.settings import Settings, load_settings
from swarmdeck.app.tui import SwarmdeckApp
from swarmdeck.store.embed import HashEmbedder
from swarmdeck.store.errors import InvalidArgument

from support import run_dashboards_with

VARIABLES = ("DB", "ACTOR", "REVIEWER", "KEYS", "EMBEDDER", "VECTOR_BACKEND", "VECTOR_CACHE_MB", "DEBUG", "KEYMAP")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(f"SWARMDECK_{name}", raising=False)


def test_settings_read_every_variable_typed(monkeypatch, tmp_path) -> None:
    assert load_settings() == Settings(keymap={})
    values = {"DB": str(tmp_path / "s.db"), "ACTOR": "planner", "REVIEWER": "Alice", "KEYS": str(tmp_path / "k"),
              "EMBEDDER": "hash:64", "VECTOR_BACKEND": "sqlite-vss", "VECTOR_CACHE_MB": "0", "DEBUG": "1",
              "KEYMAP": '{"queue.enqueue": "a"}'}
    for name, value in values.items():
        monkeypatch.setenv(f"SWARMDECK_{name}", value)
    s = load_settings()
    assert s.db == str(tmp_path / "s.db") and s.keys == tmp_path / "k"
    assert (s.actor, s.reviewer, s.embedder) == ("planner", "Alice", "hash:64")
    assert s.store_options() == {"vector_backend": "sqlite-vss", "vector_cache_mb": 0}
    assert s.debug is True and s.keymap == {"queue.enqueue": "a"}
    # What the command line says beats the variable.
    assert load_settings(actor="me", reviewer=None).actor == "me"
    assert load_settings(reviewer=None).reviewer == "Alice"


def test_an_empty_variable_is_unset_and_debug_is_any_word_but_no(monkeypatch) -> None:
    for name in ("ACTOR", "REVIEWER", "EMBEDDER", "VECTOR_CACHE_MB", "DB"):
        monkeypatch.setenv(f"SWARMDECK_{name}", "  ")
    s = load_settings()
    assert (s.actor, s.reviewer, s.embedder, s.vector_cache_mb, s.db) == (None,) * 5
    for word, on in (("1", True), ("yes", True), ("verbose", True), ("0", False), ("false", False), ("", False)):
        monkeypatch.setenv("SWARMDECK_DEBUG", word)
        assert load_settings().debug is on, word


@pytest.mark.parametrize("name, value, said", [
    ("VECTOR_CACHE_MB", "lots", "$SWARMDECK_VECTOR_CACHE_MB: input should be a valid integer"),
    ("VECTOR_CACHE_MB", "-1", "$SWARMDECK_VECTOR_CACHE_MB: input should be greater than or equal to 0, not '-1'"),
    ("KEYMAP", "{queue.sort: o}", "$SWARMDECK_KEYMAP: not valid JSON"),
    ("KEYMAP", '["o"]', "$SWARMDECK_KEYMAP: input should be a valid dictionary"),
])
def test_a_malformed_variable_is_refused_naming_it(monkeypatch, name, value, said) -> None:
    monkeypatch.setenv(f"SWARMDECK_{name}", value)
    with pytest.raises(InvalidArgument) as refused:
        load_settings()
    assert said in str(refused.value)


# -- the dashboard command ---------------------------------------------------------------------------


@pytest.fixture
def opened(monkeypatch, tmp_path) -> tuple[Path, list[SwarmdeckApp]]:
    """A database, and the dashboards the CLI builds on it (their `run` only records them)."""
    db = tmp_path / "swarm.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init"]).exit_code == 0
    apps: list[SwarmdeckApp] = []

    def run(self: SwarmdeckApp, **_: Any) -> int:
        apps.append(self)
        return 0

    run_dashboards_with(monkeypatch, run)
    return db, apps


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(cli, list(args))


def test_the_dashboard_takes_its_options_on_its_own_command_and_still_on_the_group(opened) -> None:
    db, apps = opened
    for args in (["dashboard", "--interval", "2.5", "--reviewer", "Bob", "--embedder", "hash"],
                 ["--interval", "2.5", "--reviewer", "Bob", "--embedder", "hash"],
                 ["--interval", "2.5", "--reviewer", "Bob", "--embedder", "hash", "dashboard"],
                 ["--interval", "9", "--reviewer", "Carl", "dashboard", "--interval", "2.5", "--reviewer", "Bob",
                  "--embedder", "hash"]):
        result = invoke("--db", str(db), *args)
        assert result.exit_code == 0, (args, result.output)
        app = apps.pop()
        assert (app.interval, app.reviewer, app.db_title) == (2.5, "bob", str(db)), args
        assert isinstance(app.embedder, HashEmbedder)
    result = invoke("--db", str(db))
    assert result.exit_code == 0, result.output
    assert apps.pop().interval == 1.0
    # The group's help no longer lists them; the dashboard's does.
    assert "--interval" not in invoke("--help").output
    assert "--interval" in invoke("dashboard", "--help").output


def test_the_dashboard_is_given_what_the_environment_says(opened, tmp_path) -> None:
    db, apps = opened
    env = {"SWARMDECK_REVIEWER": "Carol", "SWARMDECK_EMBEDDER": "hash:32", "SWARMDECK_KEYS": str(tmp_path / "keys"),
           "SWARMDECK_KEYMAP": json.dumps({"queue.enqueue": "a"})}
    result = invoke("--db", str(db), "dashboard", env=env)
    assert result.exit_code == 0, result.output
    app = apps.pop()
    assert app.reviewer == "carol" and app.key_folder == tmp_path / "keys"
    assert isinstance(app.embedder, HashEmbedder) and app.embedder.dim == 32
    assert app.keymap == {"queue.enqueue": "a"}
    # The option beats the variable.
    assert invoke("--db", str(db), "dashboard", "--reviewer", "Dave", env=env).exit_code == 0
    assert apps.pop().reviewer == "dave"


def test_the_dashboard_refuses_a_malformed_variable_in_one_line(opened) -> None:
    db, apps = opened
    result = invoke("--db", str(db), "--json", "dashboard", env={"SWARMDECK_VECTOR_CACHE_MB": "lots"})
    assert result.exit_code == 1 and not apps
    error = json.loads(result.output.strip().splitlines()[-1])["error"]
    assert error["code"] == "invalid_argument" and "$SWARMDECK_VECTOR_CACHE_MB" in error["message"]
    result = invoke("--db", str(db), "--read-only", "--watch-status", "status.json")
    assert result.exit_code == 2 and "cannot run on a --read-only seat" in result.output and not apps


# -- what agents call in loops --------------------------------------------------------------------------

PROBE = r"""
import sys
from swarmdeck.app.cli import main
sys.argv = ["swarmdeck", *ARGS]
try:
    main()
except SystemExit as exc:
    loaded = [m for m in ("pydantic_settings", "textual") if m in sys.modules]
    print(exc.code, ",".join(loaded) or "-", file=sys.stderr)
"""


def test_task_claim_and_agent_heartbeat_never_build_the_settings(tmp_path) -> None:
    """pydantic-settings costs 30-100 ms to import: the commands agents call in loops do without it."""
    db = str(tmp_path / "swarm.db")
    for args in (["init"], ["agent", "register", "w1", "--type", "impl"]):
        assert invoke("--db", db, *args).exit_code == 0
    for args in (["task", "claim", "--agent", "w1"], ["agent", "heartbeat", "w1"]):
        probe = subprocess.run([sys.executable, "-c", PROBE.replace("ARGS", repr(["--db", db, *args]))],
                               capture_output=True, text=True, timeout=60)
        assert probe.stderr.strip().splitlines()[-1] == "0 -", (args, probe.stderr)


# -- what the app passes down, so that nothing under app/ reads the environment itself -------------------


def test_the_key_folder_is_keys_else_the_config_folders(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert load_settings().key_folder == Path.home() / ".config" / "swarmdeck" / "keys"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert load_settings().key_folder == tmp_path / "config" / "swarmdeck" / "keys"
    monkeypatch.setenv("SWARMDECK_KEYS", str(tmp_path / "k"))
    assert load_settings().key_folder == tmp_path / "k"


def test_the_embedder_is_the_options_else_the_variables_named_in_a_refusal(monkeypatch) -> None:
    from swarmdeck.store.embed import LocalEmbedder

    assert isinstance(load_settings().make_embedder(), LocalEmbedder)
    monkeypatch.setenv("SWARMDECK_EMBEDDER", "hash:16")
    assert load_settings().make_embedder().dim == 16
    assert load_settings().make_embedder("hash:8").dim == 8  # the option beats the variable
    monkeypatch.setenv("SWARMDECK_EMBEDDER", "olama")
    with pytest.raises(InvalidArgument, match="^SWARMDECK_EMBEDDER 'olama' is not an embedder"):
        load_settings().make_embedder()
    with pytest.raises(InvalidArgument, match="^embedder spec 'olama' is not an embedder"):
        load_settings().make_embedder("olama")


@pytest.fixture
def stores_opened(monkeypatch) -> list[dict[str, Any]]:
    """The options every store the CLI opens is given (the store itself is opened as usual)."""
    import swarmdeck.app.cli._base as base
    import swarmdeck.app.mcp as mcp_server

    seen: list[dict[str, Any]] = []
    real = base.open_store

    async def recording(url, **options):
        seen.append(options)
        return await real(url, **options)

    monkeypatch.setattr(base, "open_store", recording)
    monkeypatch.setattr(mcp_server, "open_store", recording)
    return seen


def test_the_memory_commands_and_the_mcp_server_open_the_store_with_the_settings_vector_options(
        opened, stores_opened, monkeypatch) -> None:
    db, _apps = opened
    env = {"SWARMDECK_VECTOR_BACKEND": "sqlite-vec", "SWARMDECK_VECTOR_CACHE_MB": "0", "SWARMDECK_EMBEDDER": "hash"}
    for args in (["memory", "search", "kestrel"], ["memory", "index"], ["memory", "status"]):
        result = invoke("--db", str(db), *args, env=env)
        assert result.exit_code == 0, (args, result.output)
        assert stores_opened.pop() == {"create": False, "read_only": False, "vector_backend": "sqlite-vec",
                                       "vector_cache_mb": 0}, args

    import swarmdeck.app.mcp as mcp_server

    async def stop(self) -> None:  # the server's stdio loop: return at once, as if the client closed
        return None

    monkeypatch.setattr(mcp_server.SwarmdeckMCP, "run_stdio_async", stop)
    result = invoke("--db", str(db), "mcp", "--no-index", env=env)
    assert result.exit_code == 0, result.output
    assert stores_opened.pop() == {"read_only": False, "vector_backend": "sqlite-vec", "vector_cache_mb": 0}


def test_nothing_under_app_reads_the_environment_but_the_settings() -> None:
    """Every SWARMDECK_* variable comes through app/settings.py, but the two click reads for the loop
    commands (--db, --actor: app/cli/__init__.py)."""
    import re

    import swarmdeck.app

    root = Path(swarmdeck.app.__file__).parent
    reads = re.compile(r"os\.environ|getenv|envvar=")
    found = sorted(f"{path.relative_to(root)}:{number}: {line.strip()}"
                   for path in root.rglob("*.py") if path.name != "settings.py"
                   for number, line in enumerate(path.read_text().splitlines(), 1) if reads.search(line))
    assert [line.split(": ", 1)[1] for line in found] == [
        '@click.option("--db", type=DATABASE, envvar=DB_ENV,',
        '@click.option("--actor", envvar="SWARMDECK_ACTOR", help="Who is acting (default: the agent, else the OS user).")',
    ], found
