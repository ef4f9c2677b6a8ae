"""What the dashboard remembers between runs (the theme, desktop notifications on or off): a small JSON file in the user's config folder.

The CLI hands the file's path to the app (``default_path``); an app given none (the Python API, the tests)
remembers nothing. A file that cannot be read or written never stops the dashboard: it says so and goes on.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

FILE_NAME = "dashboard.json"


class Preferences(BaseModel):
    """The file's content. Unknown keys (a newer swarmdeck's) are kept when it is written back."""

    model_config = ConfigDict(extra="allow", frozen=True)

    theme: str | None = None
    #: Ask the terminal for a desktop notification (OSC 9/777/99) when something new needs a person.
    desktop_notifications: bool | None = None


def default_path(config_home: Path | None = None) -> Path:
    """``config_home``/swarmdeck/dashboard.json (the settings' $XDG_CONFIG_HOME), else the platform's user
    config folder for swarmdeck (platformdirs: ~/.config/swarmdeck on Linux)."""
    folder = Path(config_home) / "swarmdeck" if config_home else platformdirs.user_config_path("swarmdeck")
    return folder / FILE_NAME


def load(path: Path) -> tuple[Preferences, str | None]:
    """The preferences in ``path`` (none yet: the defaults), and what was wrong with the file, if anything."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Preferences(), None
    except OSError as exc:
        return Preferences(), f"cannot read {path}: {exc.strerror or exc}"
    try:
        return Preferences.model_validate(json.loads(text)), None
    except (ValueError, ValidationError) as exc:
        return Preferences(), f"{path} is not valid preferences ({str(exc).splitlines()[0]}): using the defaults"


def save(path: Path, preferences: Preferences) -> None:
    """Write ``preferences`` whole (a temporary file renamed over the old one: never half a file).
    Raises OSError if the folder cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".dashboard-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(preferences.model_dump(exclude_none=True), out, indent=2)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
