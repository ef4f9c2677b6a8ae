"""The reviewer's passphrase, asked once per dashboard session: it unlocks their signing key, which then
signs every decision, resume and closure made at this seat until the dashboard closes."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from swarmdeck.store import signing
from swarmdeck.store.signing import Signer, SigningError
from swarmdeck.widgets.text import safe


class PassphraseModal(ModalScreen[Signer | None]):
    """Unlock ``reviewer``'s key; returns the unlocked key, or None if they step back. A wrong
    passphrase, or a key that is not the one registered for them, is said here and asked again."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel")]

    def __init__(self, reviewer: str, registered: bytes | None, folder: Path | None = None) -> None:
        super().__init__()
        self.reviewer = reviewer
        self.registered = registered
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="passphrase-dialog"):
            title = Text("Unlock the signing key of ")
            title.append_text(safe(self.reviewer, "bold"))
            yield Label(title, classes="dialog-title")
            where = Text("Every decision, resume and closure you make here is signed with it. Asked once: "
                         "the key stays unlocked until the dashboard closes. Key: ")
            where.append_text(safe(str(signing.key_path(self.reviewer, self.folder))))
            yield Static(where, classes="dim")
            yield Input(id="passphrase", password=True, placeholder="passphrase")
            yield Static("", id="passphrase-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Unlock", variant="primary", id="confirm")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#passphrase")
    def _unlock(self) -> None:
        field = self.query_one("#passphrase", Input)
        try:
            signer = signing.load_key(self.reviewer, field.value, folder=self.folder)
        except SigningError as exc:
            self.query_one("#passphrase-error", Static).update(safe(str(exc)))
            field.value = ""
            field.focus()
            return
        if self.registered is not None and signer.public_key != self.registered:
            self.query_one("#passphrase-error", Static).update(safe(
                f"this key ({signing.fingerprint(signer.public_key)}) is not the one registered for "
                f"{self.reviewer} ({signing.fingerprint(self.registered)})"))
            field.value = ""
            return
        self.dismiss(signer)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
