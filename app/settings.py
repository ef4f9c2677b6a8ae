"""What swarmdeck reads from the environment: one settings object (pydantic-settings, prefix ``SWARMDECK_``).

The CLI builds it once, on the first command that needs more than ``--db``/``--actor`` (``Config.settings``
in app/cli/_base.py), and passes it down: to the store it opens (the vector index), to the dashboard (the
reviewer, the embedder, the keymap, the key folder), to the MCP server (the embedder, the vector index),
to the memory commands (the embedder, the vector index) and to a person's acts at the terminal (the
reviewer, the key folder). A command-line option beats its variable; an unset or empty variable means
the default. Nothing under app/ reads the environment but this module and click's two options below.

Importing pydantic-settings costs 30-100 ms, more than `swarmdeck task claim` should pay in an agent's
loop: so ``--db`` ($SWARMDECK_DB) and ``--actor`` ($SWARMDECK_ACTOR) are read by click itself and the
commands agents call in loops never build this object. Nothing here is imported at the CLI's start.

The store takes each of these values as a parameter. When it is not given one (the Python API, and the
CLI commands that use no vectors and so build no settings, task claim among them) it falls back to the same variables itself: see the
store package's docstring (store/__init__.py), the one place that lists them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, NonNegativeInt, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from swarmdeck.store import signing
from swarmdeck.store.errors import InvalidArgument

if TYPE_CHECKING:
    from swarmdeck.store.embed import HashEmbedder, LocalEmbedder, OllamaEmbedder

PREFIX = "SWARMDECK_"


class Settings(BaseSettings):
    """Every ``SWARMDECK_*`` variable, typed. Build it with ``load_settings`` (errors worded for a person)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    db: str | None = Field(None, description="The swarm database: a SQLite file's path or a postgresql:// URL "
                                             "(else the nearest .swarmdeck/swarm.db).")
    actor: str | None = Field(None, description="Who is acting, for writes that name no agent.")
    reviewer: str | None = Field(None, description="The dashboard's reviewer (else the OS user).")
    keys: Path | None = Field(None, description="Where reviewers' signing keys live (else the config folder).")
    #: $XDG_CONFIG_HOME (no prefix): the config folder the default key folder is in (else ~/.config).
    config_home: Path | None = Field(None, validation_alias="XDG_CONFIG_HOME",
                                     description="The config folder: its swarmdeck/keys is the default key folder.")
    embedder: str | None = Field(None, description="local (default), ollama[:MODEL][@URL] or hash[:DIM].")
    vector_backend: str | None = Field(None, description="sqlite-vec (default) or sqlite-vss.")
    vector_cache_mb: NonNegativeInt | None = Field(
        None, description="Memory for the in-memory vector fast path, per model; 0 turns it off.")
    debug: bool = Field(False, description="Show the traceback of an unexpected error.")
    keymap: dict[str, str] = Field(
        default_factory=dict, description='The dashboard\'s keys rebound by id, as JSON: {"queue.enqueue": "a"}.')

    @field_validator("db", "actor", "reviewer", "keys", "config_home", "embedder", "vector_backend",
                     "vector_cache_mb", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("debug", mode="before")
    @classmethod
    def _any_word_but_no(cls, value: Any) -> Any:
        """SWARMDECK_DEBUG=1 (or any word but 0/false/no/off) turns it on, as it always did."""
        if isinstance(value, str):
            return value.strip().lower() not in ("", "0", "false", "no", "off")
        return value

    def store_options(self) -> dict[str, Any]:
        """What ``open_store`` takes from here."""
        return {"vector_backend": self.vector_backend, "vector_cache_mb": self.vector_cache_mb}

    @property
    def key_folder(self) -> Path:
        """Where this seat's reviewers' signing keys live: $SWARMDECK_KEYS, else the config folder's."""
        return self.keys or signing.default_key_dir(self.config_home)

    def make_embedder(self, option: str | None = None) -> LocalEmbedder | OllamaEmbedder | HashEmbedder:
        """The embedder ``--embedder`` names, else $SWARMDECK_EMBEDDER, else the bundled local model.
        Nothing is loaded or contacted yet; a spec that names none is an ``InvalidArgument`` saying
        where it came from."""
        from swarmdeck.store.embed import ENV_VAR, embedder_from_config  # httpx: only when embedding

        if option is not None:
            return embedder_from_config(option)
        return embedder_from_config(self.embedder or "local", source=ENV_VAR)


def load_settings(**given: Any) -> Settings:
    """The environment's settings, with ``given`` values (not None) taking precedence: what the command
    line said. A malformed variable is an ``InvalidArgument`` naming it."""
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise InvalidArgument("; ".join(_problem(error) for error in exc.errors())) from None
    except SettingsError as exc:  # a value that should be JSON (the keymap) and is not
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"${PREFIX}{field.group(1).upper()}" if field else f"a ${PREFIX}* variable"
        raise InvalidArgument(f"{name}: not valid JSON ({exc.__cause__ or exc})") from None


def _problem(error: Any) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    value = error.get("input")
    shown = f", not {value!r}" if isinstance(value, str) else ""
    return f"${PREFIX}{field.upper()}: {error['msg'][:1].lower()}{error['msg'][1:]}{shown}"


#: The variables that say which terminal this is, for desktop notifications (app/notify.py): not
#: swarmdeck's settings, but read here too, the one place under app/ that reads the environment.
TERMINAL_VARIABLES = ("TERM", "TERM_PROGRAM", "TMUX", "VTE_VERSION", "KITTY_WINDOW_ID")


def terminal_env() -> dict[str, str]:
    import os

    return {name: os.environ[name] for name in TERMINAL_VARIABLES if name in os.environ}


def textual_driver() -> str | None:
    """$TEXTUAL_DRIVER: the driver Textual runs an app with instead of the terminal's (textual-serve sets
    it for each browser tab's process); set at all, Textual takes it, so it is given as set."""
    import os

    return os.environ.get("TEXTUAL_DRIVER")
