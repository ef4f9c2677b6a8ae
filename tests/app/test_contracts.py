"""The layering contracts in pyproject's import-linter section hold, and they have teeth."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]

CLI = "the CLI never imports Textual: the dashboard commands import the App inside the function"
MCP = "the MCP server never imports Textual"
WIDGETS = "widgets never import the store: only its data types (models, chart series, text, the change feed's kinds)"
STORE = "the store never imports the UI"


def lint(config: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on ``config`` (pyproject's section, possibly changed), from the repository root."""
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in config.items() if k != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in contract.items()]
    path = tmp_path / "importlinter.toml"
    path.write_text("\n".join(lines) + "\n")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_contract_is_kept(tmp_path) -> None:
    names = [c["name"] for c in CONFIG["contracts"]]
    assert {CLI, MCP, WIDGETS, STORE} <= set(names)
    assert CONFIG["exclude_type_checking_imports"] is True
    proc = lint(CONFIG, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(names)} kept, 0 broken." in proc.stdout


def test_the_cli_contract_sees_the_dashboards_lazy_import(tmp_path) -> None:
    """Without its one exception the CLI's contract breaks on app/cli/ui.py's import of the App: the
    rule reads imports inside functions too, so any other Textual import in the CLI would break it."""
    contract = next(c for c in CONFIG["contracts"] if c["name"] == CLI)
    assert contract["ignore_imports"] == ["swarmdeck.app.cli.ui -> swarmdeck.app.tui"]
    strict = {**CONFIG, "contracts": [{k: v for k, v in contract.items() if k != "ignore_imports"}]}
    proc = lint(strict, tmp_path)
    assert proc.returncode == 1 and "BROKEN" in proc.stdout
    assert "swarmdeck.app.cli.ui -> swarmdeck.app.tui" in proc.stdout


def test_the_widgets_contract_refuses_the_store_itself(tmp_path) -> None:
    contract = next(c for c in CONFIG["contracts"] if c["name"] == WIDGETS)
    assert "swarmdeck.store" in contract["forbidden_modules"]  # the whole store, not only its SQLite half
    # Only the data modules are allowed, and no widget reaches the store through one of them.
    allowed = {i.split(" -> ")[1] for i in contract["ignore_imports"]}
    assert allowed == {"swarmdeck.store.models", "swarmdeck.store.charts", "swarmdeck.store.text",
                       "swarmdeck.store.events", "swarmdeck.store.payloads"}


def test_the_cli_and_the_mcp_server_load_no_textual() -> None:
    """What the contracts cannot see: the dashboard's import is inside the function, not at the top."""
    code = (
        "import json, sys, pkgutil, importlib, swarmdeck.app.cli as cli, swarmdeck.app.mcp as mcp\n"
        "for pkg in (cli, mcp):\n"
        "    for info in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'{pkg.__name__}.{info.name}')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual' "
        "or m.startswith(('swarmdeck.app.tui', 'swarmdeck.app.screens', 'swarmdeck.widgets')))))\n"
        "print('swarmdeck.app.cli.ui' in sys.modules, 'swarmdeck.app.mcp.tasks' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded, sanity = proc.stdout.splitlines()
    assert json.loads(loaded) == []
    assert sanity == "True True"
