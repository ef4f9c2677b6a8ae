"""Every key binding of the dashboard, by id: what a keymap (``$SWARMDECK_KEYMAP``, ``App.set_keymap``)
rebinds.

Ids are ``scope.name``: ``app.*`` for the keys that work everywhere, ``milestones.*``, ``queue.*``,
``agents.*``, ``memory.*`` and ``charts.*`` for each screen's, and ``modal.cancel`` / ``modal.confirm`` /
``modal.close`` shared by every dialog (rebinding one rebinds it in all of them). The value of a
keymap entry is Textual's key list, e.g. ``{"queue.enqueue": "a", "app.quit": "q,ctrl+d"}``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping

from textual.binding import Binding
from textual.screen import Screen

from . import modals


def binding_scopes() -> Iterator[tuple[type, list[Binding]]]:
    """(class, its own bindings) for the app, each of its screens and every modal."""
    from .tui import SwarmdeckApp

    yield SwarmdeckApp, own_bindings(SwarmdeckApp)
    for screen in SwarmdeckApp.MODES.values():
        yield screen, own_bindings(screen)
    for info in pkgutil.iter_modules(modals.__path__):
        module = importlib.import_module(f"{modals.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Screen) and value.__module__ == module.__name__:
                yield value, own_bindings(value)


def own_bindings(cls: type) -> list[Binding]:
    return [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]


def binding_ids() -> set[str]:
    return {b.id for _, bindings in binding_scopes() for b in bindings if b.id}


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """The ids of a keymap that name no binding (a typo would otherwise rebind nothing, silently)."""
    known = binding_ids()
    return sorted(i for i in keymap if i not in known)


def keys_of(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys a binding answers to under ``keymap``."""
    return keymap.get(binding.id, binding.key) if binding.id else binding.key
